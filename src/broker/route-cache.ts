/**
 * Topic -> routing result, bounded and self-emptying: two generations of at most
 * `MAX_ENTRIES / 2` entries and `MAX_CHARS / 2` characters of topic names each. New
 * results go into the young generation; when it is full, or when `age()` is called
 * (the broker does so on a timer), the old generation is dropped and the young one
 * takes its place. A topic still in use moves back to the young generation on its
 * next hit, so what stays is what is used; a broker whose traffic stops holds
 * nothing after two ageings. Memory is bounded however many distinct topics pass.
 */

/** Entries in both generations together. */
export const MAX_ENTRIES = 50_000
/**
 * Characters of topic names in both generations together. Topic names reach 65535
 * characters: counted in entries alone, a client publishing to long, ever new
 * topics would make the cache hold gigabytes.
 */
export const MAX_CHARS = 8_000_000

export class RouteCache<V> {
  private young = new Map<string, V>()
  private old = new Map<string, V>()
  private youngChars = 0
  private oldChars = 0

  get size(): number {
    return this.young.size + this.old.size
  }

  /** Characters of the topic names held. */
  get chars(): number {
    return this.youngChars + this.oldChars
  }

  get(topic: string): V | undefined {
    const hit = this.young.get(topic)
    if (hit !== undefined) return hit
    const old = this.old.get(topic)
    if (old !== undefined) {
      this.old.delete(topic)
      this.oldChars -= topic.length
      this.set(topic, old)
    }
    return old
  }

  set(topic: string, value: V): void {
    if (this.young.size >= MAX_ENTRIES / 2 || this.youngChars + topic.length > MAX_CHARS / 2) this.age()
    this.young.set(topic, value)
    this.youngChars += topic.length
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
