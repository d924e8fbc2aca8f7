import { PacketType } from '../protocol/constants.js'
import { HeldPackets } from './held-packets.js'

/**
 * Where a connection is, and so what happens to the next packet it reads:
 * - `awaiting-connect`: the next packet must be CONNECT; it is handled at once.
 * - `authenticating`: the CONNECT is being answered (a hook is pending): later packets are held,
 *   except MQTT 5 AUTH, which carries on an enhanced authentication exchange.
 * - `open`: packets are handled as they arrive.
 * - `waiting`: a hook's answer is pending; later packets are held, acknowledgements of
 *   our own PUBLISHes still handled.
 * - `slowed`: subscribers that cannot keep up slow this publisher: the same as waiting.
 * - `resuming`: held packets are about to be handled, in order; new ones join them.
 * - `ending`: the peer left while packets it sent were held: they are handled, in order
 *   and without slowing, then the connection closes. Nothing more is written.
 * - `closed`.
 *
 *   awaiting-connect -> authenticating -> open <-> waiting | slowed -> resuming -> open
 *   waiting | slowed | resuming --peer left--> ending;   any --> closed
 */
export type ConnState =
  | 'awaiting-connect'
  | 'authenticating'
  | 'open'
  | 'waiting'
  | 'slowed'
  | 'resuming'
  | 'ending'
  | 'closed'

/**
 * A connection's protocol state machine: no I/O, no timers, so it is tested without
 * sockets. The Connection feeds it events and carries out its answers (handle a packet,
 * hold it, replay the held ones, close).
 */
export class ConnectionMachine {
  state: ConnState = 'awaiting-connect'
  /** Subscribers slowing this publisher; each one resumes it once. */
  throttles = 0
  /** Why the peer left (state `ending`): the connection closes with it once the held packets are handled. */
  endReason = ''
  /** Packets kept while a hook settles or while this publisher is slowed. */
  readonly held = new HeldPackets()

  /** A packet of `type` arrived: true to handle it now, false to hold it behind the others. */
  admits(type: number): boolean {
    switch (this.state) {
      case 'awaiting-connect':
      case 'open':
        return true
      case 'authenticating':
        // MQTT 5 enhanced authentication: the client's AUTH answers the challenge the CONNECT is
        // waiting on; anything else waits for CONNACK [MQTT-3.1.2-30] [MQTT-4.12.0-3]
        return type === PacketType.AUTH
      case 'waiting':
      case 'slowed':
      case 'resuming':
        // Acknowledgements of our PUBLISHes keep flowing while the rest waits: a client that
        // both publishes and subscribes must be able to drain its own queue, or two such
        // clients slowed on each other's account would wait for each other forever.
        // (Only a PUBREC is answered, with a PUBREL that no ordering rule ties to other replies.)
        return type === PacketType.PUBACK || type === PacketType.PUBREC || type === PacketType.PUBCOMP
      default:
        return false
    }
  }

  /** The CONNECT was handed over; its answer may take a hook's time. */
  connecting(): void {
    if (this.state === 'awaiting-connect') this.state = 'authenticating'
  }

  /** CONNACK 0 was sent. True when the connection is to replay (see `resume`). */
  accepted(): boolean {
    if (this.state !== 'authenticating' && this.state !== 'awaiting-connect') return false
    return this.resume()
  }

  /** A packet's handling answered with a Promise: later packets wait for it. */
  waitFor(): void {
    if (this.state === 'open') this.state = 'waiting'
  }

  /** That Promise settled. True when the connection is to replay (see `resume`). */
  settled(): boolean {
    if (this.state === 'waiting') {
      if (this.throttles === 0) return this.resume()
      this.state = 'slowed'
      return false
    }
    return this.state === 'ending'
  }

  /** A subscriber asks to slow this publisher. */
  throttle(): void {
    this.throttles++
    if (this.state === 'open' || this.state === 'resuming') this.state = 'slowed'
  }

  /** A subscriber that slowed it lets it go. True when the connection is to replay (see `resume`). */
  unthrottle(): boolean {
    if (this.throttles === 0) return false
    if (--this.throttles > 0 || this.state !== 'slowed') return false
    return this.resume()
  }

  /**
   * The peer closed its side, or its transport failed. `close` at once, unless packets
   * it sent before are held: then `replay` them now, or `wait` for the pending hook
   * first (the connection replays when it settles).
   */
  peerEnded(reason: string): 'close' | 'replay' | 'wait' {
    const s = this.state
    if (s === 'waiting' || ((s === 'slowed' || s === 'resuming') && this.held.size > 0)) {
      this.state = 'ending'
      this.endReason = reason
      return s === 'waiting' ? 'wait' : 'replay'
    }
    return 'close'
  }

  /** The replay of held packets starts. False when the connection is held back again. */
  beginReplay(): boolean {
    if (this.state === 'resuming') this.state = 'open'
    return this.state === 'open' || this.state === 'ending'
  }

  /** Whether a replay may hand over the next held packet. */
  get replaying(): boolean {
    return this.held.size > 0 && (this.state === 'open' || this.state === 'ending')
  }

  /** Whether held packets keep the client waiting (its silence is then not its fault). */
  get holding(): boolean {
    return this.state !== 'open' && this.state !== 'awaiting-connect' && this.state !== 'ending'
  }

  close(): void {
    this.state = 'closed'
    this.held.clear()
  }

  /**
   * Nothing holds the connection back any more: it replays its held packets, if any,
   * and reads again (its transport may have been paused while they piled up).
   */
  private resume(): true {
    this.state = this.held.size === 0 ? 'open' : 'resuming'
    return true
  }
}
