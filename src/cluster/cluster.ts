import { randomBytes } from 'node:crypto'
import { type JetStreamClient, type JetStreamManager, jetstream } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ClusterBridge, ClusterHost, ClusterStatus } from '../broker/cluster-bridge.js'
import type { Message } from '../broker/message.js'
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
import { Handover, NODE_GONE_MS } from './handover.js'
import { DURABLE_PREFIX, Interest, PREFIX_LENGTH, QOS0_PREFIX } from './interest.js'
import { connectNats, defaultNodeName, ensureStreams, MESSAGES_STREAM } from './link.js'
import type { ClusterOptions } from './options.js'
import { JetStreamPublisher } from './publisher.js'
import { RetainedSync } from './retained-sync.js'
import { SessionRecords } from './session-records.js'
import { fromToken, subjectToTopic, tokenOf, topicToSubject } from './subject.js'

/** A client connected on some node: `petrel-ctl.connected.{client id token}` (not under `petrel.`, whose second token is a wildcard in every interest), data `{origin} {at}`. */
const CONNECTED_PREFIX = 'petrel-ctl.connected.'
/** Every node's heartbeat, once every HEARTBEAT_MS: its name and figures, as JSON. */
const HEARTBEAT = 'petrel-ctl.heartbeat'
const HEARTBEAT_MS = 2000
/** What a NATS message holds besides the packet's payload: the envelope and its properties (the subject is apart). */
const ENVELOPE_ROOM = 4096
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
  /** Whether the NATS connection is up now. */
  private up = true
  private readonly records: SessionRecords
  private readonly feeds: Feeds
  readonly store: Store
  private readonly sessionStore: ClusterStore
  private readonly handover: Handover
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
    this.handover = new Handover(nc, host, this.records, this.feeds, node, this.origin, () =>
      [...this.nodes.values()].map((n) => n.origin),
    )
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
    return this.handover.claim(clientId, cleanStart, this.up)
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
    this.handover.close()
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
