import { ConsumerWatch, type Watched, type WatchLimits } from './consumer-watch.js'
import type { SessionLink } from './session-types.js'

/**
 * The publishers a backed-up subscriber slows (not read until it drains), and the
 * watch that tells a slow subscriber from a stuck one: a stuck one slows nobody.
 */
export class PublisherBrake {
  /** Tells slow from stuck while the subscriber is backed up (see ConsumerWatch). */
  readonly watch: ConsumerWatch
  /** Publishers slowed because the subscriber cannot keep up. */
  private blocked: Set<SessionLink> | null = null

  constructor(subscriber: Watched, limits: WatchLimits) {
    this.watch = new ConsumerWatch(subscriber, limits)
  }

  /** True while publishers are slowed on the subscriber's account. */
  get slowing(): boolean {
    return this.blocked !== null
  }

  /**
   * The subscriber has more waiting than it should (QoS 0 output past the soft limit, or a
   * full queue). The publisher is slowed (not read) until it drains, unless the subscriber
   * is stuck; and the watch that tells slow from stuck starts.
   */
  backedUp(from: SessionLink | null): void {
    // Also a client publishing to itself: its acknowledgements still get through while
    // its PUBLISHes are held (Connection.hold), so it can always drain its own queue.
    if (from !== null && !this.watch.stuck) {
      this.blocked ??= new Set()
      if (!this.blocked.has(from)) {
        this.blocked.add(from)
        from.pauseReading()
      }
    }
    this.watch.start()
  }

  /** The slowed publishers go on. */
  release(): void {
    const blocked = this.blocked
    if (blocked === null) return
    this.blocked = null
    for (const l of blocked) l.resumeReading()
  }

  /** The subscriber's connection is gone or its session ends: stop watching, release all. */
  stop(): void {
    this.watch.stop()
    this.release()
  }
}
