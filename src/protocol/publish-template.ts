import { Buffer } from 'node:buffer'
import { MAX_VARIABLE_BYTE_INTEGER, PacketType, PropertyId, type QoS } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'
import type { PublishProperties } from './packets.js'
import { encodeProperties } from './properties.js'
import { utf8Length, writeUtf8 } from './utf8.js'
import { checkPacketId, checkRemaining, varintSize, writeVarint } from './wire.js'

/**
 * What differs between the MQTT 5 copies of one message: per subscriber or per
 * delivery. `null` means none of it (the message's own properties only).
 */
export interface PublishExtra {
  /** The identifiers of the subscriptions this delivery matched [MQTT-3.3.4-3]. */
  subscriptionIds?: number[] | null | undefined
  /** Topic Alias to send (1..65535). */
  topicAlias?: number | undefined
  /** With a topicAlias the receiver already knows: send an empty topic name (3.3.2.3.4). */
  omitTopic?: boolean | undefined
  /** Message Expiry Interval to send: the seconds that remain [MQTT-3.3.2-6]. */
  messageExpiry?: number | undefined
}

/** Properties a template writes per delivery (from PublishExtra), never from the message's own. */
const PER_DELIVERY: ReadonlySet<string> = new Set([
  'topicAlias',
  'subscriptionIdentifiers',
  'messageExpiryInterval',
])

/**
 * Encode a PUBLISH once, send it to many subscribers.
 *
 * QoS 0 copies are one shared buffer per RETAIN value, written as is to every
 * QoS 0 subscriber (or the publisher's own bytes, when they can be forwarded
 * unchanged). QoS 1/2 copies differ from each other only in the first byte and
 * the packet id: they are a memcpy of one prepared image plus three stamped bytes.
 *
 * MQTT 5 copies (`v5()`): the message's properties are encoded once, on first use,
 * and copied into each; what differs per delivery (subscription identifiers, topic
 * alias, remaining expiry: PublishExtra) is written in front of them. Without
 * extras the copies are shared and stamped like the 3.1.1 ones.
 */
export class PublishTemplate {
  readonly topic: string
  readonly payload: Buffer
  private readonly topicLen: number
  private q0: Buffer | null
  private q0r: Buffer | null = null
  private q1: Buffer | null = null
  /** Offset of the packet id in the QoS 1/2 image. */
  private pidAt = 0
  /** The QoS 1/2 image went out as the first copy (later ones are copies of it). */
  private imageGiven = false
  private readonly properties: PublishProperties | null
  /** The message's own properties, encoded once, without their length field (the extras add to it). */
  private shared: Buffer | null = null
  private v5q0: Buffer | null = null
  private v5q0r: Buffer | null = null
  private v5q1: Buffer | null = null
  private v5PidAt = 0

  /**
   * @param wireQos0 the bytes of this message as a QoS 0, non-retained PUBLISH,
   *   if already at hand (the publisher's own packet): forwarded unchanged.
   * @param wireQos12 the publisher's own 3.1.1 QoS 1/2 PUBLISH of this message, if at hand:
   *   the image QoS 1/2 copies are made from (its first byte and packet id are overwritten,
   *   the first copy is stamped in place), so the payload is not copied to make it.
   */
  constructor(
    topic: string,
    payload: Buffer,
    wireQos0: Buffer | null = null,
    properties: PublishProperties | null = null,
    wireQos12: Buffer | null = null,
  ) {
    this.topic = topic
    this.payload = payload
    this.topicLen = utf8Length(topic)
    if (this.topicLen > 65_535) {
      throw protocolError(
        ErrorCode.INVALID_PACKET,
        `topic is ${this.topicLen} bytes; at most 65535 fit`,
        'MQTT-1.5.3',
      )
    }
    this.q0 = wireQos0
    this.properties = properties
    if (wireQos12 !== null) {
      this.q1 = wireQos12
      let i = 1
      while (wireQos12[i]! & 0x80) i++ // the remaining length's bytes
      this.pidAt = i + 1 + 2 + this.topicLen
    }
  }

  /** The QoS 0 form, shared: never modify the returned buffer. */
  qos0(retain: boolean): Buffer {
    if (retain) return (this.q0r ??= this.build(0, true))
    return (this.q0 ??= this.build(0, false))
  }

  /** A buffer of its own for one QoS 1/2 delivery. */
  qos12(qos: QoS, packetId: number, dup: boolean, retain: boolean): Buffer {
    checkPacketId(packetId)
    const image = (this.q1 ??= this.build(1, false))
    if (!this.imageGiven) {
      // the first copy is the image itself, stamped: one subscriber, no copy of the payload to make
      this.imageGiven = true
      return stampInPlace(image, this.pidAt, qos, packetId, dup, retain)
    }
    return stamp(image, this.pidAt, qos, packetId, dup, retain)
  }

  /** Any form: the shared QoS 0 buffer, or a fresh QoS 1/2 one. */
  bytes(qos: QoS, packetId: number, dup: boolean, retain: boolean): Buffer {
    return qos === 0 ? this.qos0(retain) : this.qos12(qos, packetId, dup, retain)
  }

  /**
   * The MQTT 5 form of one delivery. With `extra === null` at QoS 0 the buffer is
   * shared by every such delivery (never modify it); otherwise it is the caller's.
   */
  v5(qos: QoS, packetId: number, dup: boolean, retain: boolean, extra: PublishExtra | null): Buffer {
    if (extra === null) {
      if (qos === 0) {
        if (retain) return (this.v5q0r ??= this.build5(0, 0, false, true, null))
        return (this.v5q0 ??= this.build5(0, 0, false, false, null))
      }
      checkPacketId(packetId)
      if (this.v5q1 === null) {
        this.v5q1 = this.build5(1, 1, false, false, null)
        return stampInPlace(this.v5q1, this.v5PidAt, qos, packetId, dup, retain)
      }
      return stamp(this.v5q1, this.v5PidAt, qos, packetId, dup, retain)
    }
    if (qos > 0) checkPacketId(packetId)
    return this.build5(qos, packetId, dup, retain, extra)
  }

  /**
   * Bytes `v5(qos, ..., extra)` would return, fixed header included: to compare
   * with a client's Maximum Packet Size before sending [MQTT-3.1.2-24].
   */
  v5Size(qos: QoS, extra: PublishExtra | null): number {
    const remaining = this.remaining5(qos, extra, this.propLen(extra))
    return 1 + varintSize(remaining) + remaining
  }

  /** Bytes `qos0()`/`qos12()` return (the 3.1.1 form), fixed header included. */
  size(qos: QoS): number {
    const remaining = 2 + this.topicLen + (qos > 0 ? 2 : 0) + this.payload.length
    return 1 + varintSize(remaining) + remaining
  }

  private sharedProps(): Buffer {
    // the message's properties, less those written per delivery; the length
    // field is written per delivery too, as the extras add to it
    return (this.shared ??= encodeProperties(
      this.properties ?? undefined,
      PacketType.PUBLISH,
      PER_DELIVERY,
      false,
    ))
  }

  private expiry(extra: PublishExtra | null): number | undefined {
    return extra?.messageExpiry ?? this.properties?.messageExpiryInterval
  }

  /** Property bytes of one delivery (without their length field). */
  private propLen(extra: PublishExtra | null): number {
    let n = this.sharedProps().length
    if (this.expiry(extra) !== undefined) n += 5
    if (extra === null) return n
    if (extra.topicAlias !== undefined) n += 3
    const ids = extra.subscriptionIds
    if (ids) for (const id of ids) n += 1 + varintSize(id)
    return n
  }

  /** Remaining length of one delivery whose property bytes are `props` (from propLen). */
  private remaining5(qos: QoS, extra: PublishExtra | null, props: number): number {
    const topicLen = extra?.omitTopic ? 0 : this.topicLen
    return 2 + topicLen + (qos > 0 ? 2 : 0) + varintSize(props) + props + this.payload.length
  }

  private build5(
    qos: QoS,
    packetId: number,
    dup: boolean,
    retain: boolean,
    extra: PublishExtra | null,
  ): Buffer {
    const alias = extra?.topicAlias
    if (alias !== undefined && !(alias >= 1 && alias <= 65_535 && Number.isInteger(alias))) {
      throw protocolError(
        ErrorCode.TOPIC_ALIAS_INVALID,
        `Topic Alias ${alias} is not in 1..65535`,
        'MQTT-3.3.2-8',
      )
    }
    const expiry = this.expiry(extra)
    if (expiry !== undefined && !(Number.isInteger(expiry) && expiry >= 0 && expiry <= 0xffff_ffff)) {
      throw protocolError(
        ErrorCode.INVALID_PROPERTY_VALUE,
        `Message Expiry Interval ${expiry} is not a whole number of seconds in 0..4294967295`,
      )
    }
    const omit = extra?.omitTopic === true
    if (omit && alias === undefined) {
      throw protocolError(ErrorCode.MALFORMED_TOPIC, 'an empty topic name needs a Topic Alias (3.3.2.1)')
    }
    const shared = this.sharedProps()
    const props = this.propLen(extra)
    const remaining = this.remaining5(qos, extra, props)
    checkRemaining(remaining)
    const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
    buf[0] = 0x30 | (dup && qos > 0 ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0)
    let off = writeVarint(buf, 1, remaining)
    if (omit) {
      buf[off++] = 0
      buf[off++] = 0
    } else {
      buf[off] = this.topicLen >>> 8
      buf[off + 1] = this.topicLen & 0xff
      off = writeUtf8(buf, off + 2, this.topic, this.topicLen)
    }
    if (qos > 0) {
      if (extra === null) this.v5PidAt = off
      buf[off++] = packetId >>> 8
      buf[off++] = packetId & 0xff
    }
    off = writeVarint(buf, off, props)
    if (expiry !== undefined) {
      buf[off++] = PropertyId.MESSAGE_EXPIRY_INTERVAL
      off = buf.writeUInt32BE(expiry, off)
    }
    if (alias !== undefined) {
      buf[off++] = PropertyId.TOPIC_ALIAS
      buf[off++] = alias >>> 8
      buf[off++] = alias & 0xff
    }
    const ids = extra?.subscriptionIds
    if (ids) {
      for (const id of ids) {
        if (!(id >= 1 && id <= MAX_VARIABLE_BYTE_INTEGER)) {
          throw protocolError(
            ErrorCode.INVALID_PROPERTY_VALUE,
            `Subscription Identifier ${id} is not in 1..268435455`,
          )
        }
        buf[off++] = PropertyId.SUBSCRIPTION_IDENTIFIER
        off = writeVarint(buf, off, id)
      }
    }
    shared.copy(buf, off)
    off += shared.length
    buf.set(this.payload, off)
    return buf
  }

  private build(qos: 0 | 1, retain: boolean): Buffer {
    const remaining = 2 + this.topicLen + (qos ? 2 : 0) + this.payload.length
    const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
    buf[0] = 0x30 | (qos << 1) | (retain ? 1 : 0)
    let off = writeVarint(buf, 1, remaining)
    buf[off] = this.topicLen >>> 8
    buf[off + 1] = this.topicLen & 0xff
    off = writeUtf8(buf, off + 2, this.topic, this.topicLen)
    if (qos) {
      this.pidAt = off
      off += 2
    }
    buf.set(this.payload, off)
    return buf
  }
}

/** A copy of a QoS 1/2 `image` with its first byte and packet id (at `pidAt`) set for one delivery. */
function stamp(
  image: Buffer,
  pidAt: number,
  qos: QoS,
  packetId: number,
  dup: boolean,
  retain: boolean,
): Buffer {
  const out = Buffer.allocUnsafe(image.length)
  image.copy(out, 0, 0, image.length)
  return stampInPlace(out, pidAt, qos, packetId, dup, retain)
}

/**
 * Writes the bytes that differ between copies (the first byte and the packet id) into `buf`.
 * The image a template keeps is also its first copy: whoever holds that copy may re-stamp
 * it (DUP on redelivery), and every later copy overwrites exactly those bytes, so none of
 * them depends on what the image's bytes there are.
 */
function stampInPlace(
  buf: Buffer,
  pidAt: number,
  qos: QoS,
  packetId: number,
  dup: boolean,
  retain: boolean,
): Buffer {
  buf[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0)
  buf[pidAt] = packetId >>> 8
  buf[pidAt + 1] = packetId & 0xff
  return buf
}

/**
 * Re-stamps an encoded QoS 1/2 PUBLISH (either protocol version: the packet id
 * follows the topic name in both) in place, e.g. to set DUP on redelivery
 * [MQTT-3.3.1-1] without encoding it again.
 */
export function restampPublish(buf: Buffer, dup: boolean, packetId?: number): void {
  buf[0] = (buf[0]! & ~0x08) | (dup ? 0x08 : 0)
  if (packetId === undefined) return
  let i = 1
  while (buf[i]! & 0x80) i++
  i++
  const topicLen = (buf[i]! << 8) | buf[i + 1]!
  const at = i + 2 + topicLen
  buf[at] = packetId >>> 8
  buf[at + 1] = packetId & 0xff
}
