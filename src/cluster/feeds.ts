import { createHash } from 'node:crypto'
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import type { ClusterHost } from '../broker/cluster-bridge.js'
import { parseShared, qosOf } from '../broker/subscription.js'
import type { QoS } from '../protocol/constants.js'
import { bundleParts, decodeEnvelope, isBundle } from './envelope.js'
import { DURABLE_PREFIX, PREFIX_LENGTH } from './interest.js'
import { MESSAGES_STREAM } from './link.js'
import type { SessionRecord } from './session-records.js'
import { filterToSubjects, subjectToTopic } from './subject.js'

/** How long JetStream waits for an acknowledgement before it sends a message again (a node died). */
const ACK_WAIT_MS = 10_000
/**
 * How long a pull request stays open with JetStream. A feed stopped on this node leaves its last one
 * open until then (it cannot be cancelled), and JetStream may hand it messages, which go to no one
 * and come again after the ack wait: shorter than the ack wait, so that they then go to the node the
 * client is on, not to the same forgotten request again (with the default of 30 s, a message was
 * seen missing for more than 30 s).
 */
const PULL_EXPIRES_MS = 2_000

/**
 * A JetStream message handed to a session (one MQTT message, or a bundle of several to one topic)
 * and not yet done with: acknowledged to JetStream when none of its deliveries is left.
 */
export interface Held {
  /** Its latest delivery by JetStream (null: a QoS 2 flow past PUBREC restored from the record). */
  js: JsMsg | null
  streamSeq: number
  /** Its deliveries to the session not yet done (QoS 1: acknowledged; QoS 2: past PUBREC). */
  remaining: number
}

/** One delivery to the session of a JetStream message's MQTT message. */
export interface Fed {
  held: Held
  /** PUBREC came: JetStream has been told, the record keeps [packet id, stream sequence]. */
  released: boolean
}

interface Feed {
  filter: string
  name: string
  messages: ConsumerMessages | null
}

interface ClientFeeds {
  recordId: string
  /** By consumer name. */
  feeds: Map<string, Feed>
  /** Deliveries to the session of JetStream messages, by delivery key (DeliveryLog seq). */
  fed: Map<number, Fed>
  /** The JetStream messages handed to the session, by stream sequence. */
  bySeq: Map<number, Held>
  running: boolean
}

/**
 * A persistent session's QoS 1/2 messages, from JetStream: each of its QoS 1/2 subscriptions is
 * a durable consumer of the message stream (one per subject of its filter), made before its
 * SUBACK leaves, named after the session's incarnation and the subject. While the client is
 * connected, the node that holds its session consumes them into the session; a message is
 * acknowledged to JetStream when its flow ends (PUBACK; for QoS 2, PUBREC once the record keeps
 * it), so the messages of a client that is away, or whose node died, wait in JetStream.
 */
export class Feeds {
  private readonly clients = new Map<string, ClientFeeds>()
  /** The message being handed to a session now: the store's addDelivery takes it (see ClusterStore). */
  feeding: Held | null = null

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly host: ClusterHost,
    private readonly maxAckPending: number,
  ) {}

  private client(clientId: string, recordId: string): ClientFeeds {
    let c = this.clients.get(clientId)
    if (c === undefined || c.recordId !== recordId) {
      if (c !== undefined) this.stop(clientId, false)
      c = { recordId, feeds: new Map(), fed: new Map(), bySeq: new Map(), running: false }
      this.clients.set(clientId, c)
    }
    return c
  }

  /** Whether `filter` is served by consumers: a QoS 1/2 subscription that is not shared. */
  static durable(filter: string, qos: QoS): boolean {
    return qos > 0 && parseShared(filter) === null
  }

  /** Makes the consumers of a QoS 1/2 subscription; the promises settle once they exist. */
  ensure(clientId: string, record: SessionRecord, filter: string): Promise<unknown>[] {
    const c = this.client(clientId, record.id)
    const out: Promise<unknown>[] = []
    for (const subject of filterToSubjects(filter)) {
      const name = consumerName(record.id, subject)
      if (c.feeds.has(name)) continue
      const feed: Feed = { filter, name, messages: null }
      c.feeds.set(name, feed)
      out.push(
        this.jsm.consumers
          .add(MESSAGES_STREAM, {
            durable_name: name,
            filter_subject: DURABLE_PREFIX + subject,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.New,
            ack_wait: nanos(ACK_WAIT_MS),
            max_ack_pending: this.maxAckPending,
          })
          .then(() => {
            if (c.running && c.feeds.get(name) === feed) return this.consume(clientId, c, feed)
            return undefined
          }),
      )
    }
    return out
  }

  /** Deletes the consumers of a subscription gone (or now QoS 0). */
  drop(clientId: string, record: SessionRecord, filter: string): Promise<unknown>[] {
    const c = this.client(clientId, record.id)
    const out: Promise<unknown>[] = []
    for (const subject of filterToSubjects(filter)) {
      const name = consumerName(record.id, subject)
      const feed = c.feeds.get(name)
      if (feed !== undefined) {
        c.feeds.delete(name)
        feed.messages?.stop()
      }
      out.push(this.deleteConsumer(name))
    }
    return out
  }

  /** Deletes every consumer of the session `record` (it ended). */
  deleteAll(clientId: string, record: SessionRecord): Promise<unknown>[] {
    const c = this.clients.get(clientId)
    if (c !== undefined && c.recordId === record.id) {
      this.stop(clientId, false)
      this.clients.delete(clientId)
    }
    const out: Promise<unknown>[] = []
    for (const [filter, sub] of record.subs) {
      const qos = qosOf(sub)
      if (!Feeds.durable(filter, qos)) continue
      for (const subject of filterToSubjects(filter))
        out.push(this.deleteConsumer(consumerName(record.id, subject)))
    }
    return out
  }

  private deleteConsumer(name: string): Promise<unknown> {
    return this.jsm.consumers.delete(MESSAGES_STREAM, name).catch((err: unknown) => {
      if (!/not found/i.test(String(err)))
        this.host.log.debug({ err, name }, 'cluster: a consumer was not deleted')
    })
  }

  /** The client is connected here: its consumers feed its session. */
  start(clientId: string, record: SessionRecord): void {
    const c = this.client(clientId, record.id)
    if (c.running) return
    c.running = true
    for (const [filter, sub] of record.subs) {
      const qos = qosOf(sub)
      if (!Feeds.durable(filter, qos)) continue
      for (const subject of filterToSubjects(filter)) {
        const name = consumerName(record.id, subject)
        let feed = c.feeds.get(name)
        if (feed === undefined) {
          feed = { filter, name, messages: null }
          c.feeds.set(name, feed)
        }
        if (feed.messages === null) void this.consume(clientId, c, feed)
      }
    }
  }

  /**
   * The client left (or its session moves to another node: `handOver`, and what was handed to it
   * and not past PUBREC goes back to JetStream at once, for the next node).
   */
  stop(clientId: string, handOver: boolean): void {
    const c = this.clients.get(clientId)
    if (c === undefined) return
    c.running = false
    for (const feed of c.feeds.values()) {
      feed.messages?.stop()
      feed.messages = null
    }
    if (handOver) {
      for (const h of c.bySeq.values()) if (h.remaining > 0) h.js?.nak()
      this.clients.delete(clientId)
    }
  }

  /** The node leaves: every session's feed stops, and what it was handed goes back to JetStream for the next node. */
  stopAll(): void {
    for (const clientId of [...this.clients.keys()]) this.stop(clientId, true)
  }

  private async consume(clientId: string, c: ClientFeeds, feed: Feed): Promise<void> {
    try {
      const consumer = await this.js.consumers.get(MESSAGES_STREAM, feed.name)
      if (!c.running || c.feeds.get(feed.name) !== feed || feed.messages !== null) return
      feed.messages = await consumer.consume({
        max_messages: Math.min(256, this.maxAckPending),
        expires: PULL_EXPIRES_MS,
        callback: (m) => this.receive(clientId, c, feed, m),
      })
      if (!c.running) feed.messages.stop()
    } catch (err) {
      this.host.log.warn({ err, clientId, filter: feed.filter }, 'cluster: a session feed did not start')
    }
  }

  private receive(clientId: string, c: ClientFeeds, feed: Feed, m: JsMsg): void {
    const session = this.host.session(clientId)
    if (!c.running || session === undefined) {
      m.nak()
      return
    }
    const known = c.bySeq.get(m.seq)
    if (known !== undefined) {
      // sent again by JetStream (its wait ran out while the client was away): the session has it
      if (known.remaining > 0) known.js = m
      else m.ack()
      return
    }
    const sub = session.subscriptions.get(feed.filter)
    const granted = sub === undefined ? 0 : qosOf(sub)
    if (granted === 0) {
      m.ack() // the subscription is gone or now QoS 0
      return
    }
    if (this.isReleased(clientId, m.seq)) {
      m.ack() // past PUBREC already (the node that had it died before telling JetStream)
      return
    }
    let parts: Uint8Array[]
    try {
      parts = isBundle(m.data) ? bundleParts(m.data) : [m.data]
    } catch (err) {
      this.host.log.debug({ err, subject: m.subject }, 'cluster: a malformed bundle in a session feed')
      m.term()
      return
    }
    if (session.queued + parts.length > this.maxAckPending) {
      m.nak(1000) // the session's queue is full: later
      return
    }
    const topic = subjectToTopic(m.subject.slice(PREFIX_LENGTH))
    const options = typeof sub === 'number' ? null : sub!
    const subIds = options !== null && options.subscriptionId !== 0 ? [options.subscriptionId] : null
    const held: Held = { js: m, streamSeq: m.seq, remaining: parts.length }
    for (const part of parts) {
      let msg: ReturnType<typeof decodeEnvelope>
      try {
        msg = decodeEnvelope(topic, part)
      } catch (err) {
        this.host.log.debug({ err, subject: m.subject }, 'cluster: a malformed message in a session feed')
        held.remaining--
        continue
      }
      // [MQTT-3.8.3-3] not its own message back
      if (options?.noLocal === true && msg.origin === clientId) {
        held.remaining--
        continue
      }
      const qos = (msg.qos < granted ? msg.qos : granted) as QoS
      const retain = options?.retainAsPublished === true && msg.retain
      this.feeding = held
      session.deliver(msg, qos, retain, null, subIds)
      if (this.feeding !== null) {
        // not taken: expired, not readable, or too large for the client
        this.feeding = null
        held.remaining--
      }
    }
    if (held.remaining === 0) m.ack()
    else c.bySeq.set(m.seq, held)
  }

  /** Whether the held record says stream sequence `seq` is past PUBREC (see isReleased's caller). */
  isReleased: (clientId: string, seq: number) => boolean = () => false

  /** The session took the message being fed, as its delivery `seq`. */
  added(clientId: string, seq: number): void {
    const held = this.feeding
    if (held === null) return
    this.feeding = null
    const c = this.clients.get(clientId)
    if (c === undefined) {
      held.js?.nak()
      return
    }
    c.fed.set(seq, { held, released: false })
  }

  /** A QoS 2 flow past PUBREC restored from the record, as delivery `seq`. */
  restored(clientId: string, recordId: string, seq: number, streamSeq: number): void {
    const c = this.client(clientId, recordId)
    const held: Held = { js: null, streamSeq, remaining: 0 }
    c.fed.set(seq, { held, released: true })
    c.bySeq.set(streamSeq, held)
  }

  /** The delivery `seq`, if it came from JetStream. */
  get(clientId: string, seq: number): Fed | undefined {
    return this.clients.get(clientId)?.fed.get(seq)
  }

  /** A QoS 2 delivery's PUBREC came: its JetStream message is done with (the caller tells JetStream). */
  release(f: Fed): void {
    if (f.released) return
    f.released = true
    f.held.remaining--
  }

  /**
   * Delivery `seq` is done (acknowledged, or dropped): forgotten, and its JetStream message
   * acknowledged when it was the last of it (a QoS 2 one was at PUBREC). Returns the delivery.
   */
  take(clientId: string, seq: number): Fed | undefined {
    const c = this.clients.get(clientId)
    const f = c?.fed.get(seq)
    if (f === undefined) return undefined
    c!.fed.delete(seq)
    const held = f.held
    if (f.released) {
      if (held.remaining === 0) c!.bySeq.delete(held.streamSeq)
      return f
    }
    if (--held.remaining === 0) {
      c!.bySeq.delete(held.streamSeq)
      held.js?.ack()
    }
    return f
  }
}

/** A consumer's durable name: the session's incarnation and the subject, hashed (names are short and plain). */
export function consumerName(recordId: string, subject: string): string {
  return `p${createHash('sha256').update(recordId).update('\n').update(subject).digest('hex').slice(0, 40)}`
}
