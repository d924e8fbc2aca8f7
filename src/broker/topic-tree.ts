import type { QoS } from '../protocol/constants.js'
import type { Delivery, Route } from './route.js'
import { RouteCache } from './route-cache.js'
import { SharedGroup } from './shared.js'
import { parseShared, type Sub } from './subscription.js'
import { TopicNode } from './topic-node.js'

export type { Delivery, Route } from './route.js'

/**
 * Subscriptions in a trie keyed by topic level, with '+' and '#' as ordinary
 * child keys, plus a bounded cache of topic -> route that is dropped whenever a
 * subscription changes. Routing a message to a topic seen recently is one Map
 * lookup. Nothing here recurses: a topic's depth is the network's to choose.
 *
 * A shared subscription `$share/{group}/{filter}` lives at the node of its filter,
 * apart from the ordinary subscriptions there: a client subscribed both to `a/b`
 * and to `$share/g/a/b` holds two subscriptions, each delivering its own copy, and
 * removing one leaves the other (Mosquitto's CVE-2024-8376 came from mixing them).
 */

/** What the walk gathers: each subscriber's matching subscriptions (one, or several that overlap). */
type Found<S> = Map<S, Sub | Sub[]>

export class TopicTree<S> {
  private readonly root = new TopicNode<S>()
  private readonly cache = new RouteCache<Route<S>>()
  /** Scratch of match(): the nodes a topic's walk finds. */
  private readonly matched: TopicNode<S>[] = []
  /** Scratch of walk(): the stack of nodes to visit and where their levels start. */
  private readonly nodes: TopicNode<S>[] = []
  private readonly starts: number[] = []
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

  /**
   * Adds or replaces [MQTT-3.8.4-3] the subscription of `subscriber` to `filter` (a valid
   * filter, `$share/...` included); returns true when it is new.
   */
  add(filter: string, subscriber: S, sub: Sub): boolean {
    const shared = parseShared(filter)
    const share = typeof shared === 'object' ? shared : null
    let node = this.root
    for (const level of (share === null ? filter : share.filter).split('/')) node = node.child(level)
    let isNew: boolean
    if (share === null) {
      isNew = !node.subs.has(subscriber)
      node.subs.set(subscriber, sub)
    } else {
      node.shared ??= new Map()
      let group = node.shared.get(share.group)
      if (group === undefined) {
        group = new SharedGroup<S>(filter)
        node.shared.set(share.group, group)
      }
      isNew = group.set(subscriber, sub)
    }
    if (isNew) this.count++
    node.route = null
    this.dropCache()
    return isNew
  }

  /** Removes a subscription; returns true when there was one. */
  remove(filter: string, subscriber: S): boolean {
    const shared = parseShared(filter)
    const share = typeof shared === 'object' ? shared : null
    const path: TopicNode<S>[] = [this.root]
    const levels = (share === null ? filter : share.filter).split('/')
    let node = this.root
    for (const level of levels) {
      const next = node.children.get(level)
      if (next === undefined) return false
      path.push(next)
      node = next
    }
    if (share === null) {
      if (!node.subs.delete(subscriber)) return false
    } else {
      const group = node.shared?.get(share.group)
      if (group === undefined || !group.delete(subscriber)) return false
      if (group.size === 0) {
        node.shared!.delete(share.group)
        if (node.shared!.size === 0) node.shared = null
      }
    }
    this.count--
    node.route = null
    this.dropCache()
    // prune empty branches
    for (let i = levels.length; i > 0; i--) {
      if (!path[i]!.empty) break
      path[i - 1]!.drop(levels[i - 1]!)
    }
    return true
  }

  /**
   * Where a message to `topic` goes: each matching subscriber once, its overlapping
   * subscriptions combined (see Delivery), and the shared subscriptions that match.
   */
  match(topic: string): Route<S> {
    const hit = this.cache.get(topic)
    if (hit !== undefined) return hit
    const matched = this.matched
    this.walk(topic, matched)
    let route: Route<S>
    if (matched.length === 0) route = NO_ROUTE as Route<S>
    else if (matched.length === 1) route = matched[0]!.route ??= routeOf(matched)
    else route = routeOf(matched)
    matched.length = 0
    this.cache.set(topic, route)
    return route
  }

  private dropCache(): void {
    this.cache.clear()
  }

  /**
   * Every node with subscriptions whose filter matches `topic`, into `matched`, each once;
   * with an explicit stack of (node, where its level starts in `topic`). The levels are
   * found in place: no array of them, and no level string unless a node has several
   * children to choose from.
   */
  private walk(topic: string, matched: TopicNode<S>[]): void {
    const nodes = this.nodes
    const starts = this.starts
    const length = topic.length
    // [MQTT-4.7.2-1] wildcards at the first level do not match topics starting with '$'
    const dollar = topic.charCodeAt(0) === 0x24
    nodes.push(this.root)
    starts.push(0)
    while (nodes.length > 0) {
      const node = nodes.pop()!
      const start = starts.pop()!
      const noWild = dollar && start === 0
      // '#' also matches the parent level [MQTT-4.7.1-2]
      if (!noWild && node.hash !== null && node.hash.subscribed) matched.push(node.hash)
      if (start > length) {
        // past the last level: the node's filter is the whole topic
        if (node.subscribed) matched.push(node)
        continue
      }
      let end = topic.indexOf('/', start)
      if (end < 0) end = length
      // pushed exact first so that '+' is visited first, as a recursive walk would
      const exact = node.exact(topic, start, end)
      if (exact !== undefined) {
        nodes.push(exact)
        starts.push(end + 1)
      }
      if (!noWild && node.plus !== null) {
        nodes.push(node.plus)
        starts.push(end + 1)
      }
    }
  }
}

/** The route of no subscriber. */
const NO_ROUTE: Route<unknown> = Object.freeze({
  deliveries: Object.freeze([]) as unknown as [],
  shared: null,
})

/** The route to the subscriptions of `nodes` (matched nodes, each once). */
function routeOf<S>(nodes: readonly TopicNode<S>[]): Route<S> {
  const found: Found<S> = new Map()
  const groups: SharedGroup<S>[] = []
  for (let i = 0; i < nodes.length; i++) collect(nodes[i]!, found, groups)
  const deliveries: Delivery<S>[] = []
  for (const [subscriber, subs] of found) deliveries.push(delivery(subscriber, subs))
  return { deliveries, shared: groups.length > 0 ? groups : null }
}

function collect<S>(node: TopicNode<S>, found: Found<S>, groups: SharedGroup<S>[]): void {
  for (const [s, sub] of node.subs) {
    const prev = found.get(s)
    if (prev === undefined) found.set(s, sub)
    else if (Array.isArray(prev)) prev.push(sub)
    else found.set(s, [prev, sub])
  }
  if (node.shared !== null) for (const g of node.shared.values()) groups.push(g)
}

/** One subscriber's matching subscriptions, combined into one delivery. */
function delivery<S>(subscriber: S, found: Sub | Sub[]): Delivery<S> {
  if (typeof found === 'number') {
    return { subscriber, qos: found, retainAsPublished: false, subIds: null, noLocal: null }
  }
  const subs = Array.isArray(found) ? found : [found]
  const c = combine(subs, false)
  return {
    subscriber,
    qos: c.qos as QoS,
    retainAsPublished: c.retainAsPublished,
    subIds: c.subIds,
    noLocal: subs.some((x) => typeof x !== 'number' && x.noLocal) ? subs : null,
  }
}

/**
 * Overlapping subscriptions of one client, as the one message it gets: at the highest
 * QoS [MQTT-3.3.4-2], with every Subscription Identifier [MQTT-3.3.4-3] [MQTT-3.3.4-4],
 * RETAIN as published if any asks for it. `ownMessage`: the publisher is this client,
 * so No Local subscriptions do not count [MQTT-3.8.3-3]; qos is -1 when none is left.
 */
export function combine(
  subs: readonly Sub[],
  ownMessage: boolean,
): { qos: QoS | -1; retainAsPublished: boolean; subIds: number[] | null } {
  let qos: QoS | -1 = -1
  let retainAsPublished = false
  let subIds: number[] | null = null
  for (const x of subs) {
    if (typeof x === 'number') {
      if (x > qos) qos = x
      continue
    }
    if (ownMessage && x.noLocal) continue
    if (x.qos > qos) qos = x.qos
    if (x.retainAsPublished) retainAsPublished = true
    if (x.subscriptionId !== 0) (subIds ??= []).push(x.subscriptionId)
  }
  return { qos, retainAsPublished, subIds }
}
