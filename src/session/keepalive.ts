/**
 * Keep-alive, as a pure machine over a clock the caller passes in [MQTT-3.1.2-23]:
 * the client sends a PINGREQ when nothing was sent or nothing was received for a
 * keep-alive period, and takes the connection as dead when no packet answers a
 * PINGREQ within `pingTimeout` [MQTT-3.1.2-24]. Recording traffic is two stores;
 * the caller runs one timer, re-armed from each `check`.
 */
export type KeepAliveAction = 'none' | 'ping' | 'dead'

export class KeepAlive {
  readonly interval: number
  readonly pingTimeout: number
  private lastSent = 0
  private lastReceived = 0
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
   * What to do now. `readingPaused`: the client stopped reading (its consumer is
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
