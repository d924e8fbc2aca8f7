import { PacketType, PROTOCOL_V5, type ProtocolVersion, type QoS, REQUIRED_FLAGS } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'
import type { Packet, PublishPacket, Subscription } from './packets.js'
import { parseConnect } from './parse-connect.js'
import { Reader, truncated } from './reader.js'
import { asciiString, decodeUtf8 } from './utf8.js'

/**
 * Body parsers: given a complete packet's first byte and the bounds of its
 * variable header + payload inside `buf`, return the packet or throw a
 * ProtocolError naming the rule broken. Binary fields are views into `buf`.
 */

/** 1 for the bytes a topic name may hold with no further check: ASCII but NUL, '+' and '#'. */
export const PLAIN_TOPIC_BYTE = new Uint8Array(256)
for (let c = 1; c < 0x80; c++) PLAIN_TOPIC_BYTE[c] = c === 0x2b || c === 0x23 ? 0 : 1

/**
 * Offset just past the field the last `readPublishTopic` / `readPublishPacketId`
 * call read: module-level, so the PUBLISH fast path allocates nothing to return it.
 */
export const publishCursor = { pos: 0 }

/** The QoS of a PUBLISH first byte, refusing QoS 3 [MQTT-3.3.1-4] and DUP on QoS 0 [MQTT-3.3.1-2]. */
export function publishQos(first: number): number {
  const qos = (first >>> 1) & 3
  if (qos === 3) throw protocolError(ErrorCode.INVALID_QOS, 'PUBLISH with QoS 3', 'MQTT-3.3.1-4')
  if (qos === 0 && (first & 0x08) !== 0)
    throw protocolError(ErrorCode.DUP_ON_QOS0, 'PUBLISH QoS 0 with DUP set', 'MQTT-3.3.1-2')
  return qos
}

/**
 * Reads the topic name of a PUBLISH at `start` ('' when zero-length: the caller
 * decides whether that is allowed); `publishCursor.pos` is then just past it.
 */
export function readPublishTopic(buf: Buffer, start: number, end: number): string {
  if (start + 2 > end) truncated('topic name')
  const pos = start + 2
  const topicEnd = pos + ((buf[start]! << 8) | buf[start + 1]!)
  if (topicEnd > end) truncated('topic name')
  // One pass for the common topic, plain ASCII; anything else takes the full
  // checks below, which decide which error applies.
  let plain = true
  for (let i = pos; i < topicEnd; i++) {
    if (PLAIN_TOPIC_BYTE[buf[i]!] === 0) {
      plain = false
      break
    }
  }
  const topic = plain ? asciiString(buf, pos, topicEnd) : decodeUtf8(buf, pos, topicEnd)
  if (!plain) {
    for (let i = pos; i < topicEnd; i++) {
      const c = buf[i]!
      if (c === 0x2b || c === 0x23) {
        throw protocolError(ErrorCode.MALFORMED_TOPIC, `wildcard in topic name '${topic}'`, 'MQTT-3.3.2-2')
      }
    }
  }
  publishCursor.pos = topicEnd
  return topic
}

/** Reads the packet id of a QoS 1/2 PUBLISH at `pos` (0 at QoS 0); `publishCursor.pos` is then just past it. */
export function readPublishPacketId(qos: number, buf: Buffer, pos: number, end: number): number {
  if (qos === 0) {
    publishCursor.pos = pos
    return 0
  }
  if (pos + 2 > end) truncated('packet id')
  const packetId = (buf[pos]! << 8) | buf[pos + 1]!
  if (packetId === 0)
    throw protocolError(ErrorCode.ZERO_PACKET_ID, 'PUBLISH with packet id 0', 'MQTT-2.3.1-1')
  publishCursor.pos = pos + 2
  return packetId
}

export function parsePublish(first: number, buf: Buffer, start: number, end: number): PublishPacket {
  const qos = publishQos(first)
  const topic = readPublishTopic(buf, start, end)
  if (topic === '') throw protocolError(ErrorCode.MALFORMED_TOPIC, 'empty topic name', 'MQTT-4.7.3-1')
  const packetId = readPublishPacketId(qos, buf, publishCursor.pos, end)
  const pos = publishCursor.pos
  return {
    type: PacketType.PUBLISH,
    topic,
    payload: buf.subarray(pos, end),
    qos: qos as QoS,
    retain: (first & 1) !== 0,
    dup: (first & 0x08) !== 0,
    packetId,
  }
}

function parseSubscribe(r: Reader): Packet {
  const packetId = r.packetId()
  const subscriptions: Subscription[] = []
  while (r.pos < r.end) {
    const topic = r.string('topic filter')
    const opts = r.u8('requested QoS')
    if (opts > 2) {
      throw protocolError(
        ErrorCode.SUBSCRIBE_RESERVED,
        `SUBSCRIBE options byte 0x${opts.toString(16)}`,
        'MQTT-3-8.3-4',
      )
    }
    subscriptions.push({ topic, qos: opts as QoS })
  }
  if (subscriptions.length === 0) {
    throw protocolError(ErrorCode.NO_TOPICS, 'SUBSCRIBE without any topic filter', 'MQTT-3.8.3-3')
  }
  return { type: PacketType.SUBSCRIBE, packetId, subscriptions }
}

function parseUnsubscribe(r: Reader): Packet {
  const packetId = r.packetId()
  const topics: string[] = []
  while (r.pos < r.end) topics.push(r.string('topic filter'))
  if (topics.length === 0) {
    throw protocolError(ErrorCode.NO_TOPICS, 'UNSUBSCRIBE without any topic filter', 'MQTT-3.10.3-2')
  }
  return { type: PacketType.UNSUBSCRIBE, packetId, topics }
}

function parseSuback(r: Reader): Packet {
  const packetId = r.packetId()
  const granted: number[] = []
  while (r.pos < r.end) {
    const code = r.u8('return code')
    if (code > 2 && code !== 0x80) {
      throw protocolError(
        ErrorCode.INVALID_PACKET,
        `SUBACK return code 0x${code.toString(16)}`,
        'MQTT-3.9.3-2',
      )
    }
    granted.push(code)
  }
  if (granted.length === 0) truncated('return codes')
  return { type: PacketType.SUBACK, packetId, granted }
}

function parseConnack(r: Reader): Packet {
  const ackFlags = r.u8('acknowledge flags')
  // bits 7-1 are reserved and must be 0 (3.2.2.1; the statement has no id)
  if (ackFlags & 0xfe) throw protocolError(ErrorCode.CONNACK_RESERVED, 'CONNACK reserved flags set')
  const returnCode = r.u8('return code')
  r.done(PacketType.CONNACK)
  return { type: PacketType.CONNACK, sessionPresent: ackFlags === 1, returnCode }
}

/**
 * Checks what the first byte alone tells, so that a bad packet is refused before
 * its body is buffered: reserved types, reserved flags [MQTT-2.2.2-1]
 * [MQTT-2.2.2-2], and PUBLISH QoS 3 [MQTT-3.3.1-4] and DUP on QoS 0 [MQTT-3.3.1-2].
 */
export function checkFirstByte(first: number, version: ProtocolVersion): void {
  const type = first >>> 4
  if (type === PacketType.PUBLISH) {
    publishQos(first)
    return
  }
  // AUTH (15) is MQTT 5 only: in 3.1.1 type 15 is reserved (2.2.1)
  if (type === 0 || (type === PacketType.AUTH && version !== PROTOCOL_V5)) {
    throw protocolError(ErrorCode.RESERVED_PACKET_TYPE, `reserved packet type ${type}`, 'MQTT-2.2.1')
  }
  if ((first & 0x0f) !== REQUIRED_FLAGS[type]) {
    const rule =
      type === PacketType.PUBREL
        ? 'MQTT-3.6.1-1'
        : type === PacketType.SUBSCRIBE
          ? 'MQTT-3.8.1-1'
          : type === PacketType.UNSUBSCRIBE
            ? 'MQTT-3.10.1-1'
            : type === PacketType.AUTH
              ? 'MQTT-3.15.1-1'
              : 'MQTT-2.2.2-2'
    throw protocolError(
      ErrorCode.RESERVED_FLAGS,
      `invalid fixed-header flags 0x${(first & 0x0f).toString(16)}`,
      rule,
    )
  }
}

/** Decodes any packet but PUBLISH, which has its own fast path. */
export function parseOther(first: number, buf: Buffer, start: number, end: number): Packet {
  const type = first >>> 4
  const r = new Reader(buf, start, end)
  let packet: Packet
  switch (type) {
    case PacketType.PUBACK:
    case PacketType.PUBREC:
    case PacketType.PUBREL:
    case PacketType.PUBCOMP:
    case PacketType.UNSUBACK:
      packet = { type, packetId: r.packetId() }
      break
    case PacketType.PINGREQ:
    case PacketType.PINGRESP:
    case PacketType.DISCONNECT:
      packet = { type }
      break
    case PacketType.CONNECT:
      return parseConnect(r)
    case PacketType.CONNACK:
      return parseConnack(r)
    case PacketType.SUBSCRIBE:
      return parseSubscribe(r)
    case PacketType.SUBACK:
      return parseSuback(r)
    case PacketType.UNSUBSCRIBE:
      return parseUnsubscribe(r)
    default:
      throw protocolError(ErrorCode.RESERVED_PACKET_TYPE, `reserved packet type ${type}`, 'MQTT-2.2.1')
  }
  r.done(type)
  return packet
}
