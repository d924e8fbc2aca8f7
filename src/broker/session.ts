import type { QoS } from '../protocol/constants.js'
import { emptyMap } from '../session/empty.js'
import { Fifo } from '../session/fifo.js'
import { InboundFlow } from '../session/inbound.js'
import { type AckType, Await, OutboundFlow } from '../session/outbound.js'
import type { Store } from '../store/store.js'
import { DeliveryCounts } from './delivery-counts.js'
import { DeliveryLog } from './delivery-log.js'
import { InflightResend, type ResendHost } from './inflight-resend.js'
import type { Message } from './message.js'
import { DeliveryForm, type LinkOptions } from './publish-form.js'
import { PublisherBrake } from './publisher-brake.js'
import { dropUnreadable, type MayRead } from './read-filter.js'
import { type RawForm, RetainedReplays, type RetainedWalk } from './retained-replay.js'
import type { Queued as QueuedOf, SessionCounters, SessionLimits, SessionLink } from './session-types.js'
import type { SharedGroup } from './shared.js'
import { SharedInflight } from './shared-inflight.js'
import type { Sub } from './subscription.js'

export type { SessionCounters, SessionLimits, SessionLink } from './session-types.js'

/**
 * How many times maxQueuedMessages a client may have queued from other nodes of a cluster before it
 * is disconnected as a slow consumer (those messages were acknowledged: they are not dropped).
 */
const REMOTE_BACKLOG = 64

/** A message on its way to a client (see session-types.ts). */
export type Queued = QueuedOf<Session>

/**
 * A client's session: its subscriptions, its QoS 1/2 flows in both directions
 * and the messages waiting for it. It outlives connections when the client asked
 * for a persistent session (clean session 0) [MQTT-3.1.2-4].
 */
export class Session implements ResendHost {
  readonly clientId: string
  clean: boolean
  /** Subscriptions by filter as subscribed (`$share/{group}/{filter}` for a shared one). */
  subscriptions: Map<string, Sub> = emptyMap()
  /** In-flight QoS 1/2 deliveries; each entry's context is its store key (seq). */
  readonly outbound: OutboundFlow<number>
  readonly inbound: InboundFlow
  link: SessionLink | null = null
  private readonly queue = new Fifo<Queued>()
  private readonly limits: SessionLimits
  /** What it counts in BrokerStats: deliveries, expired, unreadable and dropped messages. */
  private readonly counts: DeliveryCounts
  /**
   * Publishers slowed because this session cannot keep up, and the watch of slow/stuck: made
   * the first time its output backs up (most sessions never do), through `brake`.
   */
  private braking: PublisherBrake | null = null
  /** Outbound QoS 1/2 flows completed: progress of a full queue. */
  acked = 0
  /** Where a persistent session keeps its state; null for a clean session. */
  readonly store: Store | null
  /** QoS 1 deliveries of shared subscriptions in flight (see takeShared). */
  private sharedInflight: SharedInflight<Session> | null = null
  /** Its deliveries in the store (a persistent session's; a clean one keeps none). */
  readonly deliveries: DeliveryLog
  /** When the last connection of a persistent session ended (ms since epoch); 0 while connected. */
  disconnectedAt = 0
  /** When the connection attached now (or last) attached (ms since epoch): a cluster's takeovers compare it. */
  connectedAt = 0
  /**
   * A persistent session of a cluster node: its QoS 1/2 messages come from JetStream (its
   * consumers, see src/cluster/feeds.ts), not from the router, so none is lost with a node.
   */
  fed = false
  /**
   * Seconds the session outlives its connection: 0 not at all, SESSION_NEVER_EXPIRES forever
   * (MQTT 5 Session Expiry Interval; for 3.1.1, set from clean session and `sessionExpiry`).
   */
  expiryInterval = 0
  /** MQTT 5 Topic Aliases the client set on its current connection [MQTT-3.3.2-7]; null until one is. */
  inAliases: Map<number, string> | null = null
  /** How PUBLISHes are encoded for the current connection. */
  private readonly form: DeliveryForm
  /** Re-sends what is in flight when a connection attaches. */
  private readonly resend: InflightResend
  /** Retained messages of new subscriptions still to send; null when none. */
  private replays: RetainedReplays | null = null
  /**
   * Whether the connected client may read a topic (the authorizeRead hooks); null when no
   * hook has a say. Set for each connection before it attaches (see reattach.ts).
   */
  mayRead: MayRead | null = null

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
    this.counts = new DeliveryCounts(clientId, counters, limits)
    this.form = new DeliveryForm(this.counts)
    this.store = clean ? null : store
    this.deliveries = new DeliveryLog(this.store, clientId)
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
    // the session is its host (methods, not three closures per session)
    this.resend = new InflightResend(this.outbound, this)
  }

  get queued(): number {
    return this.queue.size
  }

  /** Unacknowledged QoS 1/2 deliveries allowed on this connection [MQTT-3.3.4-9]. */
  get inflightWindow(): number {
    return this.outbound.maxInflight
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
    group: SharedGroup<Session> | null = null,
  ): void {
    // a retained message, or one read back from the store, may have expired [MQTT-3.3.2-5]
    if (msg.expiresAt !== 0 && msg.expiresAt <= Date.now()) {
      this.counts.expired()
      return
    }
    const link = this.link
    // not for this client's eyes; one offline is asked when it is back (see attach)
    if (this.mayRead !== null && link !== null && !this.mayRead(msg.topic)) {
      this.counts.unreadable()
      return
    }
    if (link === null) {
      // Offline persistent session: QoS 1/2 is queued, up to the limit [MQTT-3.1.2-5].
      if (qos === 0) return
      if (this.queued >= this.limits.maxQueuedMessages) {
        this.counts.drop(qos, 'the queue of an offline client is full (maxQueuedMessages)', 'queueFull')
        return
      }
      this.push(msg.own(), qos, retain, subIds, group)
      return
    }
    if (this.queued === 0) {
      if (qos === 0) {
        const backlog = link.outputBacklog
        const soft = this.limits.maxOutputBuffer >>> 2
        if (backlog > soft && (this.braking?.watch.stuck === true || backlog > this.limits.maxOutputBuffer)) {
          this.counts.drop(
            qos,
            'the output buffer of a slow subscriber is full (maxOutputBuffer)',
            'qos0Budget',
          )
          return
        }
        const bytes = this.form.qos0(msg, retain, subIds)
        if (bytes === null) return
        this.write(link, bytes, msg.payload.length)
        // Past the soft limit the publisher is slowed (not read) instead of letting
        // QoS 0 pile up here; only a subscriber beyond the hard limit, or a stuck one
        // past the soft limit, loses messages.
        if (backlog + bytes.length > soft) this.brake.backedUp(from)
        return
      }
      // a client that acknowledges without reading must not make its output grow: past the
      // soft limit QoS 1/2 waits in the queue, which is bounded, until the socket takes it
      if (this.outbound.hasRoom && link.outputBacklog <= this.limits.maxOutputBuffer >>> 2) {
        this.sendQos12(link, msg, qos, retain, subIds, group)
        return
      }
    }
    // Behind others: keep the order of this topic [MQTT-4.6.0-6].
    if (qos > 0 && msg.remote && this.queued >= this.limits.maxQueuedMessages) {
      // From another node: no publisher here to slow, and an acknowledged message is not dropped
      // while the client reads. Past REMOTE_BACKLOG times the limit it is disconnected as a slow
      // consumer instead (a clean session ends; a persistent one gets QoS 1/2 from JetStream).
      if (this.queued >= this.limits.maxQueuedMessages * REMOTE_BACKLOG) {
        link.dropSlowConsumer()
        return
      }
    } else if (
      this.queued >= this.limits.maxQueuedMessages &&
      (qos === 0 || this.braking?.watch.stuck === true)
    ) {
      // A stuck subscriber slows nobody, so its queue cannot be let grow either.
      this.counts.drop(
        qos,
        'the queue of a slow subscriber is full (maxQueuedMessages)',
        qos === 0 ? 'qos0Budget' : 'queueFull',
      )
      return
    }
    this.push(msg.own(), qos, retain, subIds, group)
    if (
      qos > 0 &&
      (this.queued >= this.limits.maxQueuedMessages || link.outputBacklog > this.limits.maxOutputBuffer >>> 2)
    )
      this.brake.backedUp(from)
  }

  /**
   * The PUBREL answering a PUBREC goes to the connection attached: made once, when the first
   * QoS 2 flow needs it (no closure per acknowledgement, none for sessions without QoS 2).
   */
  private pubrelSender: ((pubrel: Buffer) => void) | null = null
  private get sendPubrel(): (pubrel: Buffer) => void {
    return (this.pubrelSender ??= (pubrel: Buffer): void => {
      if (this.link !== null) this.write(this.link, pubrel)
    })
  }

  /** A PUBACK, PUBREC or PUBCOMP from the client, with its MQTT 5 reason code. */
  ack(type: AckType, packetId: number, reasonCode = 0): void {
    const link = this.link
    if (type === 'pubrec' && reasonCode >= 0x80) {
      // A PUBREC refusing the message ends the flow: no PUBREL follows [MQTT-4.3.3-4] and its
      // id is free again. OutboundFlow ends a flow on PUBCOMP: this one is moved there.
      const e = this.outbound.get(packetId)
      if (e !== undefined && e.awaiting === Await.Pubrec) {
        e.awaiting = Await.Pubcomp
        type = 'pubcomp'
      }
    }
    const done = this.outbound.ack(type, packetId, link ? this.sendPubrel : undefined)
    if (done !== null) {
      this.acked++
      this.sharedInflight?.delete(packetId)
      this.deliveries.forget(done.ctx)
      if (link !== null && this.resend.waiting) this.resend.more(link)
      this.pump()
    } else if (type === 'pubrec' && this.deliveries.kept) {
      // only a QoS 2 flow moves on to PUBREL; a PUBREC for a QoS 1 PUBLISH changes nothing
      const e = this.outbound.get(packetId)
      if (e !== undefined && e.awaiting === Await.Pubcomp) this.deliveries.released(e.ctx, packetId)
    }
  }

  /**
   * A connection takes this session: re-send what is in flight, then what is queued, in
   * the form of that connection's protocol version (`connect`: its CONNECT; by default what
   * the link says of it).
   */
  attach(link: SessionLink, connect: LinkOptions | null = null): void {
    this.link = link
    this.connectedAt = Date.now()
    const version = (connect === null ? link.protocolVersion : connect.protocolVersion) ?? 4
    const v5 = version === 5
    this.counts.outBase = (version - 3) * 3
    const properties = connect === null ? link.connectProperties : connect.properties
    this.form.attach(v5, properties)
    this.inAliases = null // aliases are per connection [MQTT-3.3.2-7]
    // [MQTT-3.3.4-9] never more unacknowledged QoS 1/2 PUBLISHes than the client's Receive Maximum
    const max = this.limits.maxInflight
    const receive = v5 ? (properties?.receiveMaximum ?? 65_535) : 65_535
    this.outbound.maxInflight = receive < max ? receive : max
    if (this.mayRead !== null) {
      // what it may not read, queued or in flight, is dropped before anything is sent
      dropUnreadable(
        this.queue,
        this.outbound,
        this.mayRead,
        (seq) => this.deliveries.forget(seq),
        (id) => this.sharedInflight?.delete(id),
      )
    }
    this.resend.attach(link, v5)
    this.pump()
  }

  /** The connection is gone. Publishers blocked on this session may go on. */
  detach(): void {
    this.link = null
    // a persistent session's retained replays go on when its client is back (attach pumps)
    if (this.clean) {
      this.replays?.stop()
      this.replays = null
    } else this.replays?.pause()
    this.mayRead = null
    this.form.detach()
    this.resend.detach()
    this.braking?.stop()
  }

  /** Sends queued messages while the inflight window has room. */
  pump(): void {
    const link = this.link
    if (link === null) return
    const soft = this.limits.maxOutputBuffer >>> 2
    const queue = this.queue
    for (let q = queue.peek(); q !== undefined; q = queue.peek()) {
      if (link.outputBacklog > soft) break // the socket takes the rest when it drains (see drained)
      const expiresAt = q.msg.expiresAt
      const expired = expiresAt !== 0 && expiresAt <= Date.now()
      // [MQTT-3.3.2-5] expired while it waited, or no longer readable (rules reloaded): deleted, not sent
      if (expired || (this.mayRead !== null && !this.mayRead(q.msg.topic))) {
        queue.shift()
        if (expired) this.counts.expired()
        else this.counts.unreadable()
        this.deliveries.forget(q.seq)
        continue
      }
      if (q.qos > 0) {
        if (!this.outbound.hasRoom) break
        this.sendQueued(link, q)
      } else {
        const bytes = this.form.qos0(q.msg, q.retain, q.subIds)
        if (bytes !== null) this.write(link, bytes, q.msg.payload.length)
      }
      queue.shift()
    }
    if (this.replays !== null && queue.size === 0 && !this.replays.run(link)) this.replays = null
    if (this.braking?.slowing === true && this.queued < this.limits.maxQueuedMessages) this.braking.release()
  }

  /**
   * Sends the retained messages a new subscription matched, paced by what the client takes
   * (see RetainedReplays), after whatever waits in the queue.
   */
  replay(filter: string, messages: RetainedWalk, granted: QoS, subIds: number[] | null): void {
    if (this.link === null) return
    ;(this.replays ??= new RetainedReplays(this, this.limits.maxOutputBuffer >>> 2)).add(
      filter,
      messages,
      granted,
      subIds,
    )
    this.pump()
  }

  /** (RetainedReplays) Raw retained PUBLISHes: not when an authorizeRead hook must see each topic. */
  get rawForm(): RawForm | null {
    return this.mayRead === null ? this.form.raw : null
  }

  /** (RetainedReplays) `packets` QoS 0 retained PUBLISHes in one Buffer, counted as `deliver` would. */
  sendRaw(bytes: Buffer, packets: number, payload: number): void {
    const link = this.link
    if (link === null) return
    this.counts.writtenRaw(bytes.length, packets, payload)
    link.send(bytes, packets)
    if (link.outputBacklog > this.limits.maxOutputBuffer >>> 2) this.brake.backedUp(null)
  }

  /** The subscription to `filter` is gone or replaced: its retained messages not yet sent are not. */
  cancelReplay(filter: string): void {
    this.replays?.cancel(filter)
  }

  /** Whether something waits for the connection's output to drain. */
  get awaitsDrain(): boolean {
    return this.braking?.slowing === true || this.queue.size > 0 || this.replays !== null
  }

  /** Forgets everything: a clean session ends, or a new clean session replaces this one. */
  discard(): void {
    this.sharedInflight = null
    this.replays?.stop()
    this.replays = null
    this.resend.clear()
    this.outbound.clear()
    this.inbound.clear()
    this.queue.drain()
    this.braking?.stop()
  }

  /**
   * (Router) This client left: takes back the messages of its shared subscriptions that
   * it has not taken, for `moveOn` groups (those with another member): QoS 1 in flight
   * and whatever is queued, in order. QoS 2 in flight stays [MQTT-4.8.2-4] [MQTT-4.8.2-5].
   */
  takeShared(moveOn: (group: SharedGroup<Session>) => boolean): Queued[] {
    const forget = this.deliveries.kept ? (seq: number) => this.deliveries.forget(seq) : null
    return SharedInflight.take(this.sharedInflight, this.outbound, this.queue, moveOn, forget)
  }

  /** Puts back a queued message read from the store at start. */
  restoreQueued(q: Queued): void {
    this.queue.push(q)
    this.deliveries.restored(q.seq)
  }

  /**
   * Puts back a message that was in flight before a restart, with its packet id, so that a
   * QoS 2 flow stays exactly once [MQTT-4.3.3]. Past PUBREC only its PUBREL is re-sent; a
   * PUBLISH is encoded when a connection attaches, in that connection's form.
   */
  restoreInflight(q: Queued, packetId: number, released: boolean): void {
    this.deliveries.restored(q.seq)
    this.resend.restore(q, packetId, released)
  }

  private push(
    msg: Message,
    qos: QoS,
    retain: boolean,
    subIds: number[] | null,
    group: SharedGroup<Session> | null,
  ): void {
    const seq = qos > 0 ? this.deliveries.add(msg, qos, retain, 0, subIds) : 0
    this.queue.push({ msg, qos, retain, seq, subIds, group })
  }

  /** First delivery of a message that was not queued. DUP 0 [MQTT-3.3.1-3]. */
  private sendQos12(
    link: SessionLink,
    msg: Message,
    qos: QoS,
    retain: boolean,
    subIds: number[] | null,
    group: SharedGroup<Session> | null,
  ): void {
    // The store keeps the message: own it before building its template (own() drops a built one).
    // So does a shared QoS 1 delivery, to go to another member if this client leaves.
    const keep = group !== null && qos === 1
    if (this.deliveries.kept || keep) msg.own()
    const id = this.outbound.allocateId()
    const bytes = this.form.qos12(msg, qos, id, retain, subIds)
    if (bytes === null) return // too large for this client: as if sent and acknowledged
    const seq = this.deliveries.add(msg, qos, retain, id, subIds)
    // The entry keeps the encoded bytes, not the message: nothing else pins the read buffer.
    this.outbound.track(id, qos as 1 | 2, this.form.tracked!, seq)
    if (keep) this.trackShared(id, { msg, qos, retain, seq, subIds, group })
    this.write(link, bytes, msg.payload.length)
  }

  /** Sends a message that waited in the queue (already stored, if persistent). */
  private sendQueued(link: SessionLink, q: Queued): void {
    const id = this.outbound.allocateId()
    const bytes = this.form.qos12(q.msg, q.qos, id, q.retain, q.subIds)
    if (bytes === null) {
      // too large for this client: as if sent and acknowledged [MQTT-3.1.2-25]
      this.deliveries.forget(q.seq)
      return
    }
    // Its packet id is kept so that after a restart it is re-sent as it was: in order, before the
    // queue [MQTT-4.6.0-1], with the same id [MQTT-4.4.0-1] (for QoS 2, exactly once).
    this.deliveries.sent(q.seq, id)
    this.outbound.track(id, q.qos as 1 | 2, this.form.tracked!, q.seq)
    if (q.group != null && q.qos === 1) this.trackShared(id, q)
    this.write(link, bytes, q.msg.payload.length)
  }

  private trackShared(packetId: number, q: Queued): void {
    ;(this.sharedInflight ??= new SharedInflight()).track(packetId, q)
  }

  /** (ResendHost) A message read from the store, encoded for a re-send on this connection. */
  encodeResend(q: Queued, packetId: number): Buffer | null {
    return this.form.qos12(q.msg, q.qos, packetId, q.retain, q.subIds, true) === null
      ? null
      : this.form.tracked
  }

  /** (ResendHost) */
  forgetDelivery(seq: number): void {
    this.deliveries.forget(seq)
  }

  /** (ResendHost) */
  writeResent(link: SessionLink, bytes: Buffer): void {
    this.write(link, bytes)
  }

  /** Writes a packet, counted (DeliveryCounts.written; `payload` -1: read from the bytes). */
  private write(link: SessionLink, bytes: Buffer, payload = -1): void {
    this.counts.written(bytes, payload)
    link.send(bytes)
  }

  /** (ConsumerWatch) It took too little in a window: its publishers go on. */
  becameStuck(): void {
    this.limits.logger.debug(
      { clientId: this.clientId, queued: this.queued, backlog: this.link?.outputBacklog },
      'subscriber is not keeping up: its publishers are no longer slowed for it',
    )
    this.braking?.release()
  }

  /** True while publishers are slowed on this session's account. */
  get slowing(): boolean {
    return this.braking?.slowing === true
  }

  /** The brake, made when first needed (the output backed up). */
  private get brake(): PublisherBrake {
    return (this.braking ??= new PublisherBrake(this, this.limits))
  }

  /**
   * The socket took all output written so far (or the watch found it caught up): what waited
   * for it goes out, and publishers slowed for this session go on (pump releases them once the
   * queue has room).
   */
  drained(): void {
    if (this.queued > 0 || this.replays !== null) this.pump()
    else this.braking?.release()
  }
}
