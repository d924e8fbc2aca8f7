import { Buffer } from 'node:buffer'
import { PacketType, type ProtocolVersion } from './constants.js'
import { encode5, encodePublish5 } from './encode5.js'
import { ErrorCode, protocolError } from './errors.js'
import type {
  ConnackPacket,
  ConnectPacket,
  Packet,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubscribePacket,
} from './packets.js'
import { utf8Length } from './utf8.js'
import {
  alloc,
  checkPacketId,
  checkRemaining,
  checkString,
  credentialFlags,
  credentialsSize,
  filtersSize,
  varintSize,
  writeBinary,
  writeCredentials,
  writeFilters,
  writeString,
  writeU16,
  writeVarint,
} from './wire.js'

export { varintSize, writeVarint }

/**
 * Encoder: every packet is sized first, then written into one buffer allocated
 * once. No intermediate chunks, no concatenation. MQTT 5 forms: encode5.ts.
 */

/** A PUBLISH for a connection speaking `version` (default 3.1.1). */
export function encodePublish(p: PublishPacket, version: ProtocolVersion = 4): Buffer {
  if (version === 5) return encodePublish5(p)
  const topicLen = utf8Length(p.topic)
  checkString(topicLen, 'topic')
  const qos = p.qos
  if (qos > 0) checkPacketId(p.packetId)
  const remaining = 2 + topicLen + (qos > 0 ? 2 : 0) + p.payload.length
  checkRemaining(remaining)
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
  // DUP is never set on QoS 0 [MQTT-3.3.1-2] (e.g. a DUP QoS 1 message downgraded for a subscriber)
  buf[0] = 0x30 | (p.dup && qos > 0 ? 0x08 : 0) | (qos << 1) | (p.retain ? 1 : 0)
  let off = writeVarint(buf, 1, remaining)
  off = writeString(buf, off, p.topic, topicLen)
  if (qos > 0) off = writeU16(buf, off, p.packetId)
  buf.set(p.payload, off)
  return buf
}

function encodeConnect(p: ConnectPacket): Buffer {
  const nameLen = utf8Length(p.protocolName)
  const idLen = utf8Length(p.clientId)
  checkString(idLen, 'client id')
  let remaining = 2 + nameLen + 4 + 2 + idLen
  let flags = p.clean ? 0x02 : 0
  let willTopicLen = 0
  const will = p.will
  if (will) {
    willTopicLen = utf8Length(will.topic)
    checkString(willTopicLen, 'will topic')
    checkString(will.payload.length, 'will payload')
    remaining += 2 + willTopicLen + 2 + will.payload.length
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0)
  }
  remaining += credentialsSize(p)
  flags |= credentialFlags(p)
  const buf = alloc(0x10, remaining)
  let off = writeVarint(buf, 1, remaining)
  off = writeString(buf, off, p.protocolName, nameLen)
  buf[off++] = p.protocolVersion
  buf[off++] = flags
  off = writeU16(buf, off, p.keepalive)
  off = writeString(buf, off, p.clientId, idLen)
  if (will) {
    off = writeString(buf, off, will.topic, willTopicLen)
    off = writeBinary(buf, off, will.payload)
  }
  writeCredentials(buf, off, p)
  return buf
}

function encodeConnack(p: ConnackPacket): Buffer {
  const buf = Buffer.allocUnsafe(4)
  buf[0] = 0x20
  buf[1] = 2
  buf[2] = p.sessionPresent ? 1 : 0
  buf[3] = p.returnCode
  return buf
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a fixed header and a packet id. */
function encodeAck(first: number, packetId: number): Buffer {
  checkPacketId(packetId)
  const buf = Buffer.allocUnsafe(4)
  buf[0] = first
  buf[1] = 2
  buf[2] = packetId >>> 8
  buf[3] = packetId & 0xff
  return buf
}

/** [MQTT-4.3.2-2] a QoS 1 PUBLISH is acknowledged with PUBACK. */
export const encodePuback = (packetId: number): Buffer => encodeAck(0x40, packetId)
/** [MQTT-4.3.3-2] a QoS 2 PUBLISH is answered with PUBREC. */
export const encodePubrec = (packetId: number): Buffer => encodeAck(0x50, packetId)
/** Flags 0010 [MQTT-3.6.1-1]. */
export const encodePubrel = (packetId: number): Buffer => encodeAck(0x62, packetId)
export const encodePubcomp = (packetId: number): Buffer => encodeAck(0x70, packetId)
export const encodeUnsuback = (packetId: number): Buffer => encodeAck(0xb0, packetId)

function encodeSubscribe(p: SubscribePacket): Buffer {
  checkPacketId(p.packetId)
  const subs = p.subscriptions
  const lens = new Array<number>(subs.length)
  let remaining = 2
  for (let i = 0; i < subs.length; i++) {
    const len = utf8Length(subs[i]!.topic)
    checkString(len, 'topic filter')
    lens[i] = len
    remaining += 3 + len
  }
  const buf = alloc(0x82, remaining)
  let off = writeVarint(buf, 1, remaining)
  off = writeU16(buf, off, p.packetId)
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!
    off = writeString(buf, off, s.topic, lens[i]!)
    buf[off++] = s.qos
  }
  return buf
}

function encodeSuback(p: SubackPacket): Buffer {
  checkPacketId(p.packetId)
  const remaining = 2 + p.granted.length
  const buf = alloc(0x90, remaining)
  let off = writeVarint(buf, 1, remaining)
  off = writeU16(buf, off, p.packetId)
  for (const g of p.granted) buf[off++] = g
  return buf
}

function encodeUnsubscribe(p: UnsubscribePacket): Buffer {
  checkPacketId(p.packetId)
  const lens = new Array<number>(p.topics.length)
  const remaining = 2 + filtersSize(p.topics, lens)
  const buf = alloc(0xa2, remaining)
  const off = writeVarint(buf, 1, remaining)
  writeFilters(buf, writeU16(buf, off, p.packetId), p.topics, lens)
  return buf
}

const PINGREQ = Buffer.from([0xc0, 0])
const PINGRESP = Buffer.from([0xd0, 0])
const DISCONNECT = Buffer.from([0xe0, 0])

/**
 * Encodes one packet for a connection speaking `version`: 3 or 4 (the 3.1.1 form,
 * which 3.1 shares) or 5 (encode5.ts). PINGREQ, PINGRESP and DISCONNECT return
 * shared constant buffers: never write into a returned buffer.
 */
export function encode(packet: Packet, version: ProtocolVersion = 4): Buffer {
  // a CONNECT names its own protocol level, whatever the connection's version
  if (packet.type === PacketType.CONNECT) {
    return packet.protocolVersion === 5 ? encode5(packet) : encodeConnect(packet)
  }
  if (version === 5) return encode5(packet)
  switch (packet.type) {
    case PacketType.PUBLISH:
      return encodePublish(packet)
    case PacketType.PUBACK:
      return encodePuback(packet.packetId)
    case PacketType.PUBREC:
      return encodePubrec(packet.packetId)
    case PacketType.PUBREL:
      return encodePubrel(packet.packetId)
    case PacketType.PUBCOMP:
      return encodePubcomp(packet.packetId)
    case PacketType.CONNACK:
      return encodeConnack(packet)
    case PacketType.SUBSCRIBE:
      return encodeSubscribe(packet)
    case PacketType.SUBACK:
      return encodeSuback(packet)
    case PacketType.UNSUBSCRIBE:
      return encodeUnsubscribe(packet)
    case PacketType.UNSUBACK:
      return encodeUnsuback(packet.packetId)
    case PacketType.PINGREQ:
      return PINGREQ
    case PacketType.PINGRESP:
      return PINGRESP
    case PacketType.DISCONNECT:
      return DISCONNECT
    case PacketType.AUTH:
      throw protocolError(ErrorCode.INVALID_PACKET, 'AUTH exists only in MQTT 5', 'MQTT-2.2.1')
  }
}
