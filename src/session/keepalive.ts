/**
 * Keep-alive, as a pure machine over a clock the caller passes in, for both ends:
 * - the client sends a PINGREQ when nothing was sent or nothing was received for a
 *   keep-alive period [MQTT-3.1.2-23], and takes the connection as dead when no
 *   packet answers a PINGREQ within `pingTimeout` (`check`);
 * - the server takes a client silent for one and a half periods as gone
 *   [MQTT-3.1.2-24] (`expired`).
 * Recording traffic is a store or two; the caller runs one timer, re-armed after
 * `next` milliseconds.
 */
export type KeepAliveAction = 'none' | 'ping' | 'dead'

export class KeepAlive {
  readonly interval: number
  readonly pingTimeout: number
  // fractional from the start (performance.now() values), so V8 keeps one field representation
  private lastSent = 0.5
  private lastReceived = 0.5
  /** When the outstanding PINGREQ was sent, or -1. */
  private pingSentAt = -1
  /** Milliseconds until the next `check` is due; set by `check`. */
  next = 0

  constructor(intervalMs: number, pingTimeoutMs: number) {
    this.interval = intervalMs
    this.pingTimeout = pingTimeoutMs
  }

  get enabled(): boolean {
    return this.interval > 0
  }

  reset(now: number): void {
    this.lastSent = now
    this.lastReceived = now
    this.pingSentAt = -1
  }

  sent(now: number): void {
    this.lastSent = now
  }

  /** Any packet from the broker proves the connection alive. */
  received(now: number): void {
    this.lastReceived = now
    this.pingSentAt = -1
  }

  /**
   * The server's side: true once nothing was received for 1.5 periods. A client the
   * server does not read (it holds the client back) is not blamed for its silence.
   */
  expired(now: number, readingPaused: boolean): boolean {
    if (readingPaused) this.lastReceived = now
    const left = this.lastReceived + this.interval * 1.5 - now
    this.next = left
    return left <= 0
  }

  /**
   * The client's side: what to do now. `readingPaused`: the client stopped reading (its consumer is
   * behind), so a missing answer proves nothing and is not held against the peer.
   */
  check(now: number, readingPaused = false): KeepAliveAction {
    if (this.pingSentAt >= 0) {
      const waited = now - this.pingSentAt
      if (waited < this.pingTimeout) {
        this.next = this.pingTimeout - waited
        return 'none'
      }
      if (!readingPaused) return 'dead'
      this.pingSentAt = -1
    }
    const oldest = this.lastSent < this.lastReceived ? this.lastSent : this.lastReceived
    const due = oldest + this.interval - now
    if (due > 0) {
      this.next = due
      return 'none'
    }
    this.pingSentAt = now
    this.lastSent = now
    this.next = this.pingTimeout < this.interval ? this.pingTimeout : this.interval
    return 'ping'
  }
}
