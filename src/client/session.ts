import { ProtocolError } from '../errors.js'
import { PacketType, PROTOCOL_V5, type ProtocolVersion, type QoS, ReasonCode } from '../protocol/constants.js'
import type {
  AckProperties,
  Packet,
  PublishPacket,
  SubscribeProperties,
  Subscription,
  UnsubscribeProperties,
} from '../protocol/packets.js'
import { Fifo } from '../session/fifo.js'
import { InboundFlow } from '../session/inbound.js'
import { type InflightEntry, OutboundFlow } from '../session/outbound.js'
import { InboundAliases, OutboundAliases, reasonError } from './aliases.js'
import { publishOverLimits } from './checks.js'
import { ClientErrorCode, OfflineQueueFullError, PublishRefusedError, ServerLimitError } from './errors.js'
import { type Pending, PUBLISH_OK, type PublishJob, publishResult } from './pending.js'
import { publishBytes, publishBytesV5 } from './publish-bytes.js'
import { isFailure } from './reasons.js'
import { NO_LIMITS, type ServerLimits } from './server-limits.js'
import type { OutboundStore } from './store.js'
import { Subscriptions } from './subscriptions.js'
import type { Writer } from './writer.js'

/** What the session needs from the client. */
export interface SessionHost {
  /** True while a connection is accepted (lifecycle state 'connected'). */
  readonly online: boolean
  /** An incoming message, passed on once (QoS 2: once per flow). */
  deliver(packet: PublishPacket): void
}

export interface SessionLimits {
  maxInflight: number
  maxInflightQoS2: number
  maxOfflineQueue: number
  queueQoS0: boolean
  resubscribe: boolean
  /** Default 4 (3.1.1). */
  protocolVersion?: ProtocolVersion
  /** MQTT 5: assign topic aliases to outgoing PUBLISHes. Default true. */
  topicAliases?: boolean
  /** MQTT 5: the Topic Alias Maximum sent in CONNECT. Default 0. */
  topicAliasMaximum?: number
  /** MQTT 5: the Receive Maximum sent in CONNECT. Default 65535. */
  receiveMaximum?: number
}

/**
 * The client's side of an MQTT session: outgoing QoS 1/2 flows (the shared
 * OutboundFlow, mirrored into the OutboundStore), incoming QoS 1/2 (the shared
 * InboundFlow), SUBSCRIBE/UNSUBSCRIBE requests, the granted subscriptions, and
 * the publishes waiting for a connection or for room in the inflight window.
 * It lives as long as the client, across reconnects. It writes through the
 * Writer and does no other I/O.
 */
export class ClientSession {
  readonly outbound: OutboundFlow<PublishJob | null>
  readonly inbound = new InboundFlow()
  /** SUBSCRIBE/UNSUBSCRIBE waiting for acks, and the granted subscriptions. */
  private readonly subs: Subscriptions
  private readonly queue = new Fifo<PublishJob>()
  /** QoS 2 flows in `outbound`: they have a window of their own. */
  private qos2 = 0
  private readonly host: SessionHost
  private readonly writer: Writer
  private readonly store: OutboundStore
  private readonly limits: SessionLimits
  private readonly writePubrel = (bytes: Buffer): void => this.writer.push(bytes)
  /** The version every packet is encoded in. */
  readonly version: ProtocolVersion
  private readonly v5: boolean
  /** MQTT 5: what the broker's CONNACK allows on the current connection. */
  server: ServerLimits = NO_LIMITS
  private readonly aliasesOut = new OutboundAliases()
  private readonly aliasesIn: InboundAliases

  constructor(host: SessionHost, writer: Writer, store: OutboundStore, limits: SessionLimits) {
    this.host = host
    this.writer = writer
    this.store = store
    this.limits = limits
    this.version = limits.protocolVersion ?? 4
    this.v5 = this.version === PROTOCOL_V5
    this.aliasesIn = new InboundAliases(limits.topicAliasMaximum ?? 0)
    this.outbound = new OutboundFlow<PublishJob | null>(limits.maxInflight)
    this.subs = new Subscriptions(this.outbound, this.version)
    // Flows left in the store by an earlier client are resumed first [MQTT-4.4.0-1].
    for (const f of store.load()) {
      this.outbound.restore({
        packetId: f.packetId,
        qos: f.qos,
        awaiting: f.awaiting,
        bytes: f.bytes,
        ctx: null,
      })
      if (f.qos === 2) this.qos2++
    }
  }

  /** Granted subscriptions: re-subscribed when a reconnect finds no session. */
  get subscriptions(): ReadonlyMap<string, QoS> {
    return this.subs.granted
  }

  /** Publishes waiting to be sent. */
  get queued(): number {
    return this.queue.size
  }

  // --- publish -------------------------------------------------------------------

  /** Sends now when possible, else queues in order; rejects when offline and the queue is full. */
  submit(job: PublishJob): void {
    const online = this.host.online
    if (online && this.queue.size === 0 && this.hasRoom(job.qos)) {
      this.send(job)
      return
    }
    if (!online) {
      if (job.qos === 0 && !this.limits.queueQoS0) {
        job.reject(new OfflineQueueFullError(0))
        return
      }
      // The bound holds while offline; online, waiting publishes are held by the inflight window.
      if (this.queued >= this.limits.maxOfflineQueue && this.compact() >= this.limits.maxOfflineQueue) {
        job.reject(new OfflineQueueFullError(this.limits.maxOfflineQueue))
        return
      }
    }
    this.queue.push(job)
  }

  /**
   * QoS 1 and 2 share `maxInflight`; QoS 2 also has `maxInflightQoS2`, because a
   * 3.1.1 broker cannot refuse a PUBLISH: Mosquitto answers one beyond its
   * receive quota (max_inflight_messages, 20) with a PUBREC and drops it.
   */
  private hasRoom(qos: QoS): boolean {
    if (qos === 0) return true
    return this.outbound.hasRoom && (qos === 1 || this.qos2 < this.limits.maxInflightQoS2)
  }

  private send(job: PublishJob): void {
    if (this.v5) {
      this.sendV5(job)
      return
    }
    const qos = job.qos
    if (qos === 0) {
      this.writer.pushSettling(publishBytes(job, 0), job)
      return
    }
    if (qos === 2) this.qos2++
    const id = this.outbound.allocateId()
    const bytes = publishBytes(job, id)
    this.store.put(this.outbound.track(id, qos, bytes, job))
    this.writer.push(bytes)
  }

  /**
   * MQTT 5: checked against the broker's limits first (refused locally, never sent);
   * the bytes kept for re-sending carry the full topic, the bytes written may use an alias.
   */
  private sendV5(job: PublishJob): void {
    const server = this.server
    const qos = job.qos
    const over = publishOverLimits(qos, job.retain, server)
    if (over !== null) {
      job.reject(over)
      return
    }
    const id = qos === 0 ? 0 : this.outbound.allocateId()
    const topic = job.topic
    let alias = this.aliasesOut.get(topic)
    const known = alias > 0
    if (!known && this.limits.topicAliases !== false) alias = this.aliasesOut.assign(topic)
    const full = qos === 0 && alias > 0 ? null : publishBytesV5(job, id, 0, false, this.aliasesOut)
    const wire = alias > 0 ? publishBytesV5(job, id, alias, known, this.aliasesOut) : full!
    const max = server.maximumPacketSize
    if (wire.length > max || (full !== null && full.length > max)) {
      if (alias > 0 && !known) this.aliasesOut.forget(topic)
      const size = full === null ? wire.length : full.length
      const msg = `a PUBLISH of ${size} bytes is over the broker's Maximum Packet Size of ${max}`
      job.reject(new ServerLimitError('maximumPacketSize', ReasonCode.PACKET_TOO_LARGE, msg)) // [MQTT-3.2.2-15]
      return
    }
    if (qos === 0) {
      this.writer.pushSettling(wire, job)
      return
    }
    if (qos === 2) this.qos2++
    this.store.put(this.outbound.track(id, qos, full!, job))
    this.writer.push(wire)
  }

  /** Sends queued publishes while online and the window has room. */
  private pump(): void {
    const q = this.queue
    for (let job = q.peek(); job !== undefined; job = q.peek()) {
      if (!job.settled) {
        if (!this.hasRoom(job.qos)) break
        this.send(job)
      }
      q.shift()
    }
  }

  /** Drops queued publishes that already settled (timed out); returns how many remain. */
  private compact(): number {
    this.queue.retain((j) => !j.settled)
    return this.queue.size
  }

  // --- subscribe -------------------------------------------------------------------

  subscribe(
    subscriptions: Subscription[],
    sub: Pending<number[]> | null,
    properties?: SubscribeProperties,
  ): void {
    const bytes = this.subs.subscribe(subscriptions, sub, properties)
    if (bytes !== null && this.host.online) this.writer.push(bytes)
  }

  unsubscribe(topics: string[], unsub: Pending<number[]>, properties?: UnsubscribeProperties): void {
    const bytes = this.subs.unsubscribe(topics, unsub, properties)
    if (bytes !== null && this.host.online) this.writer.push(bytes)
  }

  // --- incoming --------------------------------------------------------------------

  /** A packet from the broker on an accepted connection. Throws a ProtocolError for one a client must not get. */
  handle(p: Packet): void {
    switch (p.type) {
      case PacketType.PUBLISH:
        this.receive(p)
        return
      case PacketType.PUBACK: {
        const rc = p.reasonCode
        if (rc !== undefined && isFailure(rc)) {
          this.refused(this.outbound.refuse('puback', p.packetId), rc, p.properties)
        } else this.complete(this.outbound.ack('puback', p.packetId), rc, p.properties)
        return
      }
      case PacketType.PUBREC: {
        const rc = p.reasonCode
        if (rc !== undefined && isFailure(rc)) {
          // [MQTT-4.3.3-4] the flow ends here: no PUBREL
          this.refused(this.outbound.refuse('pubrec', p.packetId), rc, p.properties)
          return
        }
        this.outbound.ack('pubrec', p.packetId, this.writePubrel)
        const e = this.outbound.get(p.packetId)
        if (e !== undefined) this.store.put(e) // now awaiting PUBCOMP, bytes are the PUBREL
        return
      }
      case PacketType.PUBCOMP: {
        const rc = p.reasonCode
        const e = this.outbound.ack('pubcomp', p.packetId)
        if (rc !== undefined && isFailure(rc)) this.refused(e, rc, p.properties)
        else this.complete(e, rc, p.properties)
        return
      }
      case PacketType.PUBREL:
        // [MQTT-4.3.3-2] the flow ends: forget the id, answer PUBCOMP (also for an id not known)
        this.writer.push(this.inbound.release(p.packetId))
        return
      case PacketType.SUBACK:
        this.subs.suback(p.packetId, p.granted)
        return
      case PacketType.UNSUBACK:
        this.subs.unsuback(p.packetId, p.reasonCodes)
        return
      case PacketType.PINGRESP:
        return
      default:
        throw new ProtocolError(
          ClientErrorCode.UNEXPECTED_PACKET,
          `the broker sent packet type ${p.type}, which a client must not receive`,
          'MQTT-2.2.1',
        )
    }
  }

  /** QoS 1: passed on, PUBACK [MQTT-4.3.2-2]; QoS 2: passed on once per flow, PUBREC every time [MQTT-4.3.3-2]. */
  private receive(p: PublishPacket): void {
    if (this.v5) {
      this.aliasesIn.resolve(p)
      if (p.qos === 2 && this.inbound.size >= (this.limits.receiveMaximum ?? 65_535)) {
        // QoS 2 flows the broker has not finished (no PUBREL yet) beyond our Receive Maximum [MQTT-3.3.4-9]
        if (this.inbound.receive(2, p.packetId)) {
          throw reasonError(
            ReasonCode.RECEIVE_MAXIMUM_EXCEEDED,
            'the broker went over our Receive Maximum',
            'MQTT-3.3.4-9',
          )
        }
      }
    }
    if (this.inbound.receive(p.qos, p.packetId)) this.host.deliver(p)
    const ack = this.inbound.answer(p.qos, p.packetId)
    if (ack !== null) this.writer.push(ack)
  }

  private complete(
    entry: InflightEntry<PublishJob | null> | null,
    reasonCode?: number,
    properties?: AckProperties,
  ): void {
    if (entry === null) return
    this.ended(entry)?.resolve(
      (reasonCode ?? 0) === 0 && properties === undefined
        ? PUBLISH_OK
        : publishResult(reasonCode ?? 0, properties),
    )
    if (this.queue.size > 0) this.pump()
  }

  /** A flow ended (acknowledged or refused): its id and QoS 2 slot are free again; returns its job. */
  private ended(entry: InflightEntry<PublishJob | null>): PublishJob | null {
    if (entry.qos === 2) this.qos2--
    this.store.delete(entry.packetId)
    return entry.ctx
  }

  /** MQTT 5: the broker refused the publish; its id is free again. */
  private refused(
    entry: InflightEntry<PublishJob | null> | null,
    reasonCode: number,
    properties?: AckProperties,
  ): void {
    if (entry === null) return
    this.ended(entry)?.reject(
      new PublishRefusedError(reasonCode, properties?.reasonString, properties?.userProperties),
    )
    if (this.queue.size > 0) this.pump()
  }

  // --- connection changes ------------------------------------------------------------

  /**
   * CONNACK 0. Order: unacknowledged PUBLISH (DUP) and PUBREL first, in their
   * original order [MQTT-4.4.0-1]; then re-subscribe if the broker kept no
   * session; then SUBSCRIBE/UNSUBSCRIBE still unanswered; then the queue.
   */
  resume(sessionPresent: boolean, server: ServerLimits = NO_LIMITS): void {
    if (this.v5) {
      // Limits and aliases are the connection's, never carried over [MQTT-3.3.2-7] [MQTT-4.9.0-1]
      this.server = server
      this.outbound.maxInflight = Math.min(this.limits.maxInflight, server.receiveMaximum)
      this.aliasesOut.reset(server.topicAliasMaximum)
      this.aliasesIn.reset()
    }
    // A QoS 1/2 flow interrupted mid-way is re-sent even under a clean session,
    // so its promise can settle; only the broker's own session decides duplicates.
    for (const bytes of this.outbound.resendAll()) this.writer.push(bytes)
    // The broker has no record of our QoS 2 receipts: a PUBLISH with a known id is a new message.
    if (!sessionPresent) this.inbound.clear()
    for (const bytes of this.subs.resume(sessionPresent, this.limits.resubscribe)) this.writer.push(bytes)
    this.pump()
  }

  /** The client is done: every promise still open is rejected with `err`. Stored flows stay in the store. */
  failAll(err: Error): void {
    for (const job of this.queue.drain()) job.reject(err)
    for (const e of this.outbound.entries()) e.ctx?.reject(err)
    this.subs.failAll(err)
  }
}
