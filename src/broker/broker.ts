import { isUtf8 } from 'node:buffer'
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { ConfigError } from '../errors.js'
import { type QoS, ReasonCode } from '../protocol/constants.js'
import type { PublishProperties } from '../protocol/packets.js'
import { isValidTopicName } from '../protocol/topic.js'
import { NoStore } from '../store/memory/no-store.js'
import type { Store, StoreSnapshot } from '../store/store.js'
import { incomingStream } from '../transport/duplex.js'
import type { Incoming, ListenerReport } from '../transport/transport.js'
import { BrokerAdmin } from './admin.js'
import type { ClusterBridge, ClusterStatus } from './cluster-bridge.js'
import { clusterHost } from './cluster-host.js'
import type { ClusterOptions } from './cluster-options.js'
import { Connection, type ConnectionDeps } from './connection.js'
import { Core } from './core.js'
import { DeferredStore } from './deferred-store.js'
import { saveRetainedSnapshot, scheduleCommits } from './durable.js'
import { type BrokerEvents, type BrokerStats, brokerStats } from './events.js'
import { Flusher } from './flusher.js'
import { capExpiry } from './handlers/connack.js'
import { route } from './handlers/publish.js'
import { applyProperties } from './handlers/publish-v5.js'
import { publishWill } from './handlers/will.js'
import { Hooks } from './hooks.js'
import { limitInbound } from './inbound-rate.js'
import { IpLimits } from './ip-limits.js'
import { checkListenOptions, type ListenerInfo, type ListenOptions, openListener } from './listen-options.js'
import { Message } from './message.js'
import { Notable } from './notable.js'
import {
  type BrokerOptions,
  type ClientInfo,
  type Logger,
  type ResolvedOptions,
  resolveOptions,
} from './options.js'
import { Protocol } from './protocol.js'
import { checkPublishProperties } from './publish-properties.js'
import { restoreState } from './restore.js'
import { Router } from './router.js'
import { Sessions } from './sessions.js'
import { SysState, sysValues } from './sys.js'
import type { BusiestTopics } from './topic-sample.js'
import { Wills } from './wills.js'

/** How often the route cache lets go of routes not used since the last time. */
const ROUTE_CACHE_AGE_MS = 30_000

/** A message the embedder publishes (see Broker.publish). */
export interface BrokerMessage {
  topic: string
  payload: Buffer | string
  /** Default 0. */
  qos?: QoS
  /** Default false. */
  retain?: boolean
  /**
   * MQTT 5 properties: sent to MQTT 5 subscribers, dropped for 3.1.1 ones. A Message Expiry
   * Interval is counted down while the message waits [MQTT-3.3.2-5] [MQTT-3.3.2-6].
   */
  properties?: PublishProperties
}

/**
 * The broker: the composition root. It builds the store writer and its Flusher (group
 * commit), the Router, the Sessions, the Hooks and the Protocol handlers, hands each
 * accepted connection to a Connection, and runs the broker-wide timers ($SYS, session
 * expiry, route-cache ageing). `new Broker(options)`, then `listen()` and/or
 * `handle(stream)`; `publish()` from the embedder; `close()` ends it.
 */
export class Broker extends EventEmitter<BrokerEvents> {
  readonly options: ResolvedOptions
  readonly log: Logger
  readonly stats: BrokerStats = brokerStats()
  /** Resolves once the store's state is loaded; listen() waits for it. */
  readonly ready: Promise<void>
  private readonly core: Core
  private readonly deps: ConnectionDeps
  private readonly store: Store
  /** The store as given (its sizeBytes), not the handle that schedules commits. */
  private readonly rawStore: Store
  private readonly notable: Notable
  /** The $SYS load averages and heap maximum, kept between intervals. */
  private readonly sys = new SysState()
  private readonly flusher: Flusher
  private readonly servers: ListenerInfo[] = []
  private readonly timers: NodeJS.Timeout[] = []
  private closing: Promise<void> | null = null
  /** The cluster this node joined (once `ready`), or null. */
  private cluster: ClusterBridge | null = null
  /** A cluster node's store, handed to the cluster once joined; null for a single node. */
  private readonly deferredStore: DeferredStore | null
  private isLoaded = false
  private readonly ipLimits: IpLimits
  /** Listings, look-ups and actions for operators (admin API, dashboard, `petrel top`). */
  readonly admin: BrokerAdmin

  constructor(options: BrokerOptions = {}) {
    super()
    const o = (this.options = resolveOptions(options))
    this.log = o.logger
    if (options.cluster !== undefined && options.store !== undefined) {
      throw new ConfigError(
        'store',
        'a cluster node keeps its sessions in the cluster (JetStream): give either cluster or store, not both',
      )
    }
    // a cluster node's store is the cluster's, once it joined
    const deferred = options.cluster === undefined ? null : new DeferredStore()
    this.deferredStore = deferred
    const store = options.store ?? deferred ?? new NoStore()
    this.rawStore = store
    const notable = new Notable(this.log, (e) => this.emit('notable', e))
    this.notable = notable
    // the turn's commit: the store's, and what the turn sent to the cluster's JetStream
    const committer = { commit: () => joinCommits(store.commit(), this.cluster?.commit() ?? null) }
    this.flusher = new Flusher(committer, this.log, this.stats, notable)
    this.store = scheduleCommits(store, this.flusher.wrote)
    const router = new Router(this.store, this.stats)
    const sessions = new Sessions(o, this.stats, this.store, router, notable)
    const hooks = new Hooks(o.hooks, this.log)
    const wills = new Wills((client, will) => publishWill(this.core, client, will))
    sessions.onEnded = (s) => wills.ended(s)
    this.core = new Core(o, this.stats, sessions, router, hooks, wills, this, notable)
    const handler = new Protocol(this.core)
    this.deps = {
      options: o,
      stats: this.stats,
      handler,
      flusher: this.flusher,
      limits: this.core.limits,
      notable,
      transportClosed: (conn) => {
        if (conn.ipKey !== undefined) this.ipLimits.release(conn.ipKey, performance.now())
      },
    }
    this.ipLimits = new IpLimits(o, this.core.limits)
    this.admin = new BrokerAdmin(this.core)
    const snapshot = this.store.load()
    const loaded =
      snapshot instanceof Promise
        ? snapshot.then((s) => this.restore(s))
        : Promise.resolve(this.restore(snapshot))
    const cluster = options.cluster
    this.ready = cluster === undefined ? loaded : loaded.then(() => this.joinCluster(cluster))
    if (o.sysInterval > 0) this.every(o.sysInterval * 1000, () => this.publishSys())
    // routes to topics unused for two periods leave the cache: its memory comes back
    this.every(ROUTE_CACHE_AGE_MS, () => router.tree.age())
  }

  /**
   * Joins the cluster (src/cluster/, loaded now and only now): the retained messages and the
   * persistent sessions are the cluster's from then on (a node has no store of its own to restore).
   */
  private async joinCluster(o: ClusterOptions): Promise<void> {
    const { joinCluster } = await import('../cluster/index.js')
    const { router } = this.core
    const c = await joinCluster(
      o,
      clusterHost(this.core, this.flusher),
      () => this.core.connected,
      this.options.maxQueuedMessages || 1,
    )
    // a message must fit in one NATS message to cross nodes: larger PUBLISHes are refused as too
    // large (MQTT 5 clients read the limit in CONNACK), instead of being sent again and again
    const fits = c.maxPacketSize
    if (fits < this.options.maxPacketSize) {
      this.log.info({ maxPacketSize: fits }, "maxPacketSize lowered to what fits in NATS's max_payload")
      this.options.maxPacketSize = fits
    }
    this.cluster = c
    router.cluster = c
    this.deferredStore!.inner = c.store
  }

  /** The cluster as this node sees it; null for a single node. */
  get clusterStatus(): ClusterStatus | null {
    return this.cluster?.status() ?? null
  }

  private every(ms: number, run: () => void): void {
    const t = setInterval(run, ms)
    t.unref()
    this.timers.push(t)
  }

  private restore(snapshot: StoreSnapshot): void {
    const { sessions, router } = this.core
    const restored = restoreState(
      snapshot,
      (id) => sessions.create(id, false, false),
      router.tree,
      router.retained,
    )
    // retained messages that expired while the broker was down are not restored: the store forgets them too
    for (const topic of restored.expired) router.dropExpired(topic)
    for (const stored of snapshot.sessions) {
      const s = sessions.get(stored.clientId)
      // under the sessionExpiry ceiling, as when it was made: a row from before the column
      // existed says "never", and an option lowered since applies to sessions already kept
      if (s !== undefined) s.expiryInterval = capExpiry(this.options, stored.expiryInterval)
    }
    sessions.restored() // their expiry timers run from when their clients left
    this.isLoaded = true
    const retained = restored.retained - restored.expired.length
    if (snapshot.sessions.length > 0 || retained > 0) {
      this.log.info(
        { sessions: snapshot.sessions.length, retained },
        'restored persistent sessions and retained messages',
      )
    }
  }

  /**
   * Ends the sessions whose client has been gone longer than their expiry interval at `now`
   * (ms since epoch). Each session also ends on its own timer; this is for embedders and tests.
   */
  expireSessions(now = Date.now()): void {
    this.core.sessions.expire(now, this.log)
  }

  /** The listeners open now (for /readyz and the admin API). */
  get openListeners(): readonly ListenerInfo[] {
    return this.servers
  }

  /** True once the store's state is loaded (`ready` resolved). */
  get loaded(): boolean {
    return this.isLoaded
  }

  /** True once close() was called. */
  get closingDown(): boolean {
    return this.closing !== null
  }

  get connectedCount(): number {
    return this.core.connected
  }
  get sessionCount(): number {
    return this.core.sessions.size
  }
  get subscriptionCount(): number {
    return this.core.router.subscriptionCount
  }
  get retainedCount(): number {
    return this.core.router.retainedCount
  }
  /** Payload bytes of the retained messages. */
  get retainedBytes(): number {
    return this.core.router.retainedBytes
  }

  /** Bytes the store takes on disk (SQLite: database and WAL); null when it cannot tell (memory). */
  storeSizeBytes(): number | null {
    return this.rawStore.sizeBytes?.() ?? null
  }

  /**
   * The `n` busiest topics of the last minute or two, busiest first, estimated by sampling 1
   * routed message in 64 (see TopicSampler): `{windowSeconds, items: [{topic, messages,
   * messagesPerSecond, share}]}`. $SYS topics are left out.
   */
  busiestTopics(n = 10): BusiestTopics {
    return this.core.router.sampler.busiest(n)
  }

  /**
   * Starts a listener (mqtt, mqtts, ws or wss; see ListenOptions), or attaches to an
   * application's http(s) server; resolves once it listens. Throws a ConfigError for a bad
   * option. Call it once per listener: they all serve the same broker. Rejects once the broker
   * is closing (a listener opened meanwhile is closed, not left holding its port).
   */
  async listen(options: ListenOptions = {}): Promise<ListenerInfo> {
    checkListenOptions(options)
    await this.ready
    const o = this.options
    const deps: ConnectionDeps =
      options.useIdentityAsUsername === true ? { ...this.deps, identityAsUsername: true } : this.deps
    const ctx = {
      maxPayload: o.maxPacketSize,
      maxConnectPayload: Math.min(o.maxPacketSize, o.maxConnectSize),
      handshakeTimeout: o.connectTimeout,
      report: this.report,
    }
    const l = await openListener(options, ctx, (incoming) => this.accept(incoming, deps))
    if (this.closing !== null) {
      await l.close()
      throw new Error('listen: the broker is closed')
    }
    this.servers.push(l)
    return l
  }

  /** What listeners tell of connections they turn away: counted, and logged at debug. */
  private readonly report: ListenerReport = {
    refused: (kind, why, remoteAddress) => {
      if (kind === 'tls-handshake') {
        this.stats.tlsHandshakeFailures++
        this.stats.refused.tls++
      } else {
        this.stats.listenerRefused++
        this.stats.refused.listener++
      }
      this.notable.report('refused', 'info', `connection refused by a listener: ${why}`, {
        remoteAddress,
        reason: kind === 'tls-handshake' ? 'tls' : 'listener',
      })
    },
    error: (err) => this.log.error({ err: err.message }, 'listener error'),
  }

  /**
   * Serves MQTT over any byte stream: a socket, a TLS socket, a test pair. With a
   * `remoteAddress` the per-address limits apply (maxConnectionsPerIp, connectionRatePerIp):
   * a stream they refuse is closed at once, and what comes back is its info, closed.
   */
  handle(stream: Duplex, remoteAddress?: string): ClientInfo {
    return this.accept(incomingStream(stream, remoteAddress))
  }

  /** Serves one connection a Listener accepted, unless a per-address limit refuses it: then it is closed unread. */
  private accept(incoming: Incoming, deps = this.deps): ClientInfo {
    this.stats.socketsOpened++
    const key = this.ipLimits.admit(incoming.remoteAddress, performance.now())
    if (key === null) {
      this.stats.refused.ipLimit++
      this.notable.report('refused', 'info', 'connection refused by a per-address limit', {
        remoteAddress: incoming.remoteAddress,
        reason: 'ipLimit',
      })
      incoming.open({ data: () => {}, drain: () => {}, close: () => {} }).destroy()
      return { id: '', username: undefined, remoteAddress: incoming.remoteAddress, protocolVersion: 4 }
    }
    const conn = new Connection(...limitInbound(deps, incoming, this.core.limits))
    conn.ipKey = key
    this.core.peers.add(conn)
    if (this.closing !== null) conn.close('broker is closing', false)
    return conn
  }

  /**
   * Publishes a message from the embedder (or the broker itself, as $SYS): routed like a
   * client's PUBLISH, kept if retained, told to 'published' listeners with a null client.
   * Throws a ConfigError for an invalid topic name, QoS or property.
   */
  publish(message: BrokerMessage): void {
    const { topic, qos = 0, retain = false } = message
    if (typeof topic !== 'string' || !isValidTopicName(topic)) {
      throw new ConfigError(
        'topic',
        `topic must be a valid MQTT topic name (no + or #, not empty); got '${topic}'`,
      )
    }
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new ConfigError('qos', `qos must be 0, 1 or 2; got ${qos}`)
    const properties =
      message.properties === undefined ? undefined : checkPublishProperties(message.properties)
    const p = message.payload
    const payload = Buffer.isBuffer(p) ? Buffer.from(p) : Buffer.from(String(p))
    if (properties?.payloadFormatIndicator === 1 && !isUtf8(payload))
      throw new ConfigError('payload', 'payload must be UTF-8 when properties.payloadFormatIndicator is 1')
    const msg = new Message(topic, payload, qos, retain, null, true)
    applyProperties(msg, properties, Date.now())
    route(this.core, msg, null, null)
  }

  private publishSys(): void {
    for (const [topic, value] of sysValues(this, this.sys))
      this.publish({ topic, payload: value, retain: true })
  }

  /** Stops accepting, closes every connection, and resolves when all are closed. */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown(): Promise<void> {
    for (const t of this.timers) clearInterval(t)
    this.notable.close()
    this.core.sessions.close()
    this.core.wills.close()
    const listening = this.servers.splice(0).map((l) => l.close())
    const closed: Promise<void>[] = []
    for (const peer of [...this.core.peers]) {
      closed.push(peer.whenClosed)
      // an MQTT 5 client is told why [MQTT-3.14.2-1]
      peer.close('broker shutting down', false, false, ReasonCode.SERVER_SHUTTING_DOWN)
    }
    await Promise.all([...listening, ...closed])
    await this.flusher.idle()
    await this.cluster?.close()
    // not before the store's retained messages were all in the trie: the snapshot would lack some
    if (this.isLoaded) saveRetainedSnapshot(this.rawStore, this.core.router, this.log)
    this.store.close()
  }
}

/** The store's commit and the cluster's, as one: a Promise when either is one. */
function joinCommits(store: void | Promise<void>, cluster: Promise<void> | null): void | Promise<void> {
  if (cluster === null) return store
  if (store instanceof Promise) return Promise.all([store, cluster]).then(() => undefined)
  return cluster
}
