/**
 * Tells a slow subscriber from a stuck one. Started when a subscriber has more waiting
 * than it should (output past a quarter of maxOutputBuffer, or a full queue), it looks
 * once per window at what the subscriber took since the last look:
 * - caught up (nothing waits any more): the watch ends;
 * - took enough (a sixteenth of maxOutputBuffer while output waits, else a quarter of
 *   maxInflight in acknowledgements): a slow subscriber, which may keep slowing its
 *   publishers;
 * - took less: stuck. Its publishers go on, and what it cannot take is dropped;
 * - took nothing at all for slowConsumerTimeout: disconnected.
 * While output waits only bytes count: acknowledgements of what was sent earlier say
 * nothing of a client that no longer reads.
 */

export interface WatchLimits {
  maxQueuedMessages: number
  maxOutputBuffer: number
  maxInflight: number
  slowConsumerTimeout: number
  stuckConsumerWindow: number
  /** Milliseconds on a monotonic clock. */
  now: () => number
}

/** What the watch reads of the subscriber it watches, and what it tells it. */
export interface Watched {
  readonly link: {
    readonly outputBacklog: number
    readonly flushed: number
    dropSlowConsumer(): void
  } | null
  /** Messages waiting in the session's queue. */
  readonly queued: number
  /** QoS 1/2 deliveries completed so far. */
  readonly acked: number
  /** QoS 1/2 deliveries it may have unacknowledged: maxInflight, or less (an MQTT 5 Receive Maximum). */
  readonly inflightWindow: number
  /** Its output is taken: what is queued may go out, slowed publishers go on. */
  drained(): void
  /** Took too little in a window: slowed publishers go on. */
  becameStuck(): void
}

export class ConsumerWatch {
  /** Publishers are not slowed on this subscriber's account, and what it cannot take is dropped. */
  stuck = false
  private readonly subject: Watched
  private readonly limits: WatchLimits
  private timer: NodeJS.Timeout | null = null
  private ackedMark = 0
  private flushedMark = 0
  /** When the subscriber last took anything (fractional from the start, so V8 keeps one field representation). */
  private progressAt = performance.now()

  constructor(subject: Watched, limits: WatchLimits) {
    this.subject = subject
    this.limits = limits
  }

  /** Starts watching, unless it already is. */
  start(): void {
    const link = this.subject.link
    if (this.timer !== null || link === null) return
    this.progressAt = this.limits.now()
    this.flushedMark = link.flushed
    this.ackedMark = this.subject.acked
    this.arm()
  }

  /** The connection is gone, or the session ends. */
  stop(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer)
      this.timer = null
    }
    this.stuck = false
  }

  private arm(): void {
    const { stuckConsumerWindow, slowConsumerTimeout } = this.limits
    this.timer = setTimeout(this.check, Math.min(stuckConsumerWindow, slowConsumerTimeout))
    this.timer.unref()
  }

  private readonly check = (): void => {
    this.timer = null
    const { subject, limits } = this
    const link = subject.link
    if (link === null) return
    const queueFull = subject.queued >= limits.maxQueuedMessages
    const outputFull = link.outputBacklog > limits.maxOutputBuffer >>> 2
    if (!queueFull && !outputFull) {
      this.stuck = false
      subject.drained()
      return
    }
    const now = limits.now()
    const flushed = link.flushed
    const took = outputFull ? flushed - this.flushedMark : subject.acked - this.ackedMark
    const enough = outputFull
      ? took >= limits.maxOutputBuffer >>> 4
      : took >= Math.max(1, subject.inflightWindow >>> 2)
    this.ackedMark = subject.acked
    this.flushedMark = flushed
    if (took > 0) this.progressAt = now
    if (enough) this.stuck = false
    else if (!this.stuck) {
      this.stuck = true
      subject.becameStuck()
    }
    if (now - this.progressAt >= limits.slowConsumerTimeout) {
      link.dropSlowConsumer()
      return
    }
    this.arm()
  }
}
