import type { Duplex } from 'node:stream'
import { ProtocolError } from '../errors.js'
import { PacketType, type ProtocolVersion } from '../protocol/constants.js'
import { Decoder } from '../protocol/decoder.js'
import { encodeAck } from '../protocol/encoder.js'
import type { ConnectPacket, Packet, PublishPacket, Will } from '../protocol/packets.js'
import type { Broker } from './broker.js'
import type { ClientInfo } from './options.js'
import type { Session, SessionLink } from './session.js'

/**
 * One network connection: socket <-> decoder <-> session.
 *
 * Lifecycle: 'awaiting-connect' -> ('authenticating') -> 'connected' -> 'closed'.
 * Packets are handled one at a time in arrival order; when a hook answers with
 * a Promise the connection stops reading and holds later packets until it
 * settles, so order is kept without a Promise per packet on the fast path.
 *
 * Writes are gathered per event-loop turn and flushed by the broker in one
 * write per connection.
 */
export type ConnectionState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed'

const PINGRESP = Buffer.from([0xd0, 0])

export class Connection implements SessionLink, ClientInfo {
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
  private readonly broker: Broker
  private readonly decoder: Decoder
  private keepaliveMs = 0
  private lastSeen = 0
  private timer: NodeJS.Timeout | null = null
  private backlog: Packet[] | null = null
  private pauses = 0
  private closeReason = ''
  /** True while packets held during a hook are handled (see drainBacklog). */
  private replaying = false

  constructor(broker: Broker, socket: Duplex, remoteAddress: string | undefined) {
    this.broker = broker
    this.socket = socket
    this.remoteAddress = remoteAddress
    this.decoder = new Decoder((p) => this.onPacket(p), { maxPacketSize: broker.options.maxPacketSize })
    socket.on('data', (chunk: Buffer) => this.onData(chunk))
    socket.on('error', (err: Error) => this.close(`socket error: ${err.message}`, true))
    socket.on('end', () => this.close('connection closed by peer', true))
    socket.on('close', () => this.close('connection closed', true))
    socket.on('drain', () => this.session?.drained())
    this.timer = setTimeout(() => {
      if (this.state === 'awaiting-connect' || this.state === 'authenticating')
        this.close('no CONNECT in time', true)
    }, broker.options.connectTimeout)
  }

  get outputBacklog(): number {
    return this.pendingBytes + this.socket.writableLength
  }

  // --- input ---------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return
    this.lastSeen = performance.now()
    this.broker.stats.bytesReceived += chunk.length
    try {
      this.decoder.push(chunk)
    } catch (err) {
      this.protocolViolation(err)
    }
  }

  private onPacket(packet: Packet): void {
    if (this.state === 'closed') return
    if (this.backlog !== null) {
      this.backlog.push(packet)
      return
    }
    const wait = this.dispatch(packet)
    if (wait !== undefined) this.waitFor(wait)
  }

  /** Holds later packets until `p` settles, then handles them in order. */
  private waitFor(p: Promise<void>): void {
    this.backlog = []
    this.pauseReading()
    p.then(
      () => this.drainBacklog(),
      (err: unknown) => this.close(`hook failed: ${err instanceof Error ? err.message : String(err)}`, true),
    )
  }

  private drainBacklog(): void {
    const backlog = this.backlog
    this.backlog = null
    this.resumeReading()
    if (backlog === null) return
    // Replayed packets are outside the decoder's callback: their raw bytes are gone (see forwardable).
    this.replaying = true
    try {
      for (let i = 0; i < backlog.length; i++) {
        if (this.state === 'closed') return
        const wait = this.dispatch(backlog[i]!)
        if (wait !== undefined) {
          this.waitFor(wait)
          this.backlog!.push(...backlog.slice(i + 1))
          return
        }
      }
    } catch (err) {
      // a hook that throws must close this connection, not surface as an unhandled rejection
      this.protocolViolation(err)
    } finally {
      this.replaying = false
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
        session.releaseQos2(packet.packetId)
        this.send(encodeAck(0x70, packet.packetId))
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
      const idle = performance.now() - this.lastSeen
      if (idle >= limit) this.close('keep-alive timeout', true)
      else this.armKeepalive(limit - idle)
    }, delay)
  }

  private protocolViolation(err: unknown): void {
    if (err instanceof ProtocolError) {
      if (err.returnCode !== undefined && this.state === 'awaiting-connect') {
        // [MQTT-3.2.2-4] [MQTT-3.2.2-5] a refused CONNECT gets its return code, then the close
        this.send(Buffer.from([0x20, 2, 0, err.returnCode]))
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
   * pending output is flushed first so a CONNACK or SUBACK still reaches the peer.
   */
  close(reason: string, abnormal: boolean): void {
    if (this.state === 'closed') return
    const wasConnected = this.state === 'connected'
    this.state = 'closed'
    this.closeReason = reason
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.broker.commit() // nothing this connection was told is acknowledged may be undurable
    this.flush()
    this.socket.end()
    // Do not wait for the peer: a broken or slow client must not hold its socket.
    setTimeout(() => this.socket.destroy(), 1000).unref()
    this.broker.detach(this, wasConnected, abnormal ? this.will : null, reason)
    this.will = null
  }

  get reason(): string {
    return this.closeReason
  }

  // --- output ----------------------------------------------------------------

  send(bytes: Buffer): void {
    if (this.state === 'closed') return
    if (this.pending.length === 0) this.broker.markDirty(this)
    this.pending.push(bytes)
    this.pendingBytes += bytes.length
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
  }

  pauseReading(): void {
    if (this.pauses++ === 0) this.socket.pause()
  }

  resumeReading(): void {
    if (this.pauses > 0 && --this.pauses === 0 && this.state !== 'closed') this.socket.resume()
  }

  dropSlowConsumer(): void {
    this.close('slow consumer: queue stayed full', true)
  }

  /** PUBLISH bytes as received, when they can be forwarded unchanged to QoS 0 subscribers. */
  forwardable(packet: PublishPacket): Buffer | null {
    return packet.qos === 0 && !packet.retain && !this.replaying ? this.decoder.rawBytes() : null
  }
}
