import type { Duplex } from 'node:stream'
import { ProtocolError } from '../errors.js'
import { PacketType, type ProtocolVersion } from '../protocol/constants.js'
import { Decoder } from '../protocol/decoder.js'
import { encode } from '../protocol/encoder.js'
import type { ConnectPacket, Packet, PublishPacket, Will } from '../protocol/packets.js'
import type { Broker } from './broker.js'
import { HeldPackets } from './held-packets.js'
import type { ClientInfo } from './options.js'
import { PacketTimer, type PartlyReceived } from './packet-timer.js'
import type { Session, SessionLink } from './session.js'

/**
 * One network connection: socket <-> decoder <-> session.
 *
 * Lifecycle: 'awaiting-connect' -> ('authenticating') -> 'connected' -> 'closed'.
 * Packets are handled one at a time in arrival order; when a hook answers with
 * a Promise, or a subscriber asks to slow this publisher, later packets are held
 * (in order) until it settles, so order is kept without a Promise per packet on
 * the fast path.
 *
 * Writes are gathered per event-loop turn and flushed by the broker in one
 * write per connection.
 */
export type ConnectionState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed'

const PINGRESP = Buffer.from([0xd0, 0])

export class Connection implements SessionLink, ClientInfo, PartlyReceived {
  state: ConnectionState = 'awaiting-connect'
  id = ''
  username: string | undefined = undefined
  protocolVersion: ProtocolVersion = 4
  session: Session | null = null
  will: Will | null = null
  readonly remoteAddress: string | undefined
  readonly socket: Duplex
  /** Bytes waiting for this turn's flush. */
  pending: Buffer[] = []
  pendingBytes = 0
  /** Bytes ever queued by send(); less the backlog, what the transport has taken. */
  private sentBytes = 0
  private readonly broker: Broker
  private readonly decoder: Decoder
  private keepaliveMs = 0
  // Times are performance.now() values: fractional from the start, so the field's representation
  // never changes under optimised code (V8 would deoptimise everything that reads a Connection).
  private lastSeen = performance.now()
  private timer: NodeJS.Timeout | null = null
  /** Packets kept while a hook settles or while this publisher is slowed. */
  private readonly held = new HeldPackets()
  /** A hook's Promise is pending: later packets wait for it. */
  private waiting = false
  /** Sessions that asked to slow this publisher down (see Session.throttle). */
  private throttles = 0
  private socketPaused = false
  private draining = false
  /** True while packets held during a hook are handled (see drainHeld). */
  private replaying = false
  /** Why the peer left while packets it sent were still held: they are handled first (see peerEnded). */
  private peerGone: string | null = null
  /** packetTimeout for a packet partly received (see PacketTimer). */
  private readonly packetTimer: PacketTimer

  constructor(broker: Broker, socket: Duplex, remoteAddress: string | undefined) {
    this.broker = broker
    this.socket = socket
    this.remoteAddress = remoteAddress
    // Until CONNACK a packet may be no larger than a CONNECT needs: nobody unauthenticated
    // gets the broker to buffer megabytes. accept() raises the limit.
    const { maxPacketSize, maxConnectSize } = broker.options
    this.decoder = new Decoder((p) => this.onPacket(p), {
      maxPacketSize: Math.min(maxPacketSize, maxConnectSize),
    })
    this.packetTimer = new PacketTimer(this, broker.options.packetTimeout)
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err: Error) => this.peerEnded(`socket error: ${err.message}`))
    socket.on('end', () => this.peerEnded('connection closed by peer'))
    socket.on('close', () => this.peerEnded('connection closed'))
    socket.on('drain', () => this.session?.drained())
    this.timer = setTimeout(() => {
      if (this.state === 'awaiting-connect' || this.state === 'authenticating')
        this.close('no CONNECT in time', true)
    }, broker.options.connectTimeout)
  }

  private get isClosed(): boolean {
    return this.state === 'closed'
  }

  get outputBacklog(): number {
    return this.pendingBytes + this.socket.writableLength
  }

  get flushed(): number {
    let taken = this.sentBytes - this.outputBacklog
    // A write that the kernel takes in parts leaves writableLength only once it is whole;
    // libuv's queue tells how much of it is still waiting (a net.Socket's internals: a
    // stream without them is measured by whole writes).
    const s = this.socket as Duplex & InFlightWrite
    const state = s._writableState
    const queued = s._handle?.writeQueueSize
    if (state?.writing === true && typeof queued === 'number') taken += state.writelen - queued
    return taken
  }

  // --- input ---------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return
    const now = performance.now()
    this.lastSeen = now
    this.broker.stats.bytesReceived += chunk.length
    if (this.state === 'awaiting-connect' && this.decoder.buffered === 0 && chunk.length > 0) {
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
      this.protocolViolation(err)
      return
    }
    if (this.decoder.buffered > 0 && !this.isClosed) this.packetTimer.partial(now)
  }

  // PartlyReceived, for the PacketTimer
  get buffered(): number {
    return this.decoder.buffered
  }
  get paused(): boolean {
    return this.socketPaused
  }
  packetTimedOut(): void {
    this.broker.log.debug(
      { clientId: this.id, buffered: this.decoder.buffered },
      'a packet did not arrive whole within packetTimeout',
    )
    this.close('packet not complete within packetTimeout', true)
  }

  private onPacket(packet: Packet): void {
    this.packetTimer.packet()
    if (this.state === 'closed') return
    this.broker.stats.messagesReceived++ // packets of any type, as $SYS/broker/messages/received counts them
    if (this.waiting || this.throttles > 0 || this.held.size > 0) {
      // Acknowledgements of our PUBLISHes keep flowing while the rest waits: a client that
      // both publishes and subscribes must be able to drain its own queue, or two such
      // clients slowed on each other's account would wait for each other forever.
      // (Only a PUBREC is answered, with a PUBREL that no ordering rule ties to other replies.)
      const t = packet.type
      if (
        this.state === 'connected' &&
        (t === PacketType.PUBACK || t === PacketType.PUBREC || t === PacketType.PUBCOMP)
      ) {
        this.dispatch(packet)
        return
      }
      this.hold(packet)
      return
    }
    const wait = this.dispatch(packet)
    if (wait !== undefined) this.waitFor(wait)
  }

  /**
   * Keeps a packet for later, in order. Reading goes on (so acknowledgements are
   * seen) until the held packets pass a byte budget; then the socket is paused and
   * TCP slows the client down. A client with a QoS 1/2 window stops by itself.
   */
  private hold(packet: Packet): void {
    this.held.push(packet, packet.type === PacketType.PUBLISH ? this.forwardable(packet) : null)
    // before CONNACK nobody is owed more than a CONNECT's worth of buffering
    const budget =
      this.state === 'connected'
        ? this.broker.options.maxOutputBuffer >>> 2
        : this.broker.options.maxConnectSize
    if (!this.socketPaused && this.held.bytes > budget) {
      this.socketPaused = true
      this.socket.pause()
    }
  }

  /** Holds later packets until `p` settles, then handles them in order. */
  private waitFor(p: Promise<void>): void {
    this.waiting = true
    p.then(
      () => {
        this.waiting = false
        this.drainHeld()
      },
      (err: unknown) => this.close(`hook failed: ${err instanceof Error ? err.message : String(err)}`, true),
    )
  }

  /** Handles held packets in order while nothing holds this connection back. */
  private drainHeld(): void {
    if (this.draining || this.isClosed) return
    this.draining = true
    // Replayed packets are outside the decoder's callback: their raw bytes were kept (see forwardable).
    this.replaying = true
    try {
      const held = this.held
      // once the peer is gone nothing is gained by slowing it: what it sent is handled at once
      while (held.size > 0 && !this.waiting && (this.throttles === 0 || this.peerGone !== null)) {
        if (this.isClosed) {
          held.clear()
          break
        }
        const wait = this.dispatch(held.shift()!)
        if (wait !== undefined) this.waitFor(wait)
      }
    } catch (err) {
      // a hook that throws must close this connection, not surface as an unhandled rejection
      this.protocolViolation(err)
    } finally {
      this.replaying = false
      this.held.compact()
      this.draining = false
    }
    if (this.peerGone !== null) {
      if (!this.waiting && !this.isClosed) this.close(this.peerGone, true)
      return
    }
    if (this.socketPaused && !this.waiting && this.throttles === 0 && !this.isClosed) {
      this.socketPaused = false
      this.socket.resume()
    }
  }

  /** Handles one packet; returns a Promise only when it must finish before the next packet. */
  private dispatch(packet: Packet): Promise<void> | undefined {
    if (this.state !== 'connected') {
      if (packet.type !== PacketType.CONNECT) {
        // [MQTT-3.1.0-1] the first packet from the client must be CONNECT
        this.violation(`first packet is ${packet.type}, not CONNECT`, 'MQTT-3.1.0-1')
        return undefined
      }
      if (this.state !== 'awaiting-connect') {
        this.violation('second CONNECT', 'MQTT-3.1.0-2')
        return undefined
      }
      return this.broker.connect(this, packet)
    }
    const session = this.session!
    switch (packet.type) {
      case PacketType.PUBLISH:
        return this.broker.publish(this, session, packet)
      case PacketType.PUBACK:
        session.ack('puback', packet.packetId)
        return undefined
      case PacketType.PUBREC:
        session.ack('pubrec', packet.packetId)
        return undefined
      case PacketType.PUBCOMP:
        session.ack('pubcomp', packet.packetId)
        return undefined
      case PacketType.PUBREL:
        // [MQTT-4.3.3-2] discard the id, answer PUBCOMP (also for an id no longer known)
        this.send(session.releaseQos2(packet.packetId))
        return undefined
      case PacketType.SUBSCRIBE:
        return this.broker.subscribe(this, session, packet)
      case PacketType.UNSUBSCRIBE:
        this.broker.unsubscribe(this, session, packet)
        return undefined
      case PacketType.PINGREQ:
        this.send(PINGRESP) // [MQTT-3.12.4-1]
        return undefined
      case PacketType.DISCONNECT:
        // [MQTT-3.14.4-3] a DISCONNECT discards the will
        this.will = null
        this.close('client sent DISCONNECT', false)
        return undefined
      case PacketType.CONNECT:
        this.violation('second CONNECT', 'MQTT-3.1.0-2')
        return undefined
      default:
        // CONNACK, SUBACK, UNSUBACK, PINGRESP only flow from server to client
        this.violation(`packet type ${packet.type} is not sent by clients`, 'MQTT-2.2.1')
        return undefined
    }
  }

  // --- state changes ---------------------------------------------------------

  /** Called by the broker once CONNACK 0 is queued. */
  accept(packet: ConnectPacket, session: Session): void {
    this.state = 'connected'
    this.session = session
    this.will = packet.will ?? null
    this.keepaliveMs = packet.keepalive * 1000
    this.decoder.maxPacketSize = this.broker.options.maxPacketSize
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    if (this.keepaliveMs > 0) this.armKeepalive(this.keepaliveMs * 1.5)
  }

  beginAuthentication(packet: ConnectPacket): void {
    this.state = 'authenticating'
    this.id = packet.clientId
    this.username = packet.username
    this.protocolVersion = packet.protocolVersion
    this.decoder.protocolVersion = packet.protocolVersion
  }

  /**
   * [MQTT-3.1.2-24] a client silent for 1.5 keep-alive periods is disconnected.
   * One timer per connection, re-armed only when it fires; reads just record the time.
   */
  private armKeepalive(delay: number): void {
    this.timer = setTimeout(() => {
      const limit = this.keepaliveMs * 1.5
      // While this publisher is held back it is not read: its packets wait in the socket, unseen.
      if (this.socketPaused && this.peerGone === null) this.lastSeen = performance.now()
      const idle = performance.now() - this.lastSeen
      if (idle >= limit) this.close('keep-alive timeout', true)
      else this.armKeepalive(limit - idle)
    }, delay)
  }

  /**
   * The peer closed its side, or its socket failed. A connected client's packets
   * still held behind a pending hook were sent before that and are handled first
   * (a DISCONNECT among them discards the will [MQTT-3.14.4-3]); then the
   * connection closes. Nothing more is written to the peer.
   */
  private peerEnded(reason: string): void {
    if (this.state !== 'connected' || (!this.waiting && this.held.size === 0)) {
      this.close(reason, true)
      return
    }
    this.peerGone ??= reason
    this.drainHeld()
  }

  private protocolViolation(err: unknown): void {
    if (err instanceof ProtocolError) {
      if (err.returnCode !== undefined && this.state === 'awaiting-connect') {
        // [MQTT-3.2.2-4] [MQTT-3.2.2-5] a refused CONNECT gets its return code, then the close
        this.send(encode({ type: PacketType.CONNACK, sessionPresent: false, returnCode: err.returnCode }))
      }
      this.broker.log.debug({ clientId: this.id, code: err.code, rule: err.rule }, err.message)
      this.close(`protocol error: ${err.message}`, true)
      return
    }
    this.broker.log.error({ clientId: this.id, err }, 'unexpected error while handling a packet')
    this.close('internal error', true)
  }

  violation(message: string, rule: string): void {
    this.broker.log.debug({ clientId: this.id, rule }, message)
    this.close(`protocol violation: ${message} [${rule}]`, true)
  }

  /**
   * Ends the connection once. `abnormal` publishes the will (if any) [MQTT-3.1.2-8];
   * pending output is flushed first so a CONNACK or SUBACK still reaches the peer,
   * unless `reset`: then the socket is reset at once and what it held is dropped.
   */
  close(reason: string, abnormal: boolean, reset = false): void {
    if (this.state === 'closed') return
    const wasConnected = this.state === 'connected'
    this.state = 'closed'
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.packetTimer.stop()
    this.broker.commit() // nothing this connection was told is acknowledged may be undurable
    const socket = this.socket as Duplex & { resetAndDestroy?: () => void }
    if (reset) {
      // (not after end(): Node 20 spins on a reset of a socket that is ending)
      try {
        socket.resetAndDestroy!()
      } catch {
        // not a TCP handle (TLS, a pipe, a test pair): there is no reset to send
        socket.destroy()
      }
    } else {
      this.flush()
      socket.end()
      // Do not wait for the peer: a broken or slow client must not hold its socket. (Nor
      // the timer this connection: it goes once the socket has closed.)
      if (!socket.destroyed) {
        const timer = setTimeout(() => socket.destroy(), 1000).unref()
        socket.once('close', () => clearTimeout(timer))
      }
    }
    this.broker.detach(this, wasConnected, abnormal ? this.will : null, reason)
    this.will = null
  }

  // --- output ----------------------------------------------------------------

  send(bytes: Buffer): void {
    if (this.state === 'closed' || this.peerGone !== null) return
    if (this.pending.length === 0) this.broker.markDirty(this)
    this.pending.push(bytes)
    this.pendingBytes += bytes.length
    this.sentBytes += bytes.length
  }

  /** One write for everything queued this turn (small packets gathered into one buffer). */
  flush(): void {
    const pending = this.pending
    const n = pending.length
    if (n === 0) return
    const total = this.pendingBytes
    this.pending = []
    this.pendingBytes = 0
    if (this.socket.destroyed) return
    if (n === 1) {
      this.socket.write(pending[0]!)
    } else if (total <= 65_536) {
      this.socket.write(Buffer.concat(pending, total))
    } else {
      this.socket.cork()
      for (let i = 0; i < n; i++) this.socket.write(pending[i]!)
      this.socket.uncork()
    }
    // A write the socket took whole at once emits no 'drain': what waits for this
    // subscriber's output (slowed publishers, queued messages) learns it here instead.
    const session = this.session
    if (session !== null && this.socket.writableLength === 0 && (session.slowing || session.queued > 0))
      session.drained()
  }

  /** Slows this publisher: its PUBLISHes wait (acks still flow) until every pause is resumed. */
  pauseReading(): void {
    this.throttles++
  }

  resumeReading(): void {
    if (this.throttles > 0 && --this.throttles === 0) this.drainHeld()
  }

  /**
   * A subscriber that took nothing for slowConsumerTimeout: closed (its will published)
   * and reset at once, since output it does not read would only wait in the kernel.
   */
  dropSlowConsumer(): void {
    this.close('slow consumer: took nothing for slowConsumerTimeout', true, true)
  }

  /** PUBLISH bytes as received, when they can be forwarded unchanged to QoS 0 subscribers. */
  forwardable(packet: PublishPacket): Buffer | null {
    if (packet.qos !== 0 || packet.retain) return null
    return this.replaying ? this.held.raw : this.decoder.rawBytes()
  }
}

/** What a net.Socket shows of the write in progress (see Connection.flushed). */
interface InFlightWrite {
  _writableState?: { writing: boolean; writelen: number }
  _handle?: { writeQueueSize?: number } | null
}
