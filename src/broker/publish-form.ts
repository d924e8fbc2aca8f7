import type { ProtocolVersion, QoS } from '../protocol/constants.js'
import { varintSize, writeVarint } from '../protocol/encoder.js'
import type { ConnectProperties } from '../protocol/packets.js'
import type { PublishExtra } from '../protocol/publish-template.js'
import type { Message } from './message.js'
import type { RawForm } from './retained-encoder.js'
import { OutboundAliases } from './topic-aliases.js'

/** What a client's CONNECT says about the PUBLISHes it takes (a ConnectPacket will do). */
export interface LinkOptions {
  readonly protocolVersion: ProtocolVersion
  readonly properties?: ConnectProperties | undefined
}

/** 3.1.1: no properties, no Maximum Packet Size. */
const RAW_V3: RawForm = { v5: false, maxPacketSize: 0 }

/** Bytes a Topic Alias property takes: identifier and two-byte value. */
const ALIAS_BYTES = 3

/**
 * How PUBLISHes are encoded for one MQTT 5 connection: the message's properties, the
 * subscription identifiers [MQTT-3.3.4-3], the expiry left [MQTT-3.3.2-6], a topic alias
 * when the client allows them, and nothing larger than its Maximum Packet Size
 * [MQTT-3.1.2-25]. Made afresh for each connection, as its aliases are [MQTT-3.3.2-7].
 * (A 3.1.1 connection has none: the session uses the template's v3 forms directly.)
 */
export class V5Form {
  /** The client's Maximum Packet Size; 0 when it set none. */
  readonly maxPacketSize: number
  private readonly aliases: OutboundAliases | null
  /**
   * After `qos12`: the bytes to keep for a re-send, with the topic in full and no alias,
   * as a later connection has aliases of its own.
   */
  tracked: Buffer | null = null

  /** How it takes raw retained PUBLISHes (RetainedEncoder): not with Topic Aliases. */
  readonly raw: RawForm | null

  constructor(properties: ConnectProperties | undefined) {
    this.maxPacketSize = properties?.maximumPacketSize ?? 0
    const aliases = properties?.topicAliasMaximum ?? 0
    this.aliases = aliases > 0 ? new OutboundAliases(aliases) : null
    this.raw = aliases > 0 ? null : { v5: true, maxPacketSize: this.maxPacketSize }
  }

  /**
   * The QoS 0 bytes (shared by every subscriber when there is nothing per delivery), or
   * null when they exceed the client's Maximum Packet Size.
   */
  qos0(msg: Message, retain: boolean, subIds: number[] | null): Buffer | null {
    const extra = perDelivery(msg, subIds)
    if (extra === null && !retain && this.aliases === null) {
      // the publisher's own bytes, if they can go as they came
      const wire = msg.wire5
      if (wire !== null && (this.maxPacketSize === 0 || wire.length <= this.maxPacketSize)) return wire
    }
    const tpl = msg.tpl
    if (this.maxPacketSize === 0) {
      if (this.aliases === null) return tpl.v5(0, 0, false, retain, extra)
    } else if (tpl.v5Size(0, extra) > this.maxPacketSize) return null
    return this.aliased(msg, 0, 0, retain, extra) ?? tpl.v5(0, 0, false, retain, extra)
  }

  /**
   * The QoS 1/2 bytes to send now, or null when they exceed the client's Maximum Packet
   * Size; `tracked` then holds the bytes to keep for a re-send. `alias` false: no topic alias
   * (a re-send after a reconnect carries its topic in full).
   */
  qos12(
    msg: Message,
    qos: QoS,
    packetId: number,
    retain: boolean,
    subIds: number[] | null,
    alias = true,
  ): Buffer | null {
    const extra = perDelivery(msg, subIds)
    const tpl = msg.tpl
    if (this.maxPacketSize !== 0 && tpl.v5Size(qos, extra) > this.maxPacketSize) {
      this.tracked = null
      return null
    }
    const full = tpl.v5(qos, packetId, false, retain, extra)
    this.tracked = full
    if (this.aliases === null || !alias) return full
    return this.aliased(msg, qos, packetId, retain, extra) ?? full
  }

  /**
   * The aliased form: topic and a new alias, or an alias the client knows and no topic
   * [MQTT-3.3.2-12]; null when an alias would not fit in the client's Maximum Packet Size.
   */
  private aliased(
    msg: Message,
    qos: QoS,
    packetId: number,
    retain: boolean,
    extra: PublishExtra | null,
  ): Buffer | null {
    const aliases = this.aliases
    const tpl = msg.tpl
    const max = this.maxPacketSize
    // an alias with the topic is 3 bytes longer than the plain form
    if (aliases === null || (max !== 0 && tpl.v5Size(qos, extra) + ALIAS_BYTES > max)) return null
    const topic = msg.topic
    const known = aliases.known(topic)
    const e: PublishExtra = extra === null ? {} : { ...extra }
    if (known !== 0) {
      e.topicAlias = known
      e.omitTopic = true
    } else {
      e.topicAlias = aliases.assign(topic)
    }
    return tpl.v5(qos, packetId, false, retain, e)
  }
}

/**
 * A session's PUBLISHes in the form of its current connection: the template's 3.1.1 forms, or
 * a V5Form. Null bytes: larger than the client's Maximum Packet Size [MQTT-3.1.2-25];
 * `tooLarge` is told (the message is counted as dropped).
 */
export class DeliveryForm {
  private v5: V5Form | null = null
  /** Told of a message too large for the client (DeliveryCounts). */
  private readonly counts: { tooLarge(qos: QoS): void }
  /** After `qos12`: the bytes to keep for a re-send (no topic alias). */
  tracked: Buffer | null = null

  constructor(counts: { tooLarge(qos: QoS): void }) {
    this.counts = counts
  }

  /** A connection attaches: MQTT 5 (with its CONNECT's properties) or 3.1.1. */
  attach(v5: boolean, properties: ConnectProperties | undefined): void {
    this.v5 = v5 ? new V5Form(properties) : null
  }

  detach(): void {
    this.v5 = null
  }

  /** How the connection takes raw retained PUBLISHes (RetainedEncoder); null: not at all. */
  get raw(): RawForm | null {
    return this.v5 === null ? RAW_V3 : this.v5.raw
  }

  /** The QoS 0 bytes of a message (3.1.1: the properties are dropped). */
  qos0(msg: Message, retain: boolean, subIds: number[] | null): Buffer | null {
    const form = this.v5
    if (form === null) return msg.tpl.qos0(retain)
    const bytes = form.qos0(msg, retain, subIds)
    if (bytes === null) this.counts.tooLarge(0)
    return bytes
  }

  /**
   * The QoS 1/2 bytes of a message; `tracked` is then set. On null the caller treats the
   * message as sent and acknowledged (forgets it).
   */
  qos12(
    msg: Message,
    qos: QoS,
    id: number,
    retain: boolean,
    subIds: number[] | null,
    resend = false,
  ): Buffer | null {
    const form = this.v5
    if (form === null) return (this.tracked = msg.tpl.qos12(qos, id, resend, retain))
    const bytes = form.qos12(msg, qos, id, retain, subIds, !resend)
    if (bytes === null) {
      this.counts.tooLarge(qos)
      return null
    }
    this.tracked = form.tracked!
    return bytes
  }
}

/** Subscription identifiers and the expiry left, or null when there are none (the shared form). */
function perDelivery(msg: Message, subIds: number[] | null): PublishExtra | null {
  const expiresAt = msg.expiresAt
  if (subIds === null && expiresAt === 0) return null
  const e: PublishExtra = {}
  if (subIds !== null) e.subscriptionIds = subIds
  // [MQTT-3.3.2-6] the interval sent is the one received less the time the message waited here
  if (expiresAt !== 0) e.messageExpiry = Math.max(1, Math.ceil((expiresAt - Date.now()) / 1000))
  return e
}

/** Reads the Variable Byte Integer at `at`: [value, offset after it]. */
function readVarint(buf: Buffer, at: number): [number, number] {
  let value = 0
  let mul = 1
  let i = at
  let b: number
  do {
    b = buf[i++]!
    value += (b & 0x7f) * mul
    mul *= 128
  } while (b & 0x80)
  return [value, i]
}

/** Where a PUBLISH's properties start: after the fixed header, topic and packet id. */
function propertiesAt(buf: Buffer): [remaining: number, body: number, props: number] {
  const [remaining, body] = readVarint(buf, 1)
  const topicLen = (buf[body]! << 8) | buf[body + 1]!
  const qos = (buf[0]! >>> 1) & 3
  return [remaining, body, body + 2 + topicLen + (qos > 0 ? 2 : 0)]
}

/**
 * A QoS 1/2 PUBLISH kept for a re-send, rewritten for a connection of the other version: a
 * session taken over by a client of another version re-sends what is in flight in that
 * client's form. To MQTT 5 it gains an empty property list (the properties of a message
 * first sent to a 3.1.1 client are not kept); to 3.1.1 its properties are dropped.
 */
export function convertPublish(buf: Buffer, toV5: boolean): Buffer {
  const [remaining, body, props] = propertiesAt(buf)
  let cut = props
  let insert = 0
  if (toV5) insert = 1
  else cut = (([len, after]) => after + len)(readVarint(buf, props))
  const rest = remaining - (cut - props) + insert
  const out = Buffer.allocUnsafe(1 + varintSize(rest) + rest)
  out[0] = buf[0]!
  let o = writeVarint(out, 1, rest)
  o += buf.copy(out, o, body, props)
  if (toV5) out[o++] = 0
  buf.copy(out, o, cut)
  return out
}

/** Payload bytes of an encoded PUBLISH (`v5`: with its properties), read from its headers. */
export function publishPayloadLength(bytes: Buffer, v5: boolean): number {
  const [, , props] = propertiesAt(bytes)
  if (!v5) return bytes.length - props
  const [len, after] = readVarint(bytes, props)
  return bytes.length - after - len
}
