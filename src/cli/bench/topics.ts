/**
 * --topics K: a publisher sends message `seq` to `<its topic>/<seq % K>` (the loadgen's
 * scheme), so the broker matches K distinct topics per publisher with no cache hits.
 */

/**
 * Topic strings the publishers of a run keep, built once (~64 B each: 16 MB). Beyond it a
 * topic is one concatenation per message, a few hundred ns: a fraction of what the PUBLISH
 * costs, while 100000 topics x 20 publishers of kept strings would be over 100 MB.
 */
export const CACHED_TOPICS = 262_144

/** The topic of each message of one publisher. */
export class TopicCycle {
  private readonly base: string
  private readonly k: number
  private readonly cached: string[] | null

  /** `used`: how many topics the publisher goes through at most (min(K, its count)); `cache`: keep them. */
  constructor(base: string, topics: number, used: number, cache: boolean) {
    this.base = `${base}/`
    this.k = topics
    const n = Math.min(topics, used)
    this.cached = topics === 1 ? [base] : cache ? Array.from({ length: n }, (_, k) => this.base + k) : null
  }

  /** The topic of message `seq`. */
  topic(seq: number): string {
    const k = seq % this.k
    const c = this.cached
    return c !== null ? c[k]! : this.base + k
  }

  /** How many distinct topics `sent` messages went to. */
  used(sent: number): number {
    return Math.min(sent, this.k)
  }
}
