/**
 * Empty collections shared by every owner that has put nothing in its own yet: a connection
 * that never subscribes or never has a QoS 1/2 message in flight costs no hash table (three
 * of them were a fifth of an idle connection's memory). An owner reads the shared one and
 * swaps in a collection of its own before its first write; a write to a shared one throws,
 * so a missed swap cannot leak one owner's entries into another's.
 */
class EmptyMap<K, V> extends Map<K, V> {
  override set(): this {
    throw new Error('internal error: write to a shared empty Map')
  }
}

class EmptySet<T> extends Set<T> {
  override add(): this {
    throw new Error('internal error: write to a shared empty Set')
  }
}

const MAP: Map<unknown, unknown> = new EmptyMap()
const SET: Set<unknown> = new EmptySet()

/** The shared empty Map (never written: swap in a Map of your own first). */
export function emptyMap<K, V>(): Map<K, V> {
  return MAP as Map<K, V>
}

/** The shared empty Set (never written: swap in a Set of your own first). */
export function emptySet<T>(): Set<T> {
  return SET as Set<T>
}

/** `m`, or a new Map when `m` is the shared empty one. */
export function own<K, V>(m: Map<K, V>): Map<K, V> {
  return m === MAP ? new Map() : m
}

/** `s`, or a new Set when `s` is the shared empty one. */
export function ownSet<T>(s: Set<T>): Set<T> {
  return s === SET ? new Set() : s
}
