import type { QoS } from '../protocol/constants.js'
import { RouteCache } from './route-cache.js'

/**
 * Subscriptions in a trie keyed by topic level, with '+' and '#' as ordinary
 * child keys, plus a bounded cache of topic -> matching subscribers that is
 * dropped whenever a subscription changes. Routing a message to a topic seen
 * recently is one Map lookup. Nothing here recurses: a topic's depth is the
 * network's to choose.
 */

export interface Delivery<S> {
  subscriber: S
  /** Highest QoS granted among the subscriber's filters that match. */
  qos: QoS
}

class Node<S> {
  readonly children = new Map<string, Node<S>>()
  readonly subs = new Map<S, QoS>()
}

export class TopicTree<S> {
  private readonly root = new Node<S>()
  private readonly cache = new RouteCache<Delivery<S>[]>()
  private count = 0

  /** Number of (subscriber, filter) pairs. */
  get size(): number {
    return this.count
  }

  /** Characters of the topic names in the route cache. */
  get cachedChars(): number {
    return this.cache.chars
  }

  /** Topics in the route cache. */
  get cachedTopics(): number {
    return this.cache.size
  }

  /** Lets route cache entries unused since the last call go (see RouteCache). */
  age(): void {
    this.cache.age()
  }

  /** Adds or replaces a subscription; returns true when it is new. */
  add(filter: string, subscriber: S, qos: QoS): boolean {
    let node = this.root
    for (const level of filter.split('/')) {
      let next = node.children.get(level)
      if (next === undefined) {
        next = new Node<S>()
        node.children.set(level, next)
      }
      node = next
    }
    const isNew = !node.subs.has(subscriber)
    node.subs.set(subscriber, qos)
    if (isNew) this.count++
    this.dropCache()
    return isNew
  }

  /** Removes a subscription; returns true when there was one. */
  remove(filter: string, subscriber: S): boolean {
    const path: Node<S>[] = [this.root]
    const levels = filter.split('/')
    let node = this.root
    for (const level of levels) {
      const next = node.children.get(level)
      if (next === undefined) return false
      path.push(next)
      node = next
    }
    if (!node.subs.delete(subscriber)) return false
    this.count--
    this.dropCache()
    // prune empty branches
    for (let i = levels.length; i > 0; i--) {
      const n = path[i]!
      if (n.subs.size > 0 || n.children.size > 0) break
      path[i - 1]!.children.delete(levels[i - 1]!)
    }
    return true
  }

  /** Subscribers matching a topic name, one entry each, at the highest QoS granted. */
  match(topic: string): Delivery<S>[] {
    const hit = this.cache.get(topic)
    if (hit !== undefined) return hit
    const found = new Map<S, QoS>()
    this.walk(topic.split('/'), found, topic.charCodeAt(0) === 0x24)
    const result: Delivery<S>[] = []
    for (const [subscriber, qos] of found) result.push({ subscriber, qos })
    this.cache.set(topic, result)
    return result
  }

  private dropCache(): void {
    this.cache.clear()
  }

  /** Every node whose filter matches `levels`, with an explicit stack of (node, level). */
  private walk(levels: string[], found: Map<S, QoS>, dollar: boolean): void {
    const nodes: Node<S>[] = [this.root]
    const depths: number[] = [0]
    while (nodes.length > 0) {
      const node = nodes.pop()!
      const i = depths.pop()!
      // [MQTT-4.7.2-1] wildcards at the first level do not match topics starting with '$'
      const noWild = dollar && i === 0
      if (!noWild) {
        const hash = node.children.get('#')
        if (hash !== undefined) collect(hash.subs, found) // '#' also matches the parent level [MQTT-4.7.1-2]
      }
      if (i === levels.length) {
        collect(node.subs, found)
        continue
      }
      // pushed exact first so that '+' is visited first, as a recursive walk would
      const exact = node.children.get(levels[i]!)
      if (exact !== undefined) {
        nodes.push(exact)
        depths.push(i + 1)
      }
      if (!noWild) {
        const plus = node.children.get('+')
        if (plus !== undefined) {
          nodes.push(plus)
          depths.push(i + 1)
        }
      }
    }
  }
}

function collect<S>(subs: Map<S, QoS>, found: Map<S, QoS>): void {
  for (const [s, q] of subs) {
    const prev = found.get(s)
    if (prev === undefined || q > prev) found.set(s, q)
  }
}
