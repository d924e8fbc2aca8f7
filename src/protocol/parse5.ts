import { PacketType, type QoS, ReasonCode } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'
import type {
  AuthPacket,
  DisconnectPacket,
  Packet,
  PubackPacket,
  PubcompPacket,
  PublishPacket,
  PubrecPacket,
  PubrelPacket,
  Subscription,
} from './packets.js'
import { publishCursor, publishQos, readPublishPacketId, readPublishTopic } from './parse.js'
import { parseConnect } from './parse-connect.js'
import { readProperties } from './properties.js'
import { Reader, truncated } from './reader.js'
import { checkReasonCode } from './reason-codes.js'

/**
 * MQTT 5 body parsers: the 3.1.1 layouts plus properties and reason codes.
 * Same contract as parse.ts: complete packet in, packet or ProtocolError out,
 * binary fields as views into `buf`.
 */

/** The shared-subscription prefix (4.8.2). */
const SHARE_PREFIX = '$share/'

export function parsePublish5(first: number, buf: Buffer, start: number, end: number): PublishPacket {
  const qos = publishQos(first)
  const topic = readPublishTopic(buf, start, end)
  const packetId = readPublishPacketId(qos, buf, publishCursor.pos, end)
  const pos = publishCursor.pos
  const dup = (first & 0x08) !== 0
  if (pos >= end) truncated('property length')
  if (buf[pos] === 0) {
    // no properties, the common case: nothing allocated for them
    if (topic === '') noTopic()
    return {
      type: PacketType.PUBLISH,
      topic,
      payload: buf.subarray(pos + 1, end),
      qos: qos as QoS,
      retain: (first & 1) !== 0,
      dup,
      packetId,
    }
  }
  const r = new Reader(buf, pos, end)
  const properties = readProperties(r, PacketType.PUBLISH)
  // a zero-length topic name needs a Topic Alias (3.3.2.1)
  if (topic === '' && properties?.topicAlias === undefined) noTopic()
  const packet: PublishPacket = {
    type: PacketType.PUBLISH,
    topic,
    payload: buf.subarray(r.pos, end),
    qos: qos as QoS,
    retain: (first & 1) !== 0,
    dup,
    packetId,
  }
  // a property length of 0 written in more bytes than needed (1.5.5) leaves none
  if (properties !== undefined) packet.properties = properties
  return packet
}

function noTopic(): never {
  throw protocolError(
    ErrorCode.MALFORMED_TOPIC,
    'empty topic name without a Topic Alias (3.3.2.1)',
    '',
    undefined,
    ReasonCode.PROTOCOL_ERROR,
  )
}

function noAuthMethod(): never {
  throw protocolError(
    ErrorCode.INVALID_PROPERTY_VALUE,
    'AUTH without an Authentication Method (3.15.2.2.2)',
    '',
    undefined,
    ReasonCode.PROTOCOL_ERROR,
  )
}

function parseConnack5(r: Reader): Packet {
  const ackFlags = r.u8('acknowledge flags')
  // bits 7-1 are reserved [MQTT-3.2.2-1]
  if (ackFlags & 0xfe) {
    throw protocolError(ErrorCode.CONNACK_RESERVED, 'CONNACK reserved flags set', 'MQTT-3.2.2-1')
  }
  const returnCode = r.u8('reason code')
  checkReasonCode(PacketType.CONNACK, returnCode)
  // a refusal has Session Present 0 [MQTT-3.2.2-6]
  if (returnCode >= ReasonCode.UNSPECIFIED_ERROR && ackFlags === 1) {
    throw protocolError(
      ErrorCode.CONNACK_RESERVED,
      `CONNACK 0x${returnCode.toString(16)} with Session Present 1`,
      'MQTT-3.2.2-6',
      undefined,
      ReasonCode.PROTOCOL_ERROR,
    )
  }
  const properties = readProperties(r, PacketType.CONNACK)
  r.done(PacketType.CONNACK)
  const p: Packet = { type: PacketType.CONNACK, sessionPresent: ackFlags === 1, returnCode }
  if (properties !== undefined) p.properties = properties
  return p
}

/**
 * PUBACK, PUBREC, PUBREL, PUBCOMP. Remaining length 2: reason code 0x00 and no
 * properties; 3: a reason code and no properties (3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1).
 */
function parseAck5(type: 4 | 5 | 6 | 7, r: Reader): Packet {
  const packetId = r.packetId()
  if (r.pos === r.end) return { type, packetId }
  const reasonCode = r.u8('reason code')
  checkReasonCode(type, reasonCode)
  const properties = r.pos === r.end ? undefined : readProperties(r, type)
  r.done(type)
  const p: PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket = { type, packetId, reasonCode }
  if (properties !== undefined) p.properties = properties
  return p
}

/** DISCONNECT and AUTH: remaining length 0 means reason 0x00 and no properties (3.14.2.1, 3.15.2.1). */
function parseReason5(type: 14 | 15, r: Reader): Packet {
  if (r.pos === r.end) return { type }
  const reasonCode = r.u8('reason code')
  checkReasonCode(type, reasonCode)
  const properties = r.pos === r.end ? undefined : readProperties(r, type)
  r.done(type)
  // only the empty AUTH (remaining length 0) may leave out the Authentication Method (3.15.2.2.2)
  if (type === PacketType.AUTH && properties?.authenticationMethod === undefined) noAuthMethod()
  const p: DisconnectPacket | AuthPacket = { type, reasonCode }
  if (properties !== undefined) p.properties = properties
  return p
}

function parseSubscribe5(r: Reader): Packet {
  const packetId = r.packetId()
  const properties = readProperties(r, PacketType.SUBSCRIBE)
  const subscriptions: Subscription[] = []
  while (r.pos < r.end) {
    const topic = r.string('topic filter')
    const opts = r.u8('subscription options')
    // bits 7-6 reserved: a Malformed Packet [MQTT-3.8.3-5]
    if (opts & 0xc0) {
      throw protocolError(
        ErrorCode.SUBSCRIBE_RESERVED,
        `subscription options 0x${opts.toString(16)}: reserved bits set`,
        'MQTT-3.8.3-5',
      )
    }
    // Maximum QoS 3 and Retain Handling 3 are Protocol Errors (3.8.3.1)
    const retainHandling = (opts >>> 4) & 3
    if ((opts & 3) === 3 || retainHandling === 3) {
      throw protocolError(
        ErrorCode.SUBSCRIBE_RESERVED,
        `subscription options 0x${opts.toString(16)}: ${retainHandling === 3 ? 'Retain Handling' : 'QoS'} 3`,
        '',
        undefined,
        ReasonCode.PROTOCOL_ERROR,
      )
    }
    const noLocal = (opts & 0x04) !== 0
    if (noLocal && topic.startsWith(SHARE_PREFIX)) {
      throw protocolError(
        ErrorCode.NO_LOCAL_SHARED,
        `No Local on the shared subscription '${topic}'`,
        'MQTT-3.8.3-4',
      )
    }
    subscriptions.push({
      topic,
      qos: (opts & 3) as QoS,
      noLocal,
      retainAsPublished: (opts & 0x08) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
    })
  }
  if (subscriptions.length === 0) {
    throw protocolError(ErrorCode.NO_TOPICS, 'SUBSCRIBE without any topic filter', 'MQTT-3.8.3-2')
  }
  const p: Packet = { type: PacketType.SUBSCRIBE, packetId, subscriptions }
  if (properties !== undefined) p.properties = properties
  return p
}

function parseUnsubscribe5(r: Reader): Packet {
  const packetId = r.packetId()
  const properties = readProperties(r, PacketType.UNSUBSCRIBE)
  const topics: string[] = []
  while (r.pos < r.end) topics.push(r.string('topic filter'))
  if (topics.length === 0) {
    throw protocolError(ErrorCode.NO_TOPICS, 'UNSUBSCRIBE without any topic filter', 'MQTT-3.10.3-2')
  }
  const p: Packet = { type: PacketType.UNSUBSCRIBE, packetId, topics }
  if (properties !== undefined) p.properties = properties
  return p
}

/** SUBACK, UNSUBACK: packet id, properties, a reason code per topic filter. */
function parseCodes5(type: 9 | 11, r: Reader): Packet {
  const packetId = r.packetId()
  const properties = readProperties(r, type)
  const codes: number[] = []
  while (r.pos < r.end) {
    const code = r.buf[r.pos++]!
    checkReasonCode(type, code)
    codes.push(code)
  }
  if (codes.length === 0) truncated('reason codes')
  const p: Packet =
    type === PacketType.SUBACK ? { type, packetId, granted: codes } : { type, packetId, reasonCodes: codes }
  if (properties !== undefined) p.properties = properties
  return p
}

/** Decodes any MQTT 5 packet but PUBLISH, which has its own fast path. */
export function parseOther5(first: number, buf: Buffer, start: number, end: number): Packet {
  const type = first >>> 4
  const r = new Reader(buf, start, end)
  switch (type) {
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
      return parseAck5(type, r)
    case PacketType.DISCONNECT:
    case PacketType.AUTH:
      return parseReason5(type, r)
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
      r.done(type)
      return { type }
    case PacketType.CONNECT:
      return parseConnect(r)
    case PacketType.CONNACK:
      return parseConnack5(r)
    case PacketType.SUBSCRIBE:
      return parseSubscribe5(r)
    case PacketType.SUBACK:
    case PacketType.UNSUBACK:
      return parseCodes5(type, r)
    case PacketType.UNSUBSCRIBE:
      return parseUnsubscribe5(r)
    default:
      throw protocolError(ErrorCode.RESERVED_PACKET_TYPE, `reserved packet type ${type}`, 'MQTT-2.2.1')
  }
}
