/** Values below this many microseconds get a bucket each. */
const LINEAR = 1024
/** Sub-buckets per power of two above LINEAR: 512 gives an error under 0.2 %. */
const SUB_BITS = 9
const SUB = 1 << SUB_BITS
/** Up to 2^31 µs (about 36 minutes); larger values are clamped into the last power of two. */
const MAX_EXP = 30
const CLAMP = 2 ** 31 - 1

export interface LatencySummary {
  p50: number
  p95: number
  p99: number
  max: number
  mean: number
}

/**
 * A log-linear latency histogram in microseconds (HdrHistogram's idea, in a
 * few lines): constant memory, O(1) record, percentiles within 0.2 %.
 */
export class Histogram {
  private readonly counts = new Float64Array(LINEAR + (MAX_EXP - 10 + 1) * SUB)
  count = 0
  private sum = 0
  max = 0

  /** Records a latency given in milliseconds. */
  record(ms: number): void {
    let us = Math.round(ms * 1000)
    if (!(us >= 0)) us = 0
    else if (us > CLAMP) us = CLAMP
    this.counts[bucketIndex(us)]!++
    this.count++
    this.sum += us
    if (us > this.max) this.max = us
  }

  /** The value (ms) below which `p` percent of the recorded values fall; NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN
    const rank = Math.max(1, Math.ceil((p / 100) * this.count))
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(bucketValue(i), this.max) / 1000
    }
    return this.max / 1000
  }

  maxMs(): number {
    return this.count === 0 ? Number.NaN : this.max / 1000
  }

  /** Percentiles, max and mean in ms; null when empty. */
  summary(): LatencySummary | null {
    if (this.count === 0) return null
    return {
      p50: this.percentile(50),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: this.max / 1000,
      mean: this.sum / this.count / 1000,
    }
  }
}

function bucketIndex(us: number): number {
  if (us < LINEAR) return us
  const exp = Math.min(31 - Math.clz32(us), MAX_EXP)
  const sub = (us >>> (exp - SUB_BITS)) & (SUB - 1)
  return LINEAR + (exp - 10) * SUB + sub
}

/** The middle of bucket i, in µs. */
function bucketValue(i: number): number {
  if (i < LINEAR) return i
  const exp = 10 + Math.floor((i - LINEAR) / SUB)
  const sub = (i - LINEAR) % SUB
  const low = (SUB + sub) * 2 ** (exp - SUB_BITS)
  return low + 2 ** (exp - SUB_BITS) / 2
}
