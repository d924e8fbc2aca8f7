/**
 * Topic -> routing result, bounded and self-emptying: two generations of at most
 * `MAX_ENTRIES / 2` entries and `MAX_CHARS / 2` characters of topic names each. New
 * results go into the young generation; when it is full, or when `age()` is called
 * (the broker does so on a timer), the old generation is dropped and the young one
 * takes its place. A topic still in use moves back to the young generation on its
 * next hit, so what stays is what is used; a broker whose traffic stops holds
 * nothing after two ageings. Memory is bounded however many distinct topics pass.
 *
 * The cache steps aside when it does not pay: when fewer than a quarter of the last
 * `WINDOW` look-ups hit (topics cycling through more names than the cache holds, as a
 * fleet of devices each publishing to its own topic does), it turns sparse: only one
 * look-up in `SPARSE` consults the maps (the others miss at once) and only one miss in
 * `SPARSE` is admitted. A miss in tables this big costs the processor's cache misses,
 * about as much as the walk it would save, and filling them with entries aged out
 * before their next use costs more; the sampled look-ups and the few admitted entries
 * still find a hot set that fits, and the cache turns dense again once the hits come back.
 */

/** Entries in both generations together. */
export const MAX_ENTRIES = 50_000
/**
 * Characters of topic names in both generations together. Topic names reach 65535
 * characters: counted in entries alone, a client publishing to long, ever new
 * topics would make the cache hold gigabytes.
 */
export const MAX_CHARS = 8_000_000
/** Look-ups over which the hit ratio is judged. */
export const WINDOW = 4096
/** Below a quarter of hits, one look-up and one miss in SPARSE go to the maps (a power of two). */
export const SPARSE = 16

export class RouteCache<V> {
  private young = new Map<string, V>()
  private old = new Map<string, V>()
  private youngChars = 0
  private oldChars = 0
  private lookups = 0
  private hits = 0
  /** Whether the cache is thrashing: then one look-up and one miss in SPARSE use the maps. */
  private thrashing = false
  /**
   * xorshift32 state: which look-ups and misses use the maps is drawn at random, since a
   * fixed stride aliases with traffic of a period that shares a factor with it.
   */
  private draw = 0x9e3779b9

  get size(): number {
    return this.young.size + this.old.size
  }

  /** Characters of the topic names held. */
  get chars(): number {
    return this.youngChars + this.oldChars
  }

  /** Whether misses are admitted one in SPARSE (the cache is thrashing). */
  get sparse(): boolean {
    return this.thrashing
  }

  get(topic: string): V | undefined {
    if (this.thrashing && this.skip()) return undefined
    if (++this.lookups === WINDOW) this.judge()
    const hit = this.young.get(topic)
    if (hit !== undefined) {
      this.hits++
      return hit
    }
    const old = this.old.get(topic)
    if (old !== undefined) {
      this.hits++
      this.old.delete(topic)
      this.oldChars -= topic.length
      this.put(topic, old)
    }
    return old
  }

  /** Caches a route just made (a miss): admitted as the recent hit ratio allows. */
  set(topic: string, value: V): void {
    if (this.thrashing && this.skip()) return
    this.put(topic, value)
  }

  /** True for all but about one call in SPARSE (a power of two), at random. */
  private skip(): boolean {
    let x = this.draw
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.draw = x
    return (x & (SPARSE - 1)) !== 0
  }

  private put(topic: string, value: V): void {
    if (this.young.size >= MAX_ENTRIES / 2 || this.youngChars + topic.length > MAX_CHARS / 2) this.age()
    // a sparse cache may miss a topic it holds (its look-up skipped): counted once
    if (!this.young.has(topic)) this.youngChars += topic.length
    this.young.set(topic, value)
  }

  private judge(): void {
    this.thrashing = this.hits * 4 < this.lookups
    this.lookups = 0
    this.hits = 0
  }

  /** Drops the old generation; the young one becomes old. */
  age(): void {
    this.old = this.young
    this.oldChars = this.youngChars
    this.young = new Map()
    this.youngChars = 0
  }

  /** Forgets everything (the subscriptions changed). */
  clear(): void {
    if (this.size === 0) return
    this.young = new Map()
    this.old = new Map()
    this.youngChars = 0
    this.oldChars = 0
  }
}
