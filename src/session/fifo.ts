/**
 * A first-in first-out queue with O(1) push and shift: an array read from a head
 * index, compacted once the consumed part dominates. Used for every ordered queue
 * of a session or a connection (messages waiting for a client, publishes waiting
 * for a window, packets held behind a hook, messages waiting for a consumer).
 */
export class Fifo<T> {
  private items: (T | undefined)[] = []
  private head = 0

  get size(): number {
    return this.items.length - this.head
  }

  push(item: T): void {
    this.items.push(item)
  }

  /** The oldest item, left in place. */
  peek(): T | undefined {
    return this.items[this.head]
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.head === this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head++] = undefined // let go of it now, not at the next compaction
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      // keep the array from growing under a steady trickle
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  /** Removes every item and returns them, oldest first. */
  drain(): T[] {
    const rest = this.items.slice(this.head) as T[]
    this.items = []
    this.head = 0
    return rest
  }

  /** Keeps only the items `keep` accepts, in order. */
  retain(keep: (item: T) => boolean): void {
    this.items = (this.items.slice(this.head) as T[]).filter(keep)
    this.head = 0
  }
}
