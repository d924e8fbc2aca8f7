import { Message } from '../broker/message.js'
import type { QoS } from '../protocol/constants.js'
import { PacketType } from '../protocol/constants.js'
import type { PublishProperties } from '../protocol/packets.js'
import { encodeProperties, readProperties } from '../protocol/properties.js'
import { Reader } from '../protocol/reader.js'

/**
 * A message as it crosses between nodes (a NATS message's data; its topic is the subject):
 *
 *   flags (1)   QoS in bits 0-1, RETAIN bit 2, properties follow bit 3, expiry follows bit 4
 *   origin (4)  the sending node's number (random per process), big-endian
 *   seq (6)     the sending node's message counter, big-endian: a node receiving one message
 *               through several overlapping subscriptions takes it once
 *   expiresAt (6)  Date.now() after which it is expired, when bit 4 is set
 *   (bit 6: a QoS 2 message sent again after its publisher's node died; see Cluster.resent)
 *   client      u16 length + UTF-8: the publisher's client id, when bit 5 is set (QoS 1/2: a
 *               session's JetStream feed applies No Local with it)
 *   properties  varint length + MQTT 5 PUBLISH properties, when bit 3 is set (Topic Alias and
 *               Message Expiry Interval are never among them: the expiry is absolute above)
 *   payload     the rest
 */
const RETAIN = 0x04
const PROPS = 0x08
const EXPIRY = 0x10
const CLIENT = 0x20
const RETRY = 0x40
const HEADER = 11

export function encodeEnvelope(msg: Message, origin: number, seq: number, retry = false): Buffer {
  const props = msg.properties === null ? null : encodeProperties(msg.properties, PacketType.PUBLISH)
  const expiry = msg.expiresAt !== 0
  const client = msg.qos > 0 && msg.origin !== null ? Buffer.from(msg.origin) : null
  const size =
    HEADER +
    (expiry ? 6 : 0) +
    (client === null ? 0 : 2 + client.length) +
    (props === null ? 0 : props.length) +
    msg.payload.length
  const buf = Buffer.allocUnsafe(size)
  buf[0] =
    msg.qos |
    (msg.retain ? RETAIN : 0) |
    (props !== null ? PROPS : 0) |
    (expiry ? EXPIRY : 0) |
    (client !== null ? CLIENT : 0) |
    (retry ? RETRY : 0)
  buf.writeUInt32BE(origin >>> 0, 1)
  buf.writeUIntBE(seq, 5, 6)
  let off = HEADER
  if (expiry) {
    buf.writeUIntBE(msg.expiresAt, off, 6)
    off += 6
  }
  if (client !== null) {
    buf.writeUInt16BE(client.length, off)
    off += 2 + client.copy(buf, off + 2)
  }
  if (props !== null) off += props.copy(buf, off)
  msg.payload.copy(buf, off)
  return buf
}

/** Whether the envelope is a QoS 2 message sent again (for the sessions' JetStream feeds only). */
export function envelopeRetry(data: Uint8Array): boolean {
  return (data[0]! & RETRY) !== 0
}

/** The parts of an envelope a receiver looks at before it makes a Message. */
export function envelopeOrigin(data: Uint8Array): number {
  return ((data[1]! << 24) | (data[2]! << 16) | (data[3]! << 8) | data[4]!) >>> 0
}

export function envelopeSeq(data: Uint8Array): number {
  return (
    data[5]! * 2 ** 40 +
    data[6]! * 2 ** 32 +
    (((data[7]! << 24) | (data[8]! << 16) | (data[9]! << 8) | data[10]!) >>> 0)
  )
}

/**
 * The Message of an envelope received for `topic`; its payload is a view of `data` (which may
 * lie inside the NATS client's read buffer: the message copies it when it is kept, see
 * Message.own). Throws on a malformed envelope.
 */
export function decodeEnvelope(topic: string, data: Uint8Array): Message {
  if (data.length < HEADER) throw new Error(`cluster message too short (${data.length} bytes)`)
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const flags = buf[0]!
  const q = flags & 0x03
  if (q === 3) throw new Error('cluster message with QoS 3')
  const qos = q as QoS
  let off = HEADER
  let expiresAt = 0
  if ((flags & EXPIRY) !== 0) {
    expiresAt = buf.readUIntBE(off, 6)
    off += 6
  }
  let origin: string | null = null
  if ((flags & CLIENT) !== 0) {
    const len = buf.readUInt16BE(off)
    if (off + 2 + len > buf.length) throw new Error('cluster message: client id beyond its end')
    origin = buf.toString('utf8', off + 2, off + 2 + len)
    off += 2 + len
  }
  let properties: PublishProperties | null = null
  if ((flags & PROPS) !== 0) {
    const r = new Reader(buf, off, buf.length)
    properties = (readProperties(r, PacketType.PUBLISH) as PublishProperties | undefined) ?? null
    off = r.pos
  }
  const msg = new Message(topic, buf.subarray(off), qos, (flags & RETAIN) !== 0, null, false)
  msg.properties = properties
  msg.expiresAt = expiresAt
  msg.origin = origin
  msg.remote = true
  return msg
}

/**
 * Several messages of one turn to one subject, as one NATS message (one JetStream message at
 * QoS 1): a first byte 0x80 (never an envelope's flags), a u16 count, then each envelope with
 * its u32 length. Fewer NATS messages is what makes a busy topic cheap to carry.
 */
const BUNDLE = 0x80

/** The envelopes as one bundle (their sequences already stamped). */
export function encodeBundle(envelopes: readonly Buffer[]): Buffer {
  let size = 3
  for (const e of envelopes) size += 4 + e.length
  const buf = Buffer.allocUnsafe(size)
  buf[0] = BUNDLE
  buf.writeUInt16BE(envelopes.length, 1)
  let off = 3
  for (const e of envelopes) {
    buf.writeUInt32BE(e.length, off)
    off += 4 + e.copy(buf, off + 4)
  }
  return buf
}

export function isBundle(data: Uint8Array): boolean {
  return data.length > 0 && (data[0]! & BUNDLE) !== 0
}

/** The envelopes of a bundle, as views of it. Throws when it is malformed. */
export function bundleParts(data: Uint8Array): Buffer[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (buf.length < 3) throw new Error('cluster bundle too short')
  const count = buf.readUInt16BE(1)
  const out: Buffer[] = []
  let off = 3
  for (let i = 0; i < count; i++) {
    if (off + 4 > buf.length) throw new Error('cluster bundle: a length beyond its end')
    const len = buf.readUInt32BE(off)
    off += 4
    if (off + len > buf.length) throw new Error('cluster bundle: an envelope beyond its end')
    out.push(buf.subarray(off, off + len))
    off += len
  }
  return out
}

/** Writes `seq` into an envelope made with sequence 0 (its sequence is taken when it is sent). */
export function stampSeq(envelope: Buffer, seq: number): void {
  envelope.writeUIntBE(seq, 5, 6)
}
