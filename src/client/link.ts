import { PacketType, PROTOCOL_V5 } from '../protocol/constants.js'
import { Decoder } from '../protocol/decoder.js'
import { encode } from '../protocol/encoder.js'
import type { ConnectProperties, Packet } from '../protocol/packets.js'
import { KeepAlive } from '../session/keepalive.js'
import type { ByteDuplex, DuplexEvents } from '../transport/transport.js'
import { disconnectReason } from './aliases.js'
import { AuthError, ConnectionLostError, PingTimeoutError } from './errors.js'
import type { LifecycleInput } from './lifecycle.js'
import type { ResolvedClientOptions } from './options.js'
import type { Writer } from './writer.js'

/** What a link reports to the client. */
export interface LinkHost {
  /** A packet from the broker. A throw (a ProtocolError) drops the link. */
  packet(p: Packet): void
  /** What happened to the link, for the lifecycle machine. */
  input(i: LifecycleInput): void
}

/** How long `end()` waits for the broker to close after DISCONNECT. */
const END_TIMEOUT = 2000

const PINGREQ = encode({ type: PacketType.PINGREQ })
const DISCONNECT = encode({ type: PacketType.DISCONNECT })

/**
 * The client's current transport connection, one at a time: opens it within
 * `connectTimeout` and writes CONNECT; decodes what it reads; runs the
 * keep-alive timer once the broker accepted; ends or drops it. Every transport
 * gets a generation number, so the late events of a dropped one are ignored.
 */
export class Link {
  private readonly options: ResolvedClientOptions
  private readonly writer: Writer
  private readonly host: LinkHost
  private keepalive: KeepAlive
  /** The client id CONNECT carries: the option, or (MQTT 5) the id the broker assigned [MQTT-3.2.2-16]. */
  clientId: string
  /** Clean Start of the next CONNECT: the option's, until a session meant to outlive connections exists. */
  cleanStart: boolean
  private duplex: ByteDuplex | null = null
  private decoder: Decoder | null = null
  private gen = 0
  private opening: AbortController | null = null
  private connectTimer: NodeJS.Timeout | null = null
  private pingTimer: NodeJS.Timeout | null = null
  private endTimer: NodeJS.Timeout | null = null
  private paused = false

  constructor(options: ResolvedClientOptions, writer: Writer, host: LinkHost) {
    this.options = options
    this.writer = writer
    this.host = host
    this.clientId = options.clientId
    this.cleanStart = options.clean
    this.keepalive = new KeepAlive(options.keepalive * 1000, options.pingTimeout)
    writer.onFlush = () => this.keepalive.sent(performance.now())
  }

  /** Increases with every transport: events of an older one are stale. */
  get generation(): number {
    return this.gen
  }

  /** Opens a transport and sends CONNECT; reports 'connect-timeout' or 'lost' if that fails. */
  open(): void {
    const gen = ++this.gen
    const opening = new AbortController()
    this.opening = opening
    const timeout = this.options.connectTimeout
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null
      this.host.input({ type: 'connect-timeout', timeout })
    }, timeout)
    const events: DuplexEvents = {
      data: (chunk) => {
        if (gen === this.gen) this.onData(chunk)
      },
      drain: () => {
        if (gen === this.gen) this.writer.drain()
      },
      close: (error) => {
        if (gen === this.gen) this.host.input({ type: 'lost', error: error ?? new ConnectionLostError() })
      },
    }
    this.options.transport.open(events, opening.signal).then(
      (duplex) => {
        if (gen !== this.gen) {
          duplex.destroy()
          return
        }
        this.opening = null
        this.attach(duplex)
      },
      (err: unknown) => {
        if (gen === this.gen) this.host.input({ type: 'lost', error: asError(err) })
      },
    )
  }

  private attach(duplex: ByteDuplex): void {
    const o = this.options
    this.duplex = duplex
    this.decoder = new Decoder(this.host.packet, {
      maxPacketSize: o.maxPacketSize,
      protocolVersion: o.protocolVersion,
      // the client trusts its server: a large packet is gathered in one buffer, not by doubling
      wholeUpTo: Math.min(o.maxPacketSize, 16 * 1024 * 1024),
    })
    this.writer.attach(duplex)
    if (this.paused) duplex.pause()
    const auth = o.auth
    if (auth === undefined) {
      this.writer.push(this.connectPacket(o.connectProperties))
      return
    }
    // Enhanced authentication [MQTT-4.12]: the handler's first data goes in CONNECT.
    const gen = this.gen
    let first: ReturnType<typeof auth.start>
    try {
      first = auth.start()
    } catch (err) {
      this.host.input({
        type: 'lost',
        error: new AuthError('the auth handler failed to start', undefined, err),
      })
      return
    }
    Promise.resolve(first).then(
      (data) => {
        if (gen !== this.gen) return
        const properties: ConnectProperties = { ...o.connectProperties, authenticationMethod: auth.method }
        if (data !== undefined) properties.authenticationData = data
        this.writer.push(this.connectPacket(properties))
      },
      (err: unknown) => {
        if (gen === this.gen) {
          this.host.input({
            type: 'lost',
            error: new AuthError('the auth handler failed to start', undefined, err),
          })
        }
      },
    )
  }

  private connectPacket(properties: ConnectProperties | undefined): Buffer {
    const o = this.options
    const v = o.protocolVersion
    return encode(
      {
        type: PacketType.CONNECT,
        protocolName: v === 3 ? 'MQIsdp' : 'MQTT',
        protocolVersion: v,
        clean: this.cleanStart,
        keepalive: o.keepalive,
        clientId: this.clientId,
        will: o.will,
        username: o.username,
        password: o.password,
        properties,
      },
      v,
    )
  }

  /** A packet of the current connection (AUTH, SUBSCRIBE ...), written after what is queued. */
  send(bytes: Buffer): void {
    if (this.duplex !== null) this.writer.push(bytes)
  }

  /**
   * The broker accepted: the connect timer stops, keep-alive starts, with the
   * broker's Server Keep Alive in place of ours when it gave one [MQTT-3.1.2-21].
   */
  accepted(serverKeepAlive?: number): void {
    this.clear('connect')
    const o = this.options
    const seconds = serverKeepAlive ?? o.keepalive
    if (seconds * 1000 !== this.keepalive.interval) {
      this.keepalive = new KeepAlive(seconds * 1000, o.pingTimeoutGiven ? o.pingTimeout : seconds * 1000)
    }
    if (this.keepalive.enabled) {
      this.keepalive.reset(performance.now())
      this.armPing(this.keepalive.interval)
    }
  }

  /** DISCONNECT after what is queued, then a graceful close; 'end-timeout' if the broker does not close. */
  end(disconnect: Buffer = DISCONNECT): void {
    this.clear('ping')
    this.writer.push(disconnect)
    this.writer.flush()
    this.duplex?.end()
    this.endTimer = setTimeout(() => {
      this.endTimer = null
      this.host.input({ type: 'end-timeout' })
    }, END_TIMEOUT)
    this.endTimer.unref()
  }

  /** Destroys the transport (if any), disarms its timers, rejects the QoS 0 publishes it did not write. */
  drop(): void {
    this.gen++
    this.clear('all')
    this.opening?.abort(new ConnectionLostError())
    this.opening = null
    const unsent = this.writer.detach()
    if (unsent.length > 0) {
      const err = new ConnectionLostError()
      for (const p of unsent) p.reject(err)
    }
    this.duplex?.destroy()
    this.duplex = null
    this.decoder = null
  }

  /** Stops (true) or resumes reading, for the consumer's backpressure; kept across reconnects. */
  pause(paused: boolean): void {
    this.paused = paused
    if (paused) this.duplex?.pause()
    else this.duplex?.resume()
  }

  private onData(chunk: Buffer): void {
    this.keepalive.received(performance.now())
    if (this.connectTimer !== null && this.options.protocolVersion === PROTOCOL_V5 && isV311Refusal(chunk)) {
      // A 3.1.1 broker refuses MQTT 5 with a CONNACK of its own version: 1, unacceptable protocol version.
      this.host.input({ type: 'connack', returnCode: chunk[3]!, sessionPresent: false, v5: false })
      return
    }
    try {
      this.decoder!.push(chunk)
    } catch (err) {
      if (this.options.protocolVersion === PROTOCOL_V5 && this.duplex !== null) {
        // MQTT 5: say why before closing [MQTT-4.13.1-1]
        this.writer.push(
          encode({ type: PacketType.DISCONNECT, reasonCode: disconnectReason(err) }, PROTOCOL_V5),
        )
        this.writer.flush()
      }
      this.host.input({ type: 'lost', error: asError(err) })
    }
  }

  private armPing(delay: number): void {
    this.pingTimer = setTimeout(this.onPingTimer, delay < 1 ? 1 : delay)
  }

  private readonly onPingTimer = (): void => {
    this.pingTimer = null
    const action = this.keepalive.check(performance.now(), this.paused)
    if (action === 'dead') {
      this.host.input({ type: 'lost', error: new PingTimeoutError(this.keepalive.pingTimeout) })
      return
    }
    if (action === 'ping') this.writer.push(PINGREQ)
    this.armPing(this.keepalive.next)
  }

  private clear(which: 'connect' | 'ping' | 'all'): void {
    if ((which === 'connect' || which === 'all') && this.connectTimer !== null) {
      clearTimeout(this.connectTimer)
      this.connectTimer = null
    }
    if ((which === 'ping' || which === 'all') && this.pingTimer !== null) {
      clearTimeout(this.pingTimer)
      this.pingTimer = null
    }
    if (which === 'all' && this.endTimer !== null) {
      clearTimeout(this.endTimer)
      this.endTimer = null
    }
  }
}

/** A 3.1.1 CONNACK refusal (20 02 00 01..05), which is no valid MQTT 5 CONNACK. */
function isV311Refusal(b: Buffer): boolean {
  return b.length >= 4 && b[0] === 0x20 && b[1] === 2 && b[2] === 0 && b[3]! >= 1 && b[3]! <= 5
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
