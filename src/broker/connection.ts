import { ProtocolError } from '../errors.js'
import { PacketType, PROTOCOL_V5, type ProtocolVersion, ReasonCode } from '../protocol/constants.js'
import { Decoder } from '../protocol/decoder.js'
import { ErrorCode } from '../protocol/errors.js'
import type { ConnectPacket, ConnectProperties, Packet, PublishPacket, Will } from '../protocol/packets.js'
import type { DuplexEvents, Incoming, ServedDuplex } from '../transport/transport.js'
import { clientLimits, NO_LIMITS } from './client-limits.js'
import { ConnectionFigures } from './connection-figures.js'
import { ConnectionOutput } from './connection-output.js'
import { ConnectionMachine, type ConnState } from './connection-state.js'
import { ConnectionTimer, type TimedLink } from './connection-timer.js'
import type { BrokerStats, RefusedCounts } from './events.js'
import type { Flushable, Flusher } from './flusher.js'
import { closingPacket, refusalReason, refusingConnack } from './last-words.js'
import type { LimitLog } from './limits.js'
import type { Notable } from './notable.js'
import type { ResolvedOptions } from './options.js'
import { PacketTimer, type PartlyReceived } from './packet-timer.js'
import type { AuthExchange, ClientLimits, Peer, PeerHandler } from './peer.js'
import type { Session } from './session.js'

/** What a connection is given by the broker that made it. */
export interface ConnectionDeps {
  readonly options: ResolvedOptions
  readonly stats: BrokerStats
  readonly handler: PeerHandler
  readonly flusher: Flusher
  /** The listener's useIdentityAsUsername (see Peer.certificateUser). */
  readonly identityAsUsername?: boolean
  readonly limits: LimitLog
  /** Where refusals and slow consumers are told (rate-limited log lines and `notable` events). */
  readonly notable: Notable
  /** Told once a connection's transport has closed (one function for all of them). */
  readonly transportClosed?: (conn: Connection) => void
}

/**
 * One client's network connection: transport <-> decoder <-> ConnectionMachine -> protocol handler. Only I/O
 * and timing: it decodes what it reads, asks its state machine whether each packet is handled now or held, hands
 * packets to the handler (which answers through `send` and `close`), and writes its output once per event-loop
 * turn when the Flusher says the store has committed.
 */
export class Connection implements Peer, Flushable, PartlyReceived, TimedLink {
  id = ''
  username: string | undefined = undefined
  protocolVersion: ProtocolVersion = 4
  session: Session | null = null
  connectProperties: ConnectProperties | undefined = undefined
  limits: ClientLimits = NO_LIMITS
  auth: AuthExchange | null = null
  connectExpiry = 0
  readonly remoteAddress: string | undefined
  readonly certificateUser: string | null | undefined
  /** The per-address key it counts under (ip-limits), released when its transport closes. */
  ipKey: string | undefined = undefined
  /** The transport closed; then whenClosed settles. */
  private ended = false
  private closedPromise: Promise<void> | null = null
  private resolveClosed: (() => void) | null = null
  private will: Will | null = null
  private readonly machine = new ConnectionMachine()
  private readonly duplex: ServedDuplex
  private readonly decoder: Decoder
  private readonly output: ConnectionOutput
  private readonly deps: ConnectionDeps
  /** The CONNECT deadline, then the keep-alive check. */
  private readonly timer: ConnectionTimer
  /** QoS 1/2 PUBLISHes handed to the handler whose answer (a hook) is pending. */
  private answering = 0
  /** packetTimeout for a packet partly received (see PacketTimer). */
  private readonly packetTimer: PacketTimer
  /** What it counts: BrokerStats, and its figures for the admin API. */
  readonly figures: ConnectionFigures

  constructor(deps: ConnectionDeps, incoming: Incoming) {
    this.deps = deps
    this.figures = new ConnectionFigures(deps.stats, deps.notable)
    this.remoteAddress = incoming.remoteAddress
    this.certificateUser = deps.identityAsUsername === true ? (incoming.identity ?? null) : undefined
    const { maxPacketSize, maxConnectSize, packetTimeout, connectTimeout } = deps.options
    // Until CONNACK a packet may be no larger than a CONNECT needs: nobody unauthenticated
    // gets the broker to buffer megabytes. accept() raises the limit.
    this.decoder = new Decoder((p) => this.onPacket(p), {
      maxPacketSize: Math.min(maxPacketSize, maxConnectSize),
    })
    this.packetTimer = new PacketTimer(this, packetTimeout)
    // before the transport opens: a chunk or a close may come while it does
    this.timer = new ConnectionTimer(this, connectTimeout)
    this.duplex = incoming.open(new Wire(this))
    this.output = new ConnectionOutput(this.duplex)
  }

  /** Settles once the transport has closed (made when first asked for: most never are). */
  get whenClosed(): Promise<void> {
    if (this.ended) return Promise.resolve()
    return (this.closedPromise ??= new Promise((resolve) => (this.resolveClosed = resolve)))
  }

  /** (Wire) The transport closed, for good. */
  transportEnded(err: Error | undefined): void {
    this.ended = true
    this.resolveClosed?.()
    this.deps.transportClosed?.(this)
    this.peerEnded(err === undefined ? 'connection closed' : `transport error: ${err.message}`)
  }

  /** The verified certificate's CN when it is the login (useIdentityAsUsername), for the hooks. */
  get certificateIdentity(): string | undefined {
    return this.certificateUser ?? undefined
  }

  get state(): ConnState {
    return this.machine.state
  }

  // --- input ---------------------------------------------------------------

  /** (Wire) Bytes read. */
  onData(chunk: Buffer): void {
    const m = this.machine
    if (m.state === 'closed') return
    const now = performance.now()
    this.timer.received(now)
    this.figures.read(chunk.length)
    if (m.state === 'awaiting-connect' && this.decoder.buffered === 0 && chunk.length > 0) {
      // [MQTT-3.1.0-1] judged on the first byte, before anything is buffered
      const type = chunk[0]! >>> 4
      if (type !== PacketType.CONNECT) {
        this.violation(`first packet is of type ${type}, not CONNECT`, 'MQTT-3.1.0-1')
        return
      }
    }
    try {
      this.decoder.push(chunk)
    } catch (err) {
      this.malformed(err)
      return
    }
    if (this.decoder.buffered > 0 && (m.state as ConnState) !== 'closed') this.packetTimer.partial(now)
  }

  private onPacket(packet: Packet): void {
    this.packetTimer.packet()
    const m = this.machine
    if (m.state === 'closed') return
    this.figures.decoded()
    if (
      packet.type === PacketType.PUBLISH &&
      packet.qos > 0 &&
      this.protocolVersion === PROTOCOL_V5 &&
      this.overReceiveMaximum(packet)
    ) {
      // [MQTT-3.3.4-7] the client may not have more than our Receive Maximum unacknowledged
      this.violation(
        `more than ${this.deps.options.receiveMaximum} QoS 1/2 PUBLISHes unacknowledged (Receive Maximum)`,
        'MQTT-3.3.4-7',
        ReasonCode.RECEIVE_MAXIMUM_EXCEEDED,
      )
      return
    }
    if (packet.type === PacketType.PUBLISH)
      this.figures.publish(packet.qos, this.protocolVersion, this.decoder.packetLength, packet.payload.length)
    // a PUBLISH's own bytes when they serve: a plain QoS 0 one is forwarded as it came, one in
    // memory of its own is kept without a copy and stamped into the QoS 1/2 copies (see Message)
    const raw =
      packet.type === PacketType.PUBLISH &&
      ((packet.qos === 0 && !packet.retain) || this.decoder.packetOwnsItsMemory)
        ? this.decoder.rawBytes()
        : null
    if (m.admits(packet.type)) this.handle(packet, raw)
    else this.hold(packet, raw)
  }

  /**
   * Whether this QoS 1/2 PUBLISH is one more than the client may have unacknowledged: those not yet
   * answered (held, or waiting for a hook) and QoS 2 ones awaiting PUBREL count; a resent id does not.
   */
  private overReceiveMaximum(p: PublishPacket): boolean {
    // before CONNACK the client has not been told the Receive Maximum: held packets are bounded
    // by maxConnectSize instead (see hold)
    const session = this.session
    if (session === null) return false
    const inbound = session.inbound
    if (p.qos === 2 && inbound.has(p.packetId)) return false
    const unacked = this.answering + this.machine.held.unacknowledged + inbound.size
    return unacked >= this.deps.options.receiveMaximum
  }

  /**
   * Keeps a packet for later, in order. Reading goes on (so acknowledgements are seen) until the held packets
   * pass a byte budget; then the transport is paused and TCP slows the client down. A client with a QoS 1/2
   * window stops by itself.
   */
  private hold(packet: Packet, raw: Buffer | null): void {
    const held = this.machine.held
    held.push(packet, raw)
    // before CONNACK nobody is owed more than a CONNECT's worth of buffering
    const { maxOutputBuffer, maxConnectSize } = this.deps.options
    const budget = this.session !== null ? maxOutputBuffer >>> 2 : maxConnectSize
    if (held.bytes > budget && !this.duplex.paused) this.duplex.pause()
  }

  /** Hands one packet to the handler; true when later packets must wait for its answer. */
  private handle(packet: Packet, raw: Buffer | null): boolean {
    let wait: Promise<void> | undefined
    try {
      wait = this.deps.handler.packet(this, packet, raw)
    } catch (err) {
      this.failed(err)
      return true
    }
    if (wait === undefined) return false
    this.machine.waitFor()
    // a QoS 1/2 PUBLISH whose hook is pending is not acknowledged yet (Receive Maximum)
    const unacked = packet.type === PacketType.PUBLISH && packet.qos > 0
    if (unacked) this.answering++
    wait.then(
      () => {
        if (unacked) this.answering--
        if (this.machine.settled()) this.replay()
      },
      (err: unknown) => this.failed(err),
    )
    return true
  }

  /** Handles held packets in order while nothing holds this connection back. */
  private replay(): void {
    const m = this.machine
    if (!m.beginReplay()) return
    while (m.replaying) {
      const h = m.held.shift()!
      if (this.handle(h.packet, h.raw)) return // the rest waits for its answer
    }
    if (m.state === 'ending') this.close(m.endReason, true)
    else if (m.state === 'open' && this.duplex.paused) this.duplex.resume()
  }

  /** Slows this publisher: its packets wait (acks still flow) until every pause is resumed. */
  pauseReading(): void {
    this.machine.throttle()
  }

  resumeReading(): void {
    // not at once: this may be called while one of this connection's own packets is handled
    if (this.machine.unthrottle()) queueMicrotask(() => this.replay())
  }

  // PartlyReceived, for the PacketTimer
  get buffered(): number {
    return this.decoder.buffered
  }
  get paused(): boolean {
    return this.duplex.paused
  }
  packetTimedOut(): void {
    this.deps.options.logger.debug(
      { clientId: this.id, buffered: this.decoder.buffered },
      'a packet did not arrive whole within packetTimeout',
    )
    this.close('packet not complete within packetTimeout', true)
  }

  // --- Peer: what the protocol handlers ask --------------------------------

  identify(packet: ConnectPacket): void {
    this.machine.connecting()
    this.id = packet.clientId
    this.username = packet.username
    this.protocolVersion = packet.protocolVersion
    // from here on the decoder reads this version's packets (MQTT 5: properties, AUTH)
    this.decoder.protocolVersion = packet.protocolVersion
    const p = packet.properties
    if (packet.protocolVersion !== PROTOCOL_V5 || p === undefined) return
    this.connectProperties = p
    this.connectExpiry = p.sessionExpiryInterval ?? 0
    this.limits = clientLimits(p)
  }

  accept(packet: ConnectPacket, session: Session, keepalive: number): void {
    this.session = session
    this.figures.connectedAt = Date.now()
    this.figures.keepaliveSeconds = keepalive
    this.will = packet.will ?? null
    this.decoder.maxPacketSize = this.deps.options.maxPacketSize
    // authenticated: a large PUBLISH gets its whole buffer at once (held no longer than packetTimeout)
    this.decoder.wholeUpTo = Math.min(this.deps.options.maxPacketSize, WHOLE_UP_TO)
    this.duplex.accepted?.()
    this.timer.accepted(keepalive)
    if (this.machine.accepted()) queueMicrotask(() => this.replay())
  }

  discardWill(): void {
    this.will = null
  }

  // TimedLink, for the ConnectionTimer
  connectTimedOut(): void {
    const s = this.machine.state
    if (s === 'awaiting-connect' || s === 'authenticating') {
      this.refused('protocolError', 'no CONNECT within connectTimeout')
      this.close('no CONNECT in time', true)
    }
  }

  keepaliveExpired(): void {
    this.close('keep-alive timeout', true, false, ReasonCode.KEEP_ALIVE_TIMEOUT)
  }

  /**
   * The peer closed its side, or its transport failed. A connected client's packets still held behind a pending
   * hook were sent before that and are handled first (a DISCONNECT among them discards the will [MQTT-3.14.4-3]);
   * then the connection closes. Nothing more is written to the peer.
   */
  private peerEnded(reason: string): void {
    const next = this.machine.peerEnded(reason)
    if (next === 'close') this.close(reason, true)
    else if (next === 'replay') this.replay()
  }

  /** The decoder refused the input: a malformed packet, or one too large. */
  private malformed(err: unknown): void {
    if (!(err instanceof ProtocolError)) {
      this.failed(err)
      return
    }
    const reasonCode = err.reasonCode ?? ReasonCode.MALFORMED_PACKET
    if (err.code === ErrorCode.PACKET_TOO_LARGE)
      this.deps.limits.hit('packet-size', this.remoteAddress ?? '', err.message)
    // a refused CONNECT gets its return code, then the close
    if (this.machine.state === 'awaiting-connect') {
      if (err.returnCode !== undefined) {
        this.send(refusingConnack(err.returnCode))
        this.refused(refusalReason(err.returnCode), `CONNECT refused: ${err.message}`)
      } else this.refused('protocolError', `CONNECT refused: ${err.message}`)
    }
    this.deps.options.logger.debug({ clientId: this.id, code: err.code, rule: err.rule }, err.message)
    this.close(`protocol error: ${err.message}`, true, false, reasonCode)
  }

  /** A bug, or a store that threw while this connection's packet was handled: only this connection ends. */
  private failed(err: unknown): void {
    this.deps.options.logger.error({ clientId: this.id, err }, 'unexpected error while handling a packet')
    this.close('internal error', true)
  }

  violation(message: string, rule: string, reasonCode: number = ReasonCode.PROTOCOL_ERROR): void {
    if (this.machine.state === 'awaiting-connect') this.refused('protocolError', `refused: ${message}`)
    this.deps.options.logger.debug({ clientId: this.id, rule, reasonCode }, message)
    this.close(`protocol violation: ${message} [${rule}]`, true, false, reasonCode)
  }

  /**
   * Ends the connection once. `abnormal` publishes the will (if any) [MQTT-3.1.2-8]; pending output is flushed
   * first so a CONNACK or SUBACK still reaches the peer, unless `reset`: then the transport is reset at once.
   */
  close(reason: string, abnormal: boolean, reset = false, reasonCode?: number): void {
    const m = this.machine
    if (m.state === 'closed') return
    const wasConnected = this.session !== null
    if (reasonCode !== undefined && !reset && this.protocolVersion === PROTOCOL_V5) {
      const last = closingPacket(
        wasConnected,
        m.state === 'authenticating',
        reasonCode,
        reason,
        this.limits.maximumPacketSize,
      )
      if (last !== null) this.send(last)
    }
    m.close()
    this.timer.stop()
    this.packetTimer.stop()
    const duplex = this.duplex
    // (not after end(): Node 20 spins on a reset of a socket that is ending)
    if (reset) duplex.reset()
    else {
      // nothing this connection was told is acknowledged may be undurable
      this.deps.flusher.flushNow(this, () => {
        duplex.end()
        // Do not wait for the peer: a broken or slow client must not hold its transport.
        const timer = setTimeout(() => duplex.destroy(), 1000).unref()
        this.whenClosed.then(() => clearTimeout(timer))
      })
    }
    const will = abnormal ? this.will : null
    this.will = null
    this.deps.handler.closed(this, wasConnected, will, reason)
  }

  /** A subscriber that took nothing for slowConsumerTimeout: closed (will published), reset at once. */
  dropSlowConsumer(): void {
    this.figures.slowConsumer(this.id, this.remoteAddress, this.outputBacklog)
    this.close('slow consumer: took nothing for slowConsumerTimeout', true, true)
  }

  /** [MQTT-3.1.4-2] a new connection with the same client id takes the session over. */
  takenOver(): void {
    this.close('session taken over by a new connection', true, false, ReasonCode.SESSION_TAKEN_OVER)
  }

  private refused(reason: keyof RefusedCounts, detail: string): void {
    this.figures.refused(reason, detail, this.id, this.remoteAddress)
  }

  // --- output ----------------------------------------------------------------

  send(bytes: Buffer, packets = 1): void {
    const s = this.machine.state
    if (s === 'closed' || s === 'ending') return
    this.figures.sent(bytes, packets)
    if (this.output.push(bytes)) this.deps.flusher.markDirty(this)
  }

  get outputBacklog(): number {
    return this.output.backlog
  }

  get flushed(): number {
    return this.duplex.taken
  }

  /** One write for everything queued this turn (Outbox). */
  flush(): void {
    if (this.output.flush()) this.written()
  }

  seal(): void {
    this.output.seal()
  }

  release(): void {
    if (this.output.release()) this.written()
  }

  commitFailed(): void {
    this.output.dropSealed()
    this.close('store commit failed', true, true)
  }

  unstored(): void {
    this.output.dropSealed()
    this.close('the cluster did not store its messages', true, false, ReasonCode.SERVER_BUSY)
  }

  /** A write taken whole emits no 'drain': what waits for this subscriber's output learns it here instead. */
  private written(): void {
    const session = this.session
    if (session !== null && this.duplex.backlog === 0 && session.awaitsDrain) session.drained()
  }
}

/** An authenticated client's split packets up to this size get their whole buffer at once (Decoder.wholeUpTo). */
const WHOLE_UP_TO = 16 * 1024 * 1024

/**
 * What a connection's transport tells it, as prototype methods rather than three closures
 * per connection (see StreamDuplex: idle connections are counted in tens of thousands).
 */
class Wire implements DuplexEvents {
  private readonly conn: Connection

  constructor(conn: Connection) {
    this.conn = conn
  }
  data(chunk: Buffer): void {
    this.conn.onData(chunk)
  }
  drain(): void {
    this.conn.session?.drained()
  }
  close(error: Error | undefined): void {
    this.conn.transportEnded(error)
  }
}
