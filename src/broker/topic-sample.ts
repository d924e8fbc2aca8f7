/** 1 routed message in SAMPLE_EVERY is looked at. */
export const SAMPLE_EVERY = 64
/** Topics counted at once (space-saving: a new topic replaces the least counted). */
export const TOPICS_KEPT = 256
/** The busiest topics are those of the last window or two: counts start afresh every window. */
export const WINDOW_MS = 60_000

/** One of the busiest topics, estimated from the sample. */
export interface BusyTopic {
  topic: string
  /** Estimated messages routed to it in the window (sampled count x SAMPLE_EVERY). */
  messages: number
  messagesPerSecond: number
  /** Its part of the messages routed in the window, 0..1. */
  share: number
}

export interface BusiestTopics {
  /** Seconds the counts cover (up to two windows). */
  windowSeconds: number
  /** Busiest first. */
  items: BusyTopic[]
}

/**
 * The busiest topics, estimated by sampling, for the dashboard and `petrel top`. The router pays
 * one integer decrement per message (`countdown`) and calls `take` for 1 message in SAMPLE_EVERY;
 * only then is a Map touched. The counts are bounded (TOPICS_KEPT, the space-saving algorithm:
 * a new topic takes the place of the least counted one and inherits its count, so a topic that is
 * truly busy cannot be pushed out by many rare ones) and cover the current window and the one
 * before it, so they follow the traffic.
 */
export class TopicSampler {
  /** Decremented per routed message; at 0 the message is sampled (see Router.route). */
  countdown = SAMPLE_EVERY
  private current = new Map<string, number>()
  private previous = new Map<string, number>()
  private currentTotal = 0
  private previousTotal = 0
  private since: number
  private previousSince: number
  private readonly now: () => number
  /**
   * Topics of `current` that had the least count (`floor`) when last looked for: the next ones
   * to give way. Counts only grow and a newcomer starts above the floor, so one still at the floor
   * is a least counted one: a fleet of topics each seen once costs one scan per TOPICS_KEPT
   * newcomers, not one each.
   */
  private evictable: string[] = []
  private floor = 0

  constructor(now: () => number = () => performance.now()) {
    this.now = now
    this.since = this.previousSince = now()
  }

  /** A sampled message to `topic`. */
  take(topic: string): void {
    this.countdown = SAMPLE_EVERY
    this.rotate()
    this.currentTotal++
    const c = this.current
    const n = c.get(topic)
    if (n !== undefined) {
      c.set(topic, n + 1)
      return
    }
    if (c.size < TOPICS_KEPT) {
      c.set(topic, 1)
      return
    }
    const least = this.leastCounted()
    c.delete(least)
    c.set(topic, this.floor + 1)
  }

  /** One of the least counted topics of `current` (which is full). */
  private leastCounted(): string {
    const c = this.current
    const floor = this.floor
    for (let t = this.evictable.pop(); t !== undefined; t = this.evictable.pop()) {
      if (c.get(t) === floor) return t
    }
    let min = Number.POSITIVE_INFINITY
    for (const k of c.values()) if (k < min) min = k
    this.floor = min
    const evictable = this.evictable
    for (const [t, k] of c) if (k === min) evictable.push(t)
    return evictable.pop()!
  }

  /** The `n` busiest topics ($SYS excluded), busiest first. */
  busiest(n: number): BusiestTopics {
    this.rotate()
    const merged = new Map(this.previous)
    for (const [t, k] of this.current) merged.set(t, (merged.get(t) ?? 0) + k)
    const total = this.currentTotal + this.previousTotal
    const seconds = Math.max((this.now() - this.previousSince) / 1000, 0.001)
    const items = [...merged]
      .filter(([t]) => !t.startsWith('$SYS/'))
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, Math.max(0, n))
      .map(([topic, k]) => ({
        topic,
        messages: k * SAMPLE_EVERY,
        messagesPerSecond: (k * SAMPLE_EVERY) / seconds,
        share: total === 0 ? 0 : k / total,
      }))
    return { windowSeconds: seconds, items }
  }

  private rotate(): void {
    const now = this.now()
    if (now - this.since < WINDOW_MS) return
    // a window passed: the current one becomes the previous (or, after a silence of two, both start afresh)
    const idle = now - this.since >= 2 * WINDOW_MS
    this.previous = idle ? new Map() : this.current
    this.previousTotal = idle ? 0 : this.currentTotal
    this.previousSince = idle ? now : this.since
    this.current = new Map()
    this.evictable = []
    this.floor = 0
    this.currentTotal = 0
    this.since = now
  }
}
