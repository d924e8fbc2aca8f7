import type { QoS } from '../protocol/constants.js'
import { Fifo } from '../session/fifo.js'
import { InboundFlow } from '../session/inbound.js'
import { type AckType, Await, OutboundFlow } from '../session/outbound.js'
import type { Store } from '../store/store.js'
import { ConsumerWatch } from './consumer-watch.js'
import type { Message } from './message.js'
import type { Logger } from './options.js'

/** What a session needs from the connection currently attached to it. */
export interface SessionLink {
  /** Queues bytes for the socket (flushed once per event-loop turn). */
  send(bytes: Buffer): void
  /** Bytes written but not yet taken by the socket. */
  readonly outputBacklog: number
  /** Bytes the socket has taken so far: grows while the peer reads. */
  readonly flushed: number
  /** Stops reading this publisher until `resume()`. */
  pauseReading(): void
  resumeReading(): void
  /** Ends the connection as a slow consumer (abnormal: its will is published). */
  dropSlowConsumer(): void
  /** Ends the connection: another one with the same client id takes the session over. */
  takenOver(): void
}

/** A message on its way to this client; `seq` is its key in the store (0 when not stored). */
export interface Queued {
  msg: Message
  qos: QoS
  retain: boolean
  seq: number
  /** MQTT 5: identifiers of the subscriptions that matched, sent with the message; null when none. */
  subIds: number[] | null
}

export interface SessionLimits {
  maxInflight: number
  maxQueuedMessages: number
  maxOutputBuffer: number
  slowConsumerTimeout: number
  stuckConsumerWindow: number
  logger: Logger
  /** Milliseconds on a monotonic clock (performance.now(); a test may give its own). */
  now: () => number
}

export interface SessionCounters {
  messagesSent: number
  bytesSent: number
  dropped: number
}

/**
 * A client's session: its subscriptions, its QoS 1/2 flows in both directions
 * and the messages waiting for it. It outlives connections when the client asked
 * for a persistent session (clean session 0) [MQTT-3.1.2-4].
 */
export class Session {
  readonly clientId: string
  clean: boolean
  readonly subscriptions = new Map<string, QoS>()
  /** In-flight QoS 1/2 deliveries; each entry's context is its store key (seq). */
  readonly outbound: OutboundFlow<number>
  readonly inbound: InboundFlow
  link: SessionLink | null = null
  /** Messages dropped because a queue or an output buffer was full. */
  dropped = 0
  private droppedLogged = 0
  private readonly queue = new Fifo<Queued>()
  private readonly limits: SessionLimits
  private readonly counters: SessionCounters
  /** Publishers slowed because this session cannot keep up. */
  private blocked: Set<SessionLink> | null = null
  /** Tells slow from stuck while this subscriber is backed up (see ConsumerWatch). */
  private readonly watch: ConsumerWatch
  /** Outbound QoS 1/2 flows completed: progress of a full queue. */
  acked = 0
  /** Where a persistent session keeps its state; null for a clean session. */
  readonly store: Store | null
  /** Next store key of a message for this client. */
  nextSeq = 1
  /** When the last connection of a persistent session ended (ms since epoch); 0 while connected. */
  disconnectedAt = 0
  /**
   * Seconds the session outlives its connection: 0 not at all, SESSION_NEVER_EXPIRES forever
   * (MQTT 5 Session Expiry Interval; for 3.1.1, set from clean session and `sessionExpiry`).
   */
  expiryInterval = 0

  constructor(
    clientId: string,
    clean: boolean,
    limits: SessionLimits,
    counters: SessionCounters,
    store: Store | null,
  ) {
    this.clientId = clientId
    this.clean = clean
    this.limits = limits
    this.counters = counters
    this.store = clean ? null : store
    this.outbound = new OutboundFlow<number>(limits.maxInflight)
    const saved = this.store
    this.inbound = new InboundFlow(
      saved === null
        ? null
        : {
            added: (id) => saved.addInboundQos2(clientId, id),
            released: (id) => saved.deleteInboundQos2(clientId, id),
          },
    )
    this.watch = new ConsumerWatch(this, limits)
  }

  get queued(): number {
    return this.queue.size
  }

  /**
   * Delivers a routed message at `qos` (already min(published, granted)).
   * `from` is the publisher's link, paused when this session cannot keep up.
   */
  deliver(
    msg: Message,
    qos: QoS,
    retain: boolean,
    from: SessionLink | null,
    subIds: number[] | null = null,
  ): void {
    const link = this.link
    if (link === null) {
      // Offline persistent session: QoS 1/2 is queued, up to the limit [MQTT-3.1.2-5].
      if (qos === 0) return
      if (this.queued >= this.limits.maxQueuedMessages) {
        this.drop(qos, 'the queue of an offline client is full (maxQueuedMessages)')
        return
      }
      this.push(msg.own(), qos, retain, subIds)
      return
    }
    if (this.queued === 0) {
      if (qos === 0) {
        const backlog = link.outputBacklog
        const soft = this.limits.maxOutputBuffer >>> 2
        if (backlog > soft && (this.watch.stuck || backlog > this.limits.maxOutputBuffer)) {
          this.drop(qos, 'the output buffer of a slow subscriber is full (maxOutputBuffer)')
          return
        }
        const bytes = this.bytes0(msg, retain, subIds)
        this.write(link, bytes)
        // Past the soft limit the publisher is slowed (not read) instead of letting
        // QoS 0 pile up here; only a subscriber beyond the hard limit, or a stuck one
        // past the soft limit, loses messages.
        if (backlog + bytes.length > soft) this.backedUp(from)
        return
      }
      // a client that acknowledges without reading must not make its output grow: past the
      // soft limit QoS 1/2 waits in the queue, which is bounded, until the socket takes it
      if (this.outbound.hasRoom && link.outputBacklog <= this.limits.maxOutputBuffer >>> 2) {
        this.sendQos12(link, msg, qos, retain, subIds)
        return
      }
    }
    // Behind others: keep the order of this topic [MQTT-4.6.0-6].
    if (this.queued >= this.limits.maxQueuedMessages && (qos === 0 || this.watch.stuck)) {
      // A stuck subscriber slows nobody, so its queue cannot be let grow either.
      this.drop(qos, 'the queue of a slow subscriber is full (maxQueuedMessages)')
      return
    }
    this.push(msg.own(), qos, retain, subIds)
    if (
      qos > 0 &&
      (this.queued >= this.limits.maxQueuedMessages || link.outputBacklog > this.limits.maxOutputBuffer >>> 2)
    )
      this.backedUp(from)
  }

  /** A PUBACK, PUBREC or PUBCOMP from the client. */
  ack(type: AckType, packetId: number): void {
    const link = this.link
    const done = this.outbound.ack(type, packetId, link ? (pubrel) => this.write(link, pubrel) : undefined)
    const store = this.store
    if (done !== null) {
      this.acked++
      if (store !== null) store.deleteDelivery(this.clientId, done.ctx)
      this.pump()
    } else if (type === 'pubrec' && store !== null) {
      // only a QoS 2 flow moves on to PUBREL; a PUBREC for a QoS 1 PUBLISH changes nothing
      const e = this.outbound.get(packetId)
      if (e !== undefined && e.awaiting === Await.Pubcomp)
        store.updateDelivery(this.clientId, e.ctx, packetId, true)
    }
  }

  /** A connection takes this session: re-send what is in flight, then what is queued. */
  attach(link: SessionLink): void {
    this.link = link
    for (const bytes of this.outbound.resendAll()) this.write(link, bytes)
    this.pump()
  }

  /** The connection is gone. Publishers blocked on this session may go on. */
  detach(): void {
    this.link = null
    this.watch.stop()
    this.releaseBlocked()
  }

  /** Sends queued messages while the inflight window has room. */
  pump(): void {
    const link = this.link
    if (link === null) return
    const soft = this.limits.maxOutputBuffer >>> 2
    const queue = this.queue
    for (let q = queue.peek(); q !== undefined; q = queue.peek()) {
      if (link.outputBacklog > soft) break // the socket takes the rest when it drains (see drained)
      if (q.qos > 0) {
        if (!this.outbound.hasRoom) break
        this.sendQueued(link, q)
      } else {
        this.write(link, this.bytes0(q.msg, q.retain, q.subIds))
      }
      queue.shift()
    }
    if (this.blocked !== null && this.queued < this.limits.maxQueuedMessages) this.releaseBlocked()
  }

  /** Forgets everything: a clean session ends, or a new clean session replaces this one. */
  discard(): void {
    this.outbound.clear()
    this.inbound.clear()
    this.queue.drain()
    this.watch.stop()
    this.releaseBlocked()
  }

  /** Puts back a queued message read from the store at start. */
  restoreQueued(q: Queued): void {
    this.queue.push(q)
    if (q.seq >= this.nextSeq) this.nextSeq = q.seq + 1
  }

  /** Counts a dropped message; logs the first of each run of drops, not every one. */
  private drop(qos: QoS, why: string): void {
    this.counters.dropped++
    if (this.dropped++ === this.droppedLogged) {
      this.limits.logger.warn(
        { clientId: this.clientId, qos, dropped: this.dropped },
        `dropping messages: ${why}`,
      )
      this.droppedLogged = this.dropped * 2 // then again at 2x, 4x, ... the count
    }
  }

  private push(msg: Message, qos: QoS, retain: boolean, subIds: number[] | null): void {
    let seq = 0
    const store = this.store
    if (store !== null && qos > 0) {
      seq = this.nextSeq++
      store.addDelivery(this.clientId, {
        seq,
        topic: msg.topic,
        payload: msg.payload,
        qos,
        retain,
        packetId: 0,
        released: false,
      })
    }
    this.queue.push({ msg, qos, retain, seq, subIds })
  }

  /** The QoS 0 bytes of a message for this client (its protocol version's form). */
  private bytes0(msg: Message, retain: boolean, _subIds: number[] | null): Buffer {
    return msg.tpl.qos0(retain)
  }

  /** The QoS 1/2 bytes of a message for this client (its protocol version's form). */
  private bytes12(msg: Message, qos: QoS, id: number, retain: boolean, _subIds: number[] | null): Buffer {
    return msg.tpl.qos12(qos, id, false, retain)
  }

  /** First delivery of a message that was not queued. DUP 0 [MQTT-3.3.1-3]. */
  private sendQos12(
    link: SessionLink,
    msg: Message,
    qos: QoS,
    retain: boolean,
    subIds: number[] | null,
  ): void {
    const store = this.store
    // The store keeps the message: own it before building its template (own() drops a built one).
    if (store !== null) msg.own()
    const id = this.outbound.allocateId()
    const bytes = this.bytes12(msg, qos, id, retain, subIds)
    let seq = 0
    if (store !== null) {
      seq = this.nextSeq++
      store.addDelivery(this.clientId, {
        seq,
        topic: msg.topic,
        payload: msg.payload,
        qos,
        retain,
        packetId: id,
        released: false,
      })
    }
    // The entry keeps the encoded bytes, not the message: nothing else pins the read buffer.
    this.outbound.track(id, qos as 1 | 2, bytes, seq)
    this.write(link, bytes)
  }

  /** Sends a message that waited in the queue (already stored, if persistent). */
  private sendQueued(link: SessionLink, q: Queued): void {
    const id = this.outbound.allocateId()
    const bytes = this.bytes12(q.msg, q.qos, id, q.retain, q.subIds)
    // Its packet id is kept so that after a restart it is re-sent as it was: in order, before the
    // queue [MQTT-4.6.0-1], with the same id [MQTT-4.4.0-1] (for QoS 2, exactly once).
    if (this.store !== null) this.store.updateDelivery(this.clientId, q.seq, id, false)
    this.outbound.track(id, q.qos as 1 | 2, bytes, q.seq)
    this.write(link, bytes)
  }

  private write(link: SessionLink, bytes: Buffer): void {
    this.counters.messagesSent++
    this.counters.bytesSent += bytes.length
    link.send(bytes)
  }

  /**
   * This subscriber has more waiting than it should (QoS 0 output past the soft limit, or a
   * full queue). The publisher is slowed (not read) until it drains, unless the subscriber
   * is stuck; and the watch that tells slow from stuck starts.
   */
  private backedUp(from: SessionLink | null): void {
    // Also a client publishing to itself: its acknowledgements still get through while
    // its PUBLISHes are held (Connection.hold), so it can always drain its own queue.
    if (from !== null && !this.watch.stuck) {
      this.blocked ??= new Set()
      if (!this.blocked.has(from)) {
        this.blocked.add(from)
        from.pauseReading()
      }
    }
    this.watch.start()
  }

  /** (ConsumerWatch) It took too little in a window: its publishers go on. */
  becameStuck(): void {
    this.limits.logger.debug(
      { clientId: this.clientId, queued: this.queued, backlog: this.link?.outputBacklog },
      'subscriber is not keeping up: its publishers are no longer slowed for it',
    )
    this.releaseBlocked()
  }

  /** True while publishers are slowed on this session's account. */
  get slowing(): boolean {
    return this.blocked !== null
  }

  /**
   * The socket took all output written so far (or the watch found it caught up): what waited
   * for it goes out, and publishers slowed for this session go on (pump releases them once the
   * queue has room).
   */
  drained(): void {
    if (this.queued > 0) this.pump()
    else if (this.blocked !== null) this.releaseBlocked()
  }

  private releaseBlocked(): void {
    const blocked = this.blocked
    if (blocked === null) return
    this.blocked = null
    for (const l of blocked) l.resumeReading()
  }
}
