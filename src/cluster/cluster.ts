import { randomBytes } from 'node:crypto'
import { type JetStreamClient, type JetStreamManager, jetstream } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ClusterBridge, ClusterHost, ClusterStatus } from '../broker/cluster-bridge.js'
import type { Message } from '../broker/message.js'
import { SESSION_NEVER_EXPIRES } from '../protocol/constants.js'
import type { Store } from '../store/store.js'
import { Bundler } from './bundler.js'
import { ClusterStore } from './cluster-store.js'
import {
  bundleParts,
  decodeEnvelope,
  encodeBundle,
  encodeEnvelope,
  envelopeOrigin,
  envelopeRetry,
  envelopeSeq,
  isBundle,
  stampSeq,
} from './envelope.js'
import { Feeds } from './feeds.js'
import { DURABLE_PREFIX, Interest, PREFIX_LENGTH, QOS0_PREFIX } from './interest.js'
import { connectNats, defaultNodeName, ensureStreams, MESSAGES_STREAM } from './link.js'
import type { ClusterOptions } from './options.js'
import { JetStreamPublisher } from './publisher.js'
import { RetainedSync } from './retained-sync.js'
import { type SessionRecord, SessionRecords } from './session-records.js'
import { fromToken, subjectToTopic, tokenOf, topicToSubject } from './subject.js'

/** A client connected on some node: `petrel-ctl.connected.{client id token}` (not under `petrel.`, whose second token is a wildcard in every interest), data `{origin} {at}`. */
const CONNECTED_PREFIX = 'petrel-ctl.connected.'
/** Every node's heartbeat, once every HEARTBEAT_MS: its name and figures, as JSON. */
const HEARTBEAT = 'petrel-ctl.heartbeat'
const HEARTBEAT_MS = 2000
/** A node not heard from for this long is no longer listed. */
const NODE_GONE_MS = 10_000
/** Where a node is asked to hand a session over: `petrel-ctl.release.{origin}`, data the client id. */
const RELEASE_PREFIX = 'petrel-ctl.release.'
/** How long a node waits for another to hand a session over before it takes the bucket's record as it is. */
const RELEASE_TIMEOUT_MS = 3000
/** How often a node looks for sessions that expired while no node held them. */
const SWEEP_MS = 30_000
/** What a NATS message holds besides the packet's payload: the envelope and its properties (the subject is apart). */
const ENVELOPE_ROOM = 4096
/** How long a CONNECT waits for its session to be looked up and handed over before it is refused. */
const CLAIM_TIMEOUT_MS = 8000
/** How long a node leaving waits for NATS to take what it still has to write. */
const CLOSE_WAIT_MS = 3000
/** How long a node tries to set up the cluster's stream and buckets before it gives up. */
const JOIN_TIMEOUT_MS = 30_000

/** What a node says of itself in its heartbeat. */
interface Heartbeat {
  node: string
  origin: number
  connections: number
  at: number
}

/**
 * One node's membership of the cluster: its NATS connection, the interest its local
 * subscriptions express, the retained messages it shares, and the messages it forwards.
 */
export class Cluster implements ClusterBridge {
  readonly node: string
  get maxPacketSize(): number {
    return Math.max(1024, (this.nc.info?.max_payload ?? 1024 * 1024) - ENVELOPE_ROOM)
  }
  /** This process's number in envelopes (random: a restarted node is a new origin). */
  private readonly origin = randomBytes(4).readUInt32BE(0)
  private seq = 0
  private readonly js: JetStreamClient
  private readonly interest: Interest
  private readonly retained: RetainedSync
  /** What this turn's commit waits for besides the publisher's batch, and whose it is (see commit). */
  private pending: Pending[] = []
  /** When a commit last logged that JetStream did not store messages (one line a second at most). */
  private lastRefusal = 0
  private readonly publisher: JetStreamPublisher
  /** This turn's QoS 0 and QoS 1 messages, by subject, to leave as one NATS message each. */
  private readonly bundler = new Bundler((subject, envelopes, owners) =>
    this.send(subject, envelopes, owners),
  )
  /** The last seq taken from each origin: a message matching several subscriptions comes once per subscription. */
  private readonly lastSeq = new Map<number, number>()
  private readonly nodes = new Map<string, Heartbeat>()
  private forwarded = 0
  private received = 0
  private readonly timer: NodeJS.Timeout
  private readonly sweeper: NodeJS.Timeout
  private readonly started = Date.now()
  /** Whether the NATS connection is up now. */
  private up = true
  private readonly records: SessionRecords
  private readonly feeds: Feeds
  readonly store: Store
  private readonly sessionStore: ClusterStore
  private readonly jsm: JetStreamManager
  private stream: ClusterStatus['stream'] = null

  private constructor(
    private readonly nc: NatsConnection,
    private readonly host: ClusterHost,
    node: string,
    private readonly connections: () => number,
    jsm: JetStreamManager,
    maxAckPending: number,
  ) {
    this.node = node
    this.jsm = jsm
    this.js = jetstream(nc)
    this.publisher = new JetStreamPublisher(nc)
    this.interest = new Interest(nc, (subject, data, shared) => this.receive(subject, data, shared))
    this.retained = new RetainedSync(nc, host, this.origin)
    this.records = new SessionRecords(nc)
    this.feeds = new Feeds(jsm, this.js, host, maxAckPending)
    this.feeds.isReleased = (clientId, seq) =>
      this.records.held.get(clientId)?.released.some(([, s]) => s === seq) === true
    this.sessionStore = new ClusterStore(
      this.records,
      this.feeds,
      node,
      this.origin,
      (clientId) => {
        const session = host.session(clientId)
        if (session !== undefined) session.fed = true
      },
      (clientId, err) => {
        this.refused(err, 1)
        host.unstored(clientId)
      },
    )
    this.store = this.sessionStore
    nc.subscribe(RELEASE_PREFIX + this.origin, {
      callback: (err, m) => {
        if (err === null) void this.handOver(m.string()).then(() => m.respond('ok'))
      },
    })
    nc.subscribe(`${CONNECTED_PREFIX}*`, {
      callback: (err, m) => {
        if (err === null) this.announced(m.subject, m.string())
      },
    })
    nc.subscribe(HEARTBEAT, {
      callback: (err, m) => {
        if (err !== null) return
        try {
          const hb = m.json<Heartbeat>()
          if (hb.origin !== this.origin) this.nodes.set(hb.node, hb)
        } catch {
          // not a heartbeat of ours
        }
      },
    })
    this.timer = setInterval(() => this.heartbeat(), HEARTBEAT_MS)
    this.timer.unref()
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS)
    this.sweeper.unref()
    void this.watchStatus()
  }

  /**
   * Joins: connects to NATS, makes the stream and buckets, loads the retained messages.
   * `maxAckPending`: how many messages of one subscription JetStream hands a session at once.
   */
  static async join(
    o: ClusterOptions,
    host: ClusterHost,
    connections: () => number,
    maxAckPending: number,
  ): Promise<Cluster> {
    const node = o.node ?? defaultNodeName()
    const nc = await connectNats(o, node)
    try {
      const replicas = o.replicas ?? 1
      // nodes starting together make the same stream and buckets at once, and a NATS cluster
      // just started answers JetStream requests late: each step is tried again for a while
      const until = Date.now() + JOIN_TIMEOUT_MS
      const jsm = await persist(() => ensureStreams(nc, replicas), until)
      const c = new Cluster(nc, host, node, connections, jsm, maxAckPending)
      await persist(() => c.records.start(replicas), until)
      await persist(() => c.retained.start(replicas), until)
      c.heartbeat()
      host.log.info({ node, server: nc.getServer(), replicas }, 'joined the cluster')
      return c
    } catch (err) {
      await nc.close().catch(() => undefined)
      const why = err instanceof Error ? err.message : String(err)
      throw new Error(`cannot join the cluster: JetStream is not ready (${why})`)
    }
  }

  forward(msg: Message): void {
    if (msg.topic.startsWith('$SYS')) return // each node's own
    const prefix = msg.qos === 0 ? QOS0_PREFIX : DURABLE_PREFIX
    const subject = prefix + topicToSubject(msg.topic)
    this.forwarded++
    try {
      if (msg.qos < 2) {
        // QoS 0 and 1 leave at the end of the turn, one NATS message per subject (see Bundler)
        if (this.bundler.add(subject, encodeEnvelope(msg, this.origin, 0), msg.origin)) this.host.wrote()
        return
      }
      // A persistent session's QoS 2 PUBLISH: its record (which now has the packet id and a nonce)
      // is written first, then the message goes to JetStream under an id made of them: sent again
      // to another node after this one died, it is stored once (see resent).
      const inbound = this.sessionStore.lastInbound
      this.sessionStore.lastInbound = null
      if (msg.qos === 2 && inbound !== null && inbound.clientId === msg.origin) {
        const msgID = messageId(inbound.clientId, inbound.packetId, inbound.nonce)
        msg.own() // kept past this turn
        this.pending.push({
          // its sequence is taken when it is sent: receivers take a node's messages in sequence order
          p: this.records
            .writeNow(inbound.clientId)
            .then(() =>
              this.publisher.publishNow(
                subject,
                encodeEnvelope(msg, this.origin, ++this.seq),
                msg.origin,
                msgID,
              ),
            ),
          owner: msg.origin,
        })
      } else this.publisher.publish(subject, encodeEnvelope(msg, this.origin, ++this.seq), msg.origin)
      this.host.wrote()
    } catch (err) {
      // the connection is closed (the broker is closing): local delivery is done, nothing more to do
      this.host.log.debug({ err, topic: msg.topic }, 'cluster: a message could not be forwarded')
    }
  }

  /** Sends one subject's envelopes of this turn: their sequences taken now, in the order they leave. */
  private send(subject: string, envelopes: Buffer[], owners: (string | null)[]): void {
    for (const e of envelopes) stampSeq(e, ++this.seq)
    const data = envelopes.length === 1 ? envelopes[0]! : encodeBundle(envelopes)
    try {
      if (subject.startsWith(QOS0_PREFIX)) this.nc.publish(subject, data)
      else this.publisher.publish(subject, data, owners.length === 1 ? owners[0]! : owners)
    } catch (err) {
      // closed: the broker is closing (a QoS 1 publish that cannot leave failed its batch: see publisher.ts)
      this.host.log.debug({ err, subject }, 'cluster: messages could not be forwarded')
    }
  }

  resent(msg: Message, packetId: number): void {
    const clientId = msg.origin
    if (clientId === null || msg.topic.startsWith('$SYS')) return
    const nonce = this.sessionStore.nonceOf(clientId, packetId)
    if (nonce === null) return // received here: stored before its PUBREC, nothing to do
    // The node it was sent to first died before its PUBREC: JetStream may have it or not. Sent
    // again under the same id, it is stored once; the sessions' feeds get it from there. Only
    // when it was not there yet do the other nodes' (and this one's) other subscribers get it.
    const tokens = topicToSubject(msg.topic)
    const msgID = messageId(clientId, packetId, nonce)
    const retry = encodeEnvelope(msg, this.origin, ++this.seq, true)
    this.pending.push({
      p: this.publisher.publishNow(DURABLE_PREFIX + tokens, retry, clientId, msgID).then((duplicate) => {
        if (duplicate) return
        this.nc.publish(QOS0_PREFIX + tokens, encodeEnvelope(msg, this.origin, ++this.seq))
        this.host.deliverRemote(msg, null)
      }),
      owner: clientId,
    })
    this.host.wrote()
  }

  private receive(subject: string, data: Uint8Array, shared: string | null): void {
    let topic: string
    let parts: Uint8Array[] | null = null
    try {
      topic = subjectToTopic(subject.slice(PREFIX_LENGTH))
      if (isBundle(data)) parts = bundleParts(data)
    } catch (err) {
      this.host.log.debug({ subject, err }, 'cluster: a malformed message, ignored')
      return
    }
    if (parts === null) this.receiveOne(topic, data, shared)
    else for (const p of parts) this.receiveOne(topic, p, shared)
  }

  private receiveOne(topic: string, data: Uint8Array, shared: string | null): void {
    if (data.length < 11) return
    const origin = envelopeOrigin(data)
    if (envelopeRetry(data)) return // for the sessions' feeds only (see resent)
    if (shared === null) {
      // this node delivered its own messages already; the others come once however many subscriptions match
      if (origin === this.origin) return
      const seq = envelopeSeq(data)
      if (seq <= (this.lastSeq.get(origin) ?? 0)) return
      this.lastSeq.set(origin, seq)
    }
    let msg: Message
    try {
      msg = decodeEnvelope(topic, data)
    } catch (err) {
      this.host.log.debug({ topic, err }, 'cluster: a malformed message, ignored')
      return
    }
    this.received++
    this.host.deliverRemote(msg, shared)
  }

  subscribed(filter: string): void {
    this.interest.add(filter)
  }

  unsubscribed(filter: string): void {
    this.interest.remove(filter)
  }

  retain(msg: Message): void {
    if (msg.topic.startsWith('$SYS')) return
    this.retained.set(msg)
    this.host.wrote()
  }

  connected(clientId: string, at: number): void {
    try {
      this.nc.publish(CONNECTED_PREFIX + tokenOf(clientId), `${this.origin} ${at}`)
    } catch {
      // closing
    }
    const r = this.records.held.get(clientId)
    if (r === undefined) return
    r.disconnectedAt = 0
    this.records.changed(clientId)
    this.host.wrote()
    this.feeds.start(clientId, r)
  }

  claim(clientId: string, cleanStart: boolean): Promise<void> | null {
    if (this.records.held.has(clientId)) return null // this node has it: the broker's own rules apply
    if (!this.up) {
      // NATS is away: a clean session starts here (another node's record of the client is not ended
      // until it is back); a persistent one cannot be looked up: refused (Server unavailable), at once
      if (cleanStart) return null
      return Promise.reject(new Error('NATS is unreachable: the session cannot be looked up'))
    }
    return bounded(this.take(clientId, cleanStart), CLAIM_TIMEOUT_MS)
  }

  private async take(clientId: string, cleanStart: boolean): Promise<void> {
    let r = await this.records.read(clientId)
    if (r === null) return
    if (r.origin !== this.origin) {
      // its node hands it over (closing the connection there), or is gone: the bucket has what it wrote
      await this.nc
        .request(RELEASE_PREFIX + r.origin, clientId, { timeout: RELEASE_TIMEOUT_MS })
        .catch(() => undefined)
      r = await this.records.read(clientId)
      if (r === null) return
    }
    if (this.records.held.has(clientId)) return // another connection of it got here first
    if (cleanStart || expired(r, Date.now())) {
      await Promise.all([...this.feeds.deleteAll(clientId, r), this.records.deleteIf(clientId, r.id)])
      return
    }
    r.node = this.node
    r.origin = this.origin
    this.records.hold(clientId, r)
    const session = this.host.adopt(clientId, { ...r, inbound: r.inbound.map(([id]) => id) })
    session.fed = true
    for (let i = 0; i < r.released.length; i++) {
      const [, streamSeq, ackSubject] = r.released[i]!
      this.feeds.restored(clientId, r.id, i + 1, streamSeq)
      // the node that had it may have died before JetStream heard of the PUBREC: told again, or
      // JetStream would send the message again once the flow is complete and forgotten here
      if (ackSubject !== '')
        await this.nc.request(ackSubject, '+ACK', { timeout: 2000 }).catch(() => undefined)
    }
  }

  /** Another node takes the session of `clientId`: closed here, written, let go. */
  private async handOver(clientId: string): Promise<void> {
    await this.host.release(clientId)
    this.feeds.stop(clientId, true)
    if (this.records.held.has(clientId)) {
      await Promise.all(this.records.flush().map((w) => w.p)).catch(() => undefined)
      this.records.release(clientId)
    }
  }

  /**
   * Ends the sessions no node holds whose expiry passed (their node died, or left while they
   * were away); a record still marked connected whose node is gone counts as left now.
   */
  private async sweep(): Promise<void> {
    if (Date.now() - this.started < NODE_GONE_MS) return // not heard every node yet
    const alive = new Set([this.origin, ...[...this.nodes.values()].map((n) => n.origin)])
    try {
      for await (const [clientId, r] of this.records.all()) {
        if (this.records.held.has(clientId) || alive.has(r.origin)) continue
        if (r.disconnectedAt === 0) {
          // its node is gone: away from now on (the next sweep ends it when its expiry has passed)
          r.disconnectedAt = Date.now()
          r.origin = 0
          await this.records.replace(clientId, r)
        } else if (expired(r, Date.now())) {
          await Promise.all([...this.feeds.deleteAll(clientId, r), this.records.deleteIf(clientId, r.id)])
          this.host.log.info({ clientId }, 'cluster: a session expired while no node held it')
        }
      }
    } catch (err) {
      this.host.log.debug({ err }, 'cluster: the session sweep stopped')
    }
  }

  private announced(subject: string, data: string): void {
    const [origin, at] = data.split(' ')
    if (Number(origin) === this.origin) return
    let clientId: string
    try {
      clientId = fromToken(subject.slice(CONNECTED_PREFIX.length))
    } catch {
      return
    }
    this.host.takenOver(clientId, Number(at))
  }

  /**
   * Settles when JetStream answered for everything this turn sent. It never fails the turn: the
   * publishers whose messages were not stored (JetStream said no, or did not answer within 5 s:
   * NATS is away) lose this turn's acknowledgements and their connections are closed (MQTT 5:
   * DISCONNECT 0x89 Server busy), so they send them again; everyone else's output goes on.
   */
  commit(): Promise<void> | null {
    this.bundler.flush()
    const batch = this.publisher.seal()
    const parts =
      this.retained.pending.length === 0 ? this.pending : this.pending.concat(this.retained.pending)
    this.pending = []
    this.retained.pending = []
    if (parts.length === 0 && batch === null) return null
    const settled = parts.map(({ p, owner }) =>
      p.then(
        () => null,
        (err: unknown) => ({ owner, err }),
      ),
    )
    return Promise.all([batch, ...settled]).then(([b, ...rest]) => {
      const refused = new Set(b?.refused ?? [])
      let error: unknown = b?.error ?? null
      for (const r of rest) {
        if (r === null) continue
        if (r.owner !== null) refused.add(r.owner)
        error ??= r.err
      }
      if (error === null) return
      this.refused(error, refused.size)
      for (const clientId of refused) this.host.unstored(clientId)
    })
  }

  /** Logs (one line a second at most) that NATS did not take what `clients` clients sent. */
  private refused(err: unknown, clients: number): void {
    const now = Date.now()
    if (now - this.lastRefusal < 1000) return
    this.lastRefusal = now
    this.host.log.warn(
      { err, clients },
      'cluster: NATS did not store what clients sent: they are disconnected, to send it again',
    )
  }

  private heartbeat(): void {
    const hb: Heartbeat = {
      node: this.node,
      origin: this.origin,
      connections: this.connections(),
      at: Date.now(),
    }
    try {
      this.nc.publish(HEARTBEAT, JSON.stringify(hb))
    } catch {
      // closing
    }
    const gone = Date.now() - NODE_GONE_MS
    for (const [name, n] of this.nodes) if (n.at < gone) this.nodes.delete(name)
    this.jsm.streams.info(MESSAGES_STREAM).then(
      (i) => {
        this.stream = {
          messages: i.state.messages,
          bytes: i.state.bytes,
          consumers: i.state.consumer_count,
          at: Date.now(),
        }
      },
      () => undefined, // not now (NATS away): the last reading stays, with its time
    )
  }

  /** Follows the NATS connection: `up`, and a log line when it is lost and when it is back. */
  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect') {
        this.up = false
        this.host.log.warn({ server: s.server }, 'cluster: lost the NATS connection')
      } else if (s.type === 'reconnect') {
        this.up = true
        this.host.log.info({ server: s.server }, 'cluster: NATS connection back')
      }
    }
  }

  status(): ClusterStatus {
    return {
      node: this.node,
      connected: this.up && !this.nc.isClosed(),
      server: this.nc.getServer() || null,
      nodes: [...this.nodes.values()].map((n) => ({
        node: n.node,
        lastSeen: n.at,
        connections: n.connections,
      })),
      forwarded: this.forwarded,
      received: this.received,
      pendingAcks: this.publisher.pending,
      interest: this.interest.size,
      sessions: this.records.held.size,
      stream: this.stream,
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    clearInterval(this.sweeper)
    this.publisher.close()
    // the sessions stay in NATS: what their feeds were handed and did not complete goes back at once
    this.feeds.stopAll()
    this.retained.stop()
    const written = (async () => {
      await Promise.allSettled(this.records.flush().map((w) => w.p))
      await Promise.allSettled(this.pending.map((x) => x.p))
      await this.nc.drain()
    })().catch(() => undefined)
    // NATS away: what could not be written in a few seconds is not waited for any longer
    await Promise.race([written, new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())])
    if (!this.nc.isClosed()) await this.nc.close().catch(() => undefined)
  }
}

/** A QoS 2 message's JetStream id: its publisher, packet id and the nonce its session's record keeps. */
function messageId(clientId: string, packetId: number, nonce: string): string {
  return `${tokenOf(clientId)}.${packetId}.${nonce}`
}

/** Something a turn's commit waits for, and the client it answers for (null: the broker's own). */
interface Pending {
  p: Promise<unknown>
  owner: string | null
}

/** Whether a session's client has been away longer than its expiry interval at `now`. */
function expired(r: SessionRecord, now: number): boolean {
  return (
    r.disconnectedAt > 0 && r.expiry !== SESSION_NEVER_EXPIRES && now > r.disconnectedAt + r.expiry * 1000
  )
}

/** Runs `step` until it succeeds or `until` (ms since epoch) passes, waiting longer each time. */
async function persist<T>(step: () => Promise<T>, until: number): Promise<T> {
  let wait = 100
  for (;;) {
    try {
      return await step()
    } catch (err) {
      if (Date.now() + wait > until) throw err
      await new Promise((r) => setTimeout(r, wait))
      wait = Math.min(wait * 2, 2000)
    }
  }
}

/** `p`, or a rejection after `ms` (NATS did not answer in time). */
function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`NATS did not answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}
