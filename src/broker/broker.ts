import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { ConnectReturnCode, type QoS, SUBACK_FAILURE } from '../protocol/constants.js'
import { encode, encodePuback, encodePubrec, encodeUnsuback } from '../protocol/encoder.js'
import type {
  ConnectPacket,
  PublishPacket,
  SubscribePacket,
  UnsubscribePacket,
  Will,
} from '../protocol/packets.js'
import { exceedsLevels } from '../protocol/topic.js'
import { MemoryStore } from '../store/memory/memory-store.js'
import type { StoreSnapshot } from '../store/store.js'
import { type Listening, listenTcp, type TcpListenOptions } from '../transport/tcp.js'
import { grantFilters } from './authorize.js'
import { Connection } from './connection.js'
import { StoreWriter } from './durable.js'
import type { BrokerEvents, BrokerStats } from './events.js'
import { Message } from './message.js'
import {
  type BrokerOptions,
  type ClientInfo,
  type Logger,
  type ResolvedOptions,
  resolveOptions,
} from './options.js'
import { restoreState } from './restore.js'
import { Router } from './router.js'
import type { Session } from './session.js'
import { Sessions } from './sessions.js'
import { sysValues } from './sys.js'

/** How often the route cache lets go of routes not used since the last time. */
const ROUTE_CACHE_AGE_MS = 30_000

/**
 * The broker: composition root of sessions, the subscription tree, retained
 * messages and connections. `new Broker(options)`, then `listen()` and/or
 * `handle(stream)`; `close()` ends it.
 */
export class Broker extends EventEmitter<BrokerEvents> {
  readonly options: ResolvedOptions
  readonly log: Logger
  readonly stats: BrokerStats = {
    startedAt: Date.now(),
    messagesReceived: 0,
    publishReceived: 0,
    bytesReceived: 0,
    messagesSent: 0,
    bytesSent: 0,
    dropped: 0,
    maxConnected: 0,
  }
  private readonly sessions: Sessions
  private readonly connections = new Set<Connection>()
  private readonly router: Router
  private readonly servers: Listening[] = []
  private dirty: Connection[] = []
  private flushScheduled = false
  private connected = 0
  private sysTimer: NodeJS.Timeout | null = null
  private expiryTimer: NodeJS.Timeout | null = null
  private readonly ageTimer: NodeJS.Timeout
  private closing: Promise<void> | null = null
  private readonly store: StoreWriter
  /** Resolves once the store's state is loaded; listen() waits for it. */
  readonly ready: Promise<void>

  constructor(options: BrokerOptions = {}) {
    super()
    this.options = resolveOptions(options)
    this.log = this.options.logger
    this.store = new StoreWriter(options.store ?? new MemoryStore(), this.scheduleFlush)
    this.router = new Router(this.store)
    this.sessions = new Sessions(this.options, this.stats, this.store, this.router)
    const snapshot = this.store.load()
    this.ready =
      snapshot instanceof Promise
        ? snapshot.then((s) => this.restore(s))
        : Promise.resolve(this.restore(snapshot))
    if (this.options.sysInterval > 0) {
      this.sysTimer = setInterval(() => this.publishSys(), this.options.sysInterval * 1000)
      this.sysTimer.unref()
    }
    // routes to topics unused for two periods leave the cache: its memory comes back
    this.ageTimer = setInterval(() => this.router.tree.age(), ROUTE_CACHE_AGE_MS)
    this.ageTimer.unref()
    const expiry = this.options.sessionExpiry
    if (expiry > 0) {
      this.expiryTimer = setInterval(() => this.expireSessions(), Math.min(expiry * 100, 3_600_000))
      this.expiryTimer.unref()
    }
  }

  private restore(snapshot: StoreSnapshot): void {
    restoreState(
      snapshot,
      (id) => this.sessions.create(id, false, false),
      this.router.tree,
      this.router.retained,
    )
    if (snapshot.sessions.length > 0 || snapshot.retained.length > 0) {
      this.log.info(
        { sessions: snapshot.sessions.length, retained: snapshot.retained.length },
        'restored persistent sessions and retained messages',
      )
    }
  }

  /** Ends persistent sessions whose client has been gone longer than `sessionExpiry`. */
  expireSessions(now = Date.now()): void {
    this.sessions.expire(now - this.options.sessionExpiry * 1000, this.log)
  }

  get connectedCount(): number {
    return this.connected
  }
  get sessionCount(): number {
    return this.sessions.size
  }
  get subscriptionCount(): number {
    return this.router.subscriptionCount
  }
  get retainedCount(): number {
    return this.router.retainedCount
  }

  /** Starts a TCP listener; resolves once it listens. */
  async listen(options: TcpListenOptions = {}): Promise<{ port: number; host: string }> {
    await this.ready
    const l = await listenTcp(options, (socket) => this.handle(socket, socket.remoteAddress))
    this.servers.push(l)
    return { port: l.port, host: l.host }
  }

  /** Serves MQTT over any byte stream: a socket, a TLS socket, a test pair. */
  handle(stream: Duplex, remoteAddress?: string): Connection {
    const conn = new Connection(this, stream, remoteAddress)
    this.connections.add(conn)
    if (this.closing !== null) conn.close('broker is closing', false)
    return conn
  }

  /** Stops accepting, closes every connection, and resolves when all are closed. */
  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown(): Promise<void> {
    if (this.sysTimer !== null) clearInterval(this.sysTimer)
    if (this.expiryTimer !== null) clearInterval(this.expiryTimer)
    clearInterval(this.ageTimer)
    const servers = this.servers.splice(0).map((l) => l.close())
    const closed: Promise<void>[] = []
    for (const c of [...this.connections]) {
      closed.push(
        new Promise<void>((resolve) => {
          if (c.socket.destroyed) return resolve()
          c.socket.once('close', () => resolve())
          setTimeout(() => {
            c.socket.destroy()
            resolve()
          }, 2000).unref()
        }),
      )
      c.close('broker shutting down', false)
    }
    await Promise.all([...servers, ...closed])
    this.store.close()
  }

  // --- output batching ---------------------------------------------------------

  /** A connection has output this turn: flush it once, after every read of this turn. */
  markDirty(conn: Connection): void {
    this.dirty.push(conn)
    this.scheduleFlush()
  }

  private readonly scheduleFlush = (): void => {
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flushAll)
    }
  }

  /** Makes this turn's store writes durable (group commit). */
  commit(): void {
    this.store.commit()
  }

  /** End of turn: one commit for every store write of the turn, then one write per connection. */
  private readonly flushAll = (): void => {
    this.flushScheduled = false
    this.store.commit()
    const dirty = this.dirty
    this.dirty = []
    for (let i = 0; i < dirty.length; i++) dirty[i]!.flush()
  }

  // --- CONNECT ---------------------------------------------------------------

  /** Handles CONNECT; returns a Promise when `authenticate` answers with one. */
  connect(conn: Connection, packet: ConnectPacket): Promise<void> | undefined {
    if (packet.clientId.length === 0) {
      if (!packet.clean || packet.protocolVersion === 3) {
        // [MQTT-3.1.3-8] a zero-length id needs clean session 1; MQTT 3.1 needs an id
        return this.refuse(conn, ConnectReturnCode.IDENTIFIER_REJECTED, 'empty client id', 'MQTT-3.1.3-8')
      }
      packet.clientId = this.sessions.assignId() // [MQTT-3.1.3-6]
    }
    if (packet.will !== undefined && exceedsLevels(packet.will.topic, this.options.maxTopicLevels)) {
      this.tooDeep(conn, 'will')
      return undefined
    }
    conn.beginAuthentication(packet)
    // A client taking over its own connection does not add one, so it is let in at the limit.
    if (
      this.connected >= this.options.maxConnections &&
      !(this.sessions.get(packet.clientId)?.link instanceof Connection)
    ) {
      return this.refuse(conn, ConnectReturnCode.SERVER_UNAVAILABLE, 'too many connections', '')
    }
    const auth = this.options.authenticate
    if (auth === undefined) return this.finishConnect(conn, packet, true)
    let result: boolean | number | Promise<boolean | number>
    try {
      result = auth(conn, packet.username, packet.password)
    } catch (err) {
      this.log.error({ clientId: packet.clientId, err }, 'authenticate threw')
      return this.refuse(conn, ConnectReturnCode.SERVER_UNAVAILABLE, 'authenticate threw', '')
    }
    if (result instanceof Promise) {
      return result.then(
        (r) => this.finishConnect(conn, packet, r),
        (err: unknown) => {
          this.log.error({ clientId: packet.clientId, err }, 'authenticate rejected')
          this.refuse(conn, ConnectReturnCode.SERVER_UNAVAILABLE, 'authenticate failed', '')
        },
      )
    }
    return this.finishConnect(conn, packet, result)
  }

  private tooDeep(conn: Connection, what: string): void {
    const max = this.options.maxTopicLevels
    this.log.debug({ clientId: conn.id, maxTopicLevels: max }, `${what} topic has more than ${max} levels`)
    conn.close(`${what} topic has more than ${max} levels (maxTopicLevels)`, true)
  }

  private refuse(conn: Connection, code: number, why: string, rule: string): undefined {
    // [MQTT-3.2.2-4] session present is 0 with a non-zero return code; [MQTT-3.2.2-5] then close
    conn.send(encode({ type: 2, sessionPresent: false, returnCode: code }))
    this.log.debug({ clientId: conn.id, returnCode: code, rule }, `CONNECT refused: ${why}`)
    conn.close(`CONNECT refused: ${why}`, false)
    return undefined
  }

  private finishConnect(conn: Connection, packet: ConnectPacket, auth: boolean | number): undefined {
    if (conn.state !== 'authenticating') return undefined
    if (auth !== true) {
      const code = auth === false ? ConnectReturnCode.BAD_USERNAME_OR_PASSWORD : auth
      return this.refuse(
        conn,
        code >= 1 && code <= 5 ? code : ConnectReturnCode.NOT_AUTHORIZED,
        'not authorised',
        '',
      )
    }
    // [MQTT-3.1.4-2] a second connection with the same id takes over: the first is closed
    const old = this.sessions.get(packet.clientId)?.link
    if (old instanceof Connection) old.close('session taken over by a new connection', true)
    const { session, present } = this.sessions.open(packet.clientId, packet.clean)
    conn.send(encode({ type: 2, sessionPresent: present, returnCode: ConnectReturnCode.ACCEPTED }))
    conn.accept(packet, session)
    this.connected++
    if (this.connected > this.stats.maxConnected) this.stats.maxConnected = this.connected
    session.attach(conn)
    this.emit('clientConnected', conn)
    return undefined
  }

  /** A connection ended. Publishes the will if `will` is given, ends a clean session. */
  detach(conn: Connection, wasConnected: boolean, will: Will | null, reason: string): void {
    this.connections.delete(conn)
    if (!wasConnected) return
    this.connected--
    const session = conn.session!
    if (session.link === conn) this.sessions.disconnected(session)
    if (will !== null) this.publishWill(conn, will)
    this.emit('clientDisconnected', conn, reason)
  }

  private publishWill(conn: Connection, will: Will): void {
    const send = (ok: boolean): void => {
      // like a PUBLISH, a will may not write into the broker's own $SYS tree
      if (ok && !will.topic.startsWith('$SYS'))
        this.accept(
          new Message(will.topic, will.payload, will.qos, will.retain, null, false).own(),
          null,
          null,
        )
    }
    // This runs as a connection closes, from a socket event or after a hook settles:
    // nothing may escape from it as an uncaught exception or an unhandled rejection.
    const failed = (err: unknown): void =>
      this.log.error({ clientId: conn.id, err }, 'could not publish the will')
    const authz = this.options.authorizePublish
    try {
      const r = authz === undefined ? true : authz(conn, will.topic, will.payload, will.qos, will.retain)
      if (r instanceof Promise) r.then(send).catch(failed)
      else send(r)
    } catch (err) {
      failed(err)
    }
  }

  // --- PUBLISH -----------------------------------------------------------------

  publish(conn: Connection, session: Session, packet: PublishPacket): Promise<void> | undefined {
    this.stats.publishReceived++
    if (exceedsLevels(packet.topic, this.options.maxTopicLevels)) {
      // MQTT 3.1.1 cannot refuse a PUBLISH: closing is the other answer it allows [MQTT-3.3.5-2]
      this.tooDeep(conn, 'PUBLISH')
      return undefined
    }
    const wire = conn.forwardable(packet)
    const authz = this.options.authorizePublish
    if (authz === undefined) return this.finishPublish(conn, session, packet, wire, true)
    const r = authz(conn, packet.topic, packet.payload, packet.qos, packet.retain)
    if (r instanceof Promise) return r.then((ok) => this.finishPublish(conn, session, packet, wire, ok))
    return this.finishPublish(conn, session, packet, wire, r)
  }

  private finishPublish(
    conn: Connection,
    session: Session,
    p: PublishPacket,
    wire: Buffer | null,
    allowed: boolean,
  ): undefined {
    // The connection ended while a hook was pending (taken over, timed out): the
    // client was not acknowledged and re-sends QoS 1/2 on its next connection.
    if (conn.state === 'closed') return undefined
    // Clients may not publish into the broker's own $SYS tree: acknowledged, then dropped [MQTT-3.3.5-2].
    const ok = allowed && !p.topic.startsWith('$SYS')
    if (p.qos === 2) {
      // [MQTT-4.3.3-2] exactly once: a re-sent PUBLISH before PUBREL is acknowledged, not passed on
      const isNew = session.receiveQos2(p.packetId)
      if (isNew && ok) this.accept(new Message(p.topic, p.payload, 2, p.retain, null, false), conn, conn)
      conn.send(encodePubrec(p.packetId))
      return undefined
    }
    if (ok) {
      this.accept(new Message(p.topic, p.payload, p.qos, p.retain, wire, false), conn, conn)
    }
    if (p.qos === 1) conn.send(encodePuback(p.packetId)) // [MQTT-4.3.2-2]
    return undefined
  }

  /** Routes an accepted message (and keeps it if retained); tells 'published' listeners. */
  private accept(msg: Message, client: ClientInfo | null, from: Connection | null): void {
    this.router.route(msg, from)
    if (this.listenerCount('published') > 0) {
      this.emit(
        'published',
        { topic: msg.topic, payload: msg.payload, qos: msg.qos, retain: msg.retain },
        client,
      )
    }
  }

  /** Publishes a message from the broker itself (as $SYS does). */
  publishInternal(topic: string, payload: Buffer | string, qos: QoS = 0, retain = false): void {
    const buf = typeof payload === 'string' ? Buffer.from(payload) : payload
    this.accept(new Message(topic, buf, qos, retain, null, true), null, null)
  }

  private publishSys(): void {
    for (const [topic, value] of sysValues(this)) this.publishInternal(topic, value, 0, true)
  }

  // --- SUBSCRIBE / UNSUBSCRIBE ----------------------------------------------------

  subscribe(conn: Connection, session: Session, packet: SubscribePacket): Promise<void> | undefined {
    const granted = grantFilters(
      this.options.authorizeSubscribe,
      conn,
      packet.subscriptions,
      this.options.maxTopicLevels,
    )
    if (granted instanceof Promise) return granted.then((g) => this.finishSubscribe(conn, session, packet, g))
    this.finishSubscribe(conn, session, packet, granted)
    return undefined
  }

  private finishSubscribe(
    conn: Connection,
    session: Session,
    packet: SubscribePacket,
    granted: number[],
  ): void {
    if (conn.state === 'closed') return
    const subs = packet.subscriptions
    for (let i = 0; i < subs.length; i++) {
      const g = granted[i]!
      if (g === SUBACK_FAILURE) continue
      this.router.subscribe(session, subs[i]!.topic, g as QoS)
    }
    // [MQTT-3.8.4-1] [MQTT-3.8.4-5] one return code per filter, in order
    conn.send(encode({ type: 9, packetId: packet.packetId, granted }))
    for (let i = 0; i < subs.length; i++) {
      const g = granted[i]!
      if (g === SUBACK_FAILURE) continue
      this.router.deliverRetained(session, subs[i]!.topic, g as QoS)
    }
    this.emit(
      'subscribed',
      subs.map((s, i) => ({ topic: s.topic, qos: granted[i]! })),
      conn,
    )
  }

  unsubscribe(conn: Connection, session: Session, packet: UnsubscribePacket): void {
    for (const topic of packet.topics) {
      this.router.unsubscribe(session, topic)
    }
    // [MQTT-3.10.4-4] [MQTT-3.10.4-5] UNSUBACK even when nothing matched
    conn.send(encodeUnsuback(packet.packetId))
    this.emit('unsubscribed', packet.topics, conn)
  }
}
