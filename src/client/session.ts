import { PetrelError, ProtocolError } from '../errors.js'
import { PacketType, type QoS, SUBACK_FAILURE } from '../protocol/constants.js'
import { encode, encodePublish } from '../protocol/encoder.js'
import type { Packet, PublishPacket, Subscription } from '../protocol/packets.js'
import { Fifo } from '../session/fifo.js'
import { InboundFlow } from '../session/inbound.js'
import { type InflightEntry, OutboundFlow } from '../session/outbound.js'
import { ClientErrorCode, OfflineQueueFullError } from './errors.js'
import type { Pending, PublishJob } from './pending.js'
import type { OutboundStore } from './store.js'
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
}

/** A SUBSCRIBE or UNSUBSCRIBE waiting for its SUBACK or UNSUBACK. */
interface Request {
  readonly packetId: number
  readonly bytes: Buffer
  /** SUBSCRIBE: the filters asked for; null for UNSUBSCRIBE. */
  readonly subscriptions: Subscription[] | null
  readonly topics: string[] | null
  /** The caller's promise; null for the client's own re-subscribe. */
  readonly sub: Pending<number[]> | null
  readonly unsub: Pending<void> | null
}

/** Filters per SUBSCRIBE when re-subscribing after the broker lost the session. */
const RESUBSCRIBE_BATCH = 128

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
  /** Granted subscriptions: re-subscribed when a reconnect finds no session. */
  readonly subscriptions = new Map<string, QoS>()
  private readonly requests = new Map<number, Request>()
  private readonly queue = new Fifo<PublishJob>()
  /** QoS 2 flows in `outbound`: they have a window of their own. */
  private qos2 = 0
  private readonly host: SessionHost
  private readonly writer: Writer
  private readonly store: OutboundStore
  private readonly limits: SessionLimits
  private readonly writePubrel = (bytes: Buffer): void => this.writer.push(bytes)

  constructor(host: SessionHost, writer: Writer, store: OutboundStore, limits: SessionLimits) {
    this.host = host
    this.writer = writer
    this.store = store
    this.limits = limits
    this.outbound = new OutboundFlow<PublishJob | null>(limits.maxInflight)
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

  subscribe(subscriptions: Subscription[], sub: Pending<number[]> | null): void {
    const id = this.takeId(sub)
    if (id === 0) return
    const bytes = encode({ type: PacketType.SUBSCRIBE, packetId: id, subscriptions })
    this.request({ packetId: id, bytes, subscriptions, topics: null, sub, unsub: null })
  }

  unsubscribe(topics: string[], unsub: Pending<void>): void {
    const id = this.takeId(unsub)
    if (id === 0) return
    const bytes = encode({ type: PacketType.UNSUBSCRIBE, packetId: id, topics })
    this.request({ packetId: id, bytes, subscriptions: null, topics, sub: null, unsub })
  }

  private takeId(p: Pending<number[]> | Pending<void> | null): number {
    if (this.outbound.hasFreeId) return this.outbound.reserveId()
    p?.reject(
      new PetrelError(ClientErrorCode.NO_PACKET_ID, 'all 65535 packet ids are in flight; retry later'),
    )
    return 0
  }

  private request(r: Request): void {
    this.requests.set(r.packetId, r)
    if (this.host.online) this.writer.push(r.bytes)
  }

  // --- incoming --------------------------------------------------------------------

  /** A packet from the broker on an accepted connection. Throws a ProtocolError for one a client must not get. */
  handle(p: Packet): void {
    switch (p.type) {
      case PacketType.PUBLISH:
        this.receive(p)
        return
      case PacketType.PUBACK:
        this.complete(this.outbound.ack('puback', p.packetId))
        return
      case PacketType.PUBREC: {
        this.outbound.ack('pubrec', p.packetId, this.writePubrel)
        const e = this.outbound.get(p.packetId)
        if (e !== undefined) this.store.put(e) // now awaiting PUBCOMP, bytes are the PUBREL
        return
      }
      case PacketType.PUBCOMP:
        this.complete(this.outbound.ack('pubcomp', p.packetId))
        return
      case PacketType.PUBREL:
        // [MQTT-4.3.3-2] the flow ends: forget the id, answer PUBCOMP (also for an id not known)
        this.writer.push(this.inbound.release(p.packetId))
        return
      case PacketType.SUBACK:
        this.suback(p.packetId, p.granted)
        return
      case PacketType.UNSUBACK:
        this.unsuback(p.packetId)
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
    if (this.inbound.receive(p.qos, p.packetId)) this.host.deliver(p)
    const ack = this.inbound.answer(p.qos, p.packetId)
    if (ack !== null) this.writer.push(ack)
  }

  private complete(entry: InflightEntry<PublishJob | null> | null): void {
    if (entry === null) return
    if (entry.qos === 2) this.qos2--
    this.store.delete(entry.packetId)
    entry.ctx?.resolve()
    if (this.queue.size > 0) this.pump()
  }

  private suback(packetId: number, granted: number[]): void {
    const r = this.requests.get(packetId)
    if (r === undefined || r.subscriptions === null) return
    this.requests.delete(packetId)
    this.outbound.releaseId(packetId)
    const subs = r.subscriptions
    for (let i = 0; i < subs.length; i++) {
      const g = granted[i]
      if (g !== undefined && g !== SUBACK_FAILURE) this.subscriptions.set(subs[i]!.topic, subs[i]!.qos)
    }
    r.sub?.resolve(granted)
  }

  private unsuback(packetId: number): void {
    const r = this.requests.get(packetId)
    if (r === undefined || r.topics === null) return
    this.requests.delete(packetId)
    this.outbound.releaseId(packetId)
    for (const t of r.topics) this.subscriptions.delete(t)
    r.unsub?.resolve()
  }

  // --- connection changes ------------------------------------------------------------

  /**
   * CONNACK 0. Order: unacknowledged PUBLISH (DUP) and PUBREL first, in their
   * original order [MQTT-4.4.0-1]; then re-subscribe if the broker kept no
   * session; then SUBSCRIBE/UNSUBSCRIBE still unanswered; then the queue.
   */
  resume(sessionPresent: boolean): void {
    // A QoS 1/2 flow interrupted mid-way is re-sent even under a clean session,
    // so its promise can settle; only the broker's own session decides duplicates.
    for (const bytes of this.outbound.resendAll()) this.writer.push(bytes)
    if (!sessionPresent) {
      // The broker has no record of our QoS 2 receipts: a PUBLISH with a known id is a new message.
      this.inbound.clear()
      for (const [id, r] of this.requests) {
        if (r.sub === null && r.unsub === null) {
          this.requests.delete(id)
          this.outbound.releaseId(id)
        }
      }
      // Before the caller's own requests: an UNSUBSCRIBE still unanswered must come after it.
      if (this.limits.resubscribe && this.subscriptions.size > 0) {
        for (const r of this.resubscribe()) this.writer.push(r.bytes)
      }
    }
    for (const r of this.requests.values()) {
      if (r.sub !== null || r.unsub !== null || sessionPresent) this.writer.push(r.bytes)
    }
    this.pump()
  }

  /** Records SUBSCRIBEs for every granted filter and returns them, unsent. */
  private resubscribe(): Request[] {
    const made: Request[] = []
    const add = (batch: Subscription[]): void => {
      const id = this.takeId(null)
      if (id === 0) return
      const bytes = encode({ type: PacketType.SUBSCRIBE, packetId: id, subscriptions: batch })
      const r: Request = { packetId: id, bytes, subscriptions: batch, topics: null, sub: null, unsub: null }
      this.requests.set(id, r)
      made.push(r)
    }
    let batch: Subscription[] = []
    for (const [topic, qos] of this.subscriptions) {
      batch.push({ topic, qos })
      if (batch.length === RESUBSCRIBE_BATCH) {
        add(batch)
        batch = []
      }
    }
    if (batch.length > 0) add(batch)
    return made
  }

  /** The client is done: every promise still open is rejected with `err`. Stored flows stay in the store. */
  failAll(err: Error): void {
    for (const job of this.queue.drain()) job.reject(err)
    for (const e of this.outbound.entries()) e.ctx?.reject(err)
    for (const r of this.requests.values()) {
      r.sub?.reject(err)
      r.unsub?.reject(err)
    }
    this.requests.clear()
  }
}

function publishBytes(job: PublishJob, packetId: number): Buffer {
  return encodePublish({
    type: PacketType.PUBLISH,
    topic: job.topic,
    payload: job.payload,
    qos: job.qos,
    retain: job.retain,
    dup: false, // first delivery [MQTT-3.3.1-3]
    packetId,
  })
}
