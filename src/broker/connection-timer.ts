import { KeepAlive } from '../session/keepalive.js'

/** What a connection's timer calls when time runs out. */
export interface TimedLink {
  /** The broker is not reading it (held back, or over an inbound rate): its packets wait unseen. */
  readonly paused: boolean
  /** connectTimeout passed before CONNACK. */
  connectTimedOut(): void
  /** Nothing came from the client for 1.5 times its keep-alive [MQTT-3.1.2-24]. */
  keepaliveExpired(): void
}

/**
 * A connection's deadline: connectTimeout until the CONNECT is accepted, then the keep-alive
 * check. One timer per connection, re-armed only when it fires; reads just record the time.
 */
export class ConnectionTimer {
  private readonly owner: TimedLink
  private keepalive: KeepAlive | null = null
  private timer: NodeJS.Timeout | null

  constructor(owner: TimedLink, connectTimeout: number) {
    this.owner = owner
    this.timer = setTimeout(() => owner.connectTimedOut(), connectTimeout)
  }

  /** Something was read at `now`. */
  received(now: number): void {
    this.keepalive?.received(now)
  }

  /** The CONNECT was accepted with `keepalive` seconds (0: none): the connect deadline gives way to it. */
  accepted(keepalive: number): void {
    this.stop()
    if (keepalive > 0) {
      this.keepalive = new KeepAlive(keepalive * 1000, 0)
      this.keepalive.received(performance.now())
      this.arm(keepalive * 1500)
    }
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  /** [MQTT-3.1.2-24] */
  private arm(delay: number): void {
    this.timer = setTimeout(() => {
      const ka = this.keepalive!
      if (ka.expired(performance.now(), this.owner.paused)) this.owner.keepaliveExpired()
      else this.arm(ka.next)
    }, delay)
  }
}
