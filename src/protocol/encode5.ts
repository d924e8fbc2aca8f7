import { Buffer } from 'node:buffer'
import { PacketType, ReasonCode } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'
import type {
  ConnackPacket,
  ConnectPacket,
  Packet,
  PublishPacket,
  SubscribePacket,
  UnsubscribePacket,
} from './packets.js'
import { type AnyProperties, propertiesSize, WILL_PROPERTIES, writeProperties } from './properties.js'
import { checkReasonCode } from './reason-codes.js'
import {
  alloc,
  checkPacketId,
  checkString,
  credentialFlags,
  credentialsSize,
  filtersSize,
  stringLength,
  varintSize,
  writeBinary,
  writeCredentials,
  writeFilters,
  writeString,
  writeU16,
  writeVarint,
} from './wire.js'

/**
 * MQTT 5 forms of every packet: the 3.1.1 layout plus a property block (length,
 * then properties) and reason codes. Sized first, written into one buffer.
 */

/** Bytes a property block of `size` bytes takes, its length field included. */
const block = (size: number): number => varintSize(size) + size

/** Writes a property block (length + properties) sized by propertiesSize(). */
function writeBlock(buf: Buffer, off: number, size: number, props: object | undefined): number {
  off = writeVarint(buf, off, size)
  return size === 0 ? off : writeProperties(buf, off, props)
}

export function encodePublish5(p: PublishPacket): Buffer {
  const topicLen = stringLength(p.topic, 'topic')
  const qos = p.qos
  if (qos > 0) checkPacketId(p.packetId)
  const props = p.properties
  const psize = props === undefined ? 0 : propertiesSize(props, PacketType.PUBLISH)
  // an empty topic name is only allowed with a Topic Alias (3.3.2.1)
  if (topicLen === 0 && props?.topicAlias === undefined) {
    throw protocolError(ErrorCode.MALFORMED_TOPIC, 'empty topic name without a Topic Alias', 'MQTT-4.7.3-1')
  }
  const remaining = 2 + topicLen + (qos > 0 ? 2 : 0) + block(psize) + p.payload.length
  const buf = alloc(0x30 | (p.dup && qos > 0 ? 0x08 : 0) | (qos << 1) | (p.retain ? 1 : 0), remaining)
  let off = writeVarint(buf, 1, remaining)
  off = writeString(buf, off, p.topic, topicLen)
  if (qos > 0) off = writeU16(buf, off, p.packetId)
  off = writeBlock(buf, off, psize, props)
  buf.set(p.payload, off)
  return buf
}

function encodeConnect5(p: ConnectPacket): Buffer {
  const idLen = stringLength(p.clientId, 'client id')
  const psize = propertiesSize(p.properties, PacketType.CONNECT)
  // 'MQTT', level, flags, keep alive
  let remaining = 6 + 1 + 1 + 2 + block(psize) + 2 + idLen
  let flags = p.clean ? 0x02 : 0
  const will = p.will
  let willTopicLen = 0
  let wsize = 0
  if (will) {
    willTopicLen = stringLength(will.topic, 'will topic')
    checkString(will.payload.length, 'will payload')
    wsize = propertiesSize(will.properties, WILL_PROPERTIES)
    remaining += block(wsize) + 2 + willTopicLen + 2 + will.payload.length
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0)
  }
  // MQTT 5 allows a password without a user name (3.1.2.9)
  remaining += credentialsSize(p)
  flags |= credentialFlags(p)
  const buf = alloc(0x10, remaining)
  let off = writeVarint(buf, 1, remaining)
  off = writeString(buf, off, 'MQTT', 4)
  buf[off++] = 5
  buf[off++] = flags
  off = writeU16(buf, off, p.keepalive)
  off = writeBlock(buf, off, psize, p.properties)
  off = writeString(buf, off, p.clientId, idLen)
  if (will) {
    off = writeBlock(buf, off, wsize, will.properties)
    off = writeString(buf, off, will.topic, willTopicLen)
    off = writeBinary(buf, off, will.payload)
  }
  writeCredentials(buf, off, p)
  return buf
}

function encodeConnack5(p: ConnackPacket): Buffer {
  checkReasonCode(PacketType.CONNACK, p.returnCode)
  if (p.returnCode >= ReasonCode.UNSPECIFIED_ERROR && p.sessionPresent) {
    throw protocolError(ErrorCode.INVALID_PACKET, 'a refusing CONNACK has Session Present 0', 'MQTT-3.2.2-6')
  }
  const psize = propertiesSize(p.properties, PacketType.CONNACK)
  const remaining = 2 + block(psize)
  const buf = alloc(0x20, remaining)
  let off = writeVarint(buf, 1, remaining)
  buf[off++] = p.sessionPresent ? 1 : 0
  buf[off++] = p.returnCode
  writeBlock(buf, off, psize, p.properties)
  return buf
}

/**
 * PUBACK, PUBREC, PUBREL, PUBCOMP: packet id, reason code, properties. The
 * reason code and property length are left out when they can be: code 0x00 and
 * no properties is the 3.1.1 form (remaining length 2), a code without
 * properties has remaining length 3 (3.4.2.1).
 */
function encodeAck5(
  first: number,
  type: number,
  packetId: number,
  code: number,
  props: object | undefined,
): Buffer {
  checkPacketId(packetId)
  checkReasonCode(type, code)
  const psize = propertiesSize(props, type)
  const remaining = psize > 0 ? 3 + block(psize) : code !== 0 ? 3 : 2
  const buf = alloc(first, remaining)
  let off = writeVarint(buf, 1, remaining)
  off = writeU16(buf, off, packetId)
  if (remaining > 2) buf[off++] = code
  if (psize > 0) writeBlock(buf, off, psize, props)
  return buf
}

/** SUBACK and UNSUBACK: packet id, properties, one reason code per topic filter. */
function encodeCodes5(
  first: number,
  type: number,
  packetId: number,
  codes: readonly number[],
  props: object | undefined,
): Buffer {
  checkPacketId(packetId)
  if (codes.length === 0) {
    throw protocolError(ErrorCode.INVALID_PACKET, `packet type ${type} needs a reason code per topic filter`)
  }
  for (const c of codes) checkReasonCode(type, c)
  const psize = propertiesSize(props, type)
  const remaining = 2 + block(psize) + codes.length
  const buf = alloc(first, remaining)
  let off = writeVarint(buf, 1, remaining)
  off = writeU16(buf, off, packetId)
  off = writeBlock(buf, off, psize, props)
  for (const c of codes) buf[off++] = c
  return buf
}

function encodeSubscribe5(p: SubscribePacket): Buffer {
  checkPacketId(p.packetId)
  const subs = p.subscriptions
  const lens = new Array<number>(subs.length)
  const psize = propertiesSize(p.properties, PacketType.SUBSCRIBE)
  let remaining = 2 + block(psize)
  if (subs.length === 0) {
    throw protocolError(ErrorCode.NO_TOPICS, 'SUBSCRIBE without any topic filter', 'MQTT-3.8.3-2')
  }
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!
    if (!(s.qos >= 0 && s.qos <= 2) || !((s.retainHandling ?? 0) >= 0 && (s.retainHandling ?? 0) <= 2)) {
      throw protocolError(
        ErrorCode.SUBSCRIBE_RESERVED,
        `subscription options of '${s.topic}' out of range (3.8.3.1)`,
      )
    }
    if (s.noLocal && s.topic.startsWith('$share/')) {
      throw protocolError(
        ErrorCode.NO_LOCAL_SHARED,
        `No Local on the shared subscription '${s.topic}'`,
        'MQTT-3.8.3-4',
      )
    }
    const len = stringLength(s.topic, 'topic filter')
    lens[i] = len
    remaining += 3 + len
  }
  const buf = alloc(0x82, remaining)
  let off = writeVarint(buf, 1, remaining)
  off = writeU16(buf, off, p.packetId)
  off = writeBlock(buf, off, psize, p.properties)
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!
    off = writeString(buf, off, s.topic, lens[i]!)
    // subscription options: QoS, No Local, Retain As Published, Retain Handling (3.8.3.1)
    buf[off++] =
      s.qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | ((s.retainHandling ?? 0) << 4)
  }
  return buf
}

function encodeUnsubscribe5(p: UnsubscribePacket): Buffer {
  checkPacketId(p.packetId)
  if (p.topics.length === 0) {
    throw protocolError(ErrorCode.NO_TOPICS, 'UNSUBSCRIBE without any topic filter', 'MQTT-3.10.3-2')
  }
  const lens = new Array<number>(p.topics.length)
  const psize = propertiesSize(p.properties, PacketType.UNSUBSCRIBE)
  const remaining = 2 + block(psize) + filtersSize(p.topics, lens)
  const buf = alloc(0xa2, remaining)
  let off = writeVarint(buf, 1, remaining)
  off = writeU16(buf, off, p.packetId)
  writeFilters(buf, writeBlock(buf, off, psize, p.properties), p.topics, lens)
  return buf
}

const DISCONNECT_NORMAL = Buffer.from([0xe0, 0])
const AUTH_SUCCESS = Buffer.from([0xf0, 0])
const PINGREQ = Buffer.from([0xc0, 0])
const PINGRESP = Buffer.from([0xd0, 0])

/**
 * DISCONNECT and AUTH: reason code and properties, both left out for 0x00 with no
 * properties (remaining length 0), the property length left out for a code
 * without properties (3.14.2.2.1, 3.15.2.2.1).
 */
function encodeReason5(first: number, type: number, code: number, props: AnyProperties | undefined): Buffer {
  checkReasonCode(type, code)
  const psize = propertiesSize(props, type)
  if (psize === 0 && code === 0) return type === PacketType.AUTH ? AUTH_SUCCESS : DISCONNECT_NORMAL
  // only the empty AUTH may leave out the Authentication Method (3.15.2.2.2)
  if (type === PacketType.AUTH && props?.authenticationMethod === undefined) {
    throw protocolError(
      ErrorCode.INVALID_PROPERTY_VALUE,
      'AUTH without an Authentication Method (3.15.2.2.2)',
    )
  }
  const remaining = psize > 0 ? 1 + block(psize) : 1
  const buf = alloc(first, remaining)
  let off = writeVarint(buf, 1, remaining)
  buf[off++] = code
  if (psize > 0) writeBlock(buf, off, psize, props)
  return buf
}

/**
 * Encodes one packet in its MQTT 5 form. PINGREQ, PINGRESP, and DISCONNECT and
 * AUTH in their short forms, return shared constant buffers: never write into a
 * returned buffer.
 */
export function encode5(packet: Packet): Buffer {
  switch (packet.type) {
    case PacketType.PUBLISH:
      return encodePublish5(packet)
    case PacketType.PUBACK:
      return encodeAck5(0x40, packet.type, packet.packetId, packet.reasonCode ?? 0, packet.properties)
    case PacketType.PUBREC:
      return encodeAck5(0x50, packet.type, packet.packetId, packet.reasonCode ?? 0, packet.properties)
    case PacketType.PUBREL:
      return encodeAck5(0x62, packet.type, packet.packetId, packet.reasonCode ?? 0, packet.properties)
    case PacketType.PUBCOMP:
      return encodeAck5(0x70, packet.type, packet.packetId, packet.reasonCode ?? 0, packet.properties)
    case PacketType.CONNECT:
      return encodeConnect5(packet)
    case PacketType.CONNACK:
      return encodeConnack5(packet)
    case PacketType.SUBSCRIBE:
      return encodeSubscribe5(packet)
    case PacketType.SUBACK:
      return encodeCodes5(0x90, packet.type, packet.packetId, packet.granted, packet.properties)
    case PacketType.UNSUBSCRIBE:
      return encodeUnsubscribe5(packet)
    case PacketType.UNSUBACK:
      return encodeCodes5(0xb0, packet.type, packet.packetId, packet.reasonCodes ?? [], packet.properties)
    case PacketType.PINGREQ:
      return PINGREQ
    case PacketType.PINGRESP:
      return PINGRESP
    case PacketType.DISCONNECT:
      return encodeReason5(0xe0, packet.type, packet.reasonCode ?? 0, packet.properties)
    case PacketType.AUTH:
      return encodeReason5(0xf0, packet.type, packet.reasonCode ?? 0, packet.properties)
  }
}
