/** Per-subscriber delivery accounting: a bitmap per publisher finds duplicates and gaps. */
export class Receiver {
  private readonly seen: Uint8Array[] = []
  private readonly lastSeq: Int32Array
  constructor(publishers: number) {
    this.lastSeq = new Int32Array(publishers).fill(-1)
    for (let i = 0; i < publishers; i++) this.seen.push(new Uint8Array(64))
  }

  /** 0 new, 1 duplicate, 2 new but out of order. */
  take(pub: number, seq: number): 0 | 1 | 2 {
    let bits = this.seen[pub]!
    const byte = seq >>> 3
    if (byte >= bits.length) {
      const grown = new Uint8Array(Math.max(bits.length * 2, byte + 1))
      grown.set(bits)
      this.seen[pub] = bits = grown
    }
    const mask = 1 << (seq & 7)
    if ((bits[byte]! & mask) !== 0) return 1
    bits[byte]! |= mask
    if (seq < this.lastSeq[pub]!) return 2
    this.lastSeq[pub] = seq
    return 0
  }
}

/**
 * Wall-clock milliseconds with sub-microsecond steps: the send time in every payload.
 * Not performance.now() alone, whose origin is this process's start: a retained copy
 * from an earlier run must read as sent before this run's first publish.
 */
export function clock(): number {
  return performance.timeOrigin + performance.now()
}
