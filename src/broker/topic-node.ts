import type { Route } from './route.js'
import type { SharedGroup } from './shared.js'
import type { Sub } from './subscription.js'

/**
 * One level of the subscription trie. Besides the children by level, a node keeps what the
 * walk asks of it most without a Map look-up: its '+' and '#' children, and, when it has
 * exactly one other child (a filter's fixed level, as `site` in `site/+/telemetry`), that
 * child and its key, compared in place against the topic so that no level string is made.
 */
export class TopicNode<S> {
  readonly children = new Map<string, TopicNode<S>>()
  readonly subs = new Map<S, Sub>()
  /** Shared subscriptions to this node's filter, by ShareName; null while there is none. */
  shared: Map<string, SharedGroup<S>> | null = null
  /**
   * The route of a topic that matches this node's filter and no other, made on first use and
   * dropped when the node's subscriptions change: a topic the route cache does not hold (a
   * fleet's `site/<id>/telemetry` under `site/#`) is routed with no allocation but the walk's.
   */
  route: Route<S> | null = null
  plus: TopicNode<S> | null = null
  hash: TopicNode<S> | null = null
  /** Children other than '+' and '#'. */
  exactCount = 0
  /** The one child other than '+' and '#', when there is exactly one; else null. */
  only: TopicNode<S> | null = null
  onlyKey = ''

  get empty(): boolean {
    return this.subs.size === 0 && this.children.size === 0 && this.shared === null
  }

  /** Whether a topic reaching this node is delivered to anybody here. */
  get subscribed(): boolean {
    return this.subs.size > 0 || this.shared !== null
  }

  /** The child at `level`, made if there is none. */
  child(level: string): TopicNode<S> {
    let next = this.children.get(level)
    if (next === undefined) {
      next = new TopicNode<S>()
      this.children.set(level, next)
      if (level === '+') this.plus = next
      else if (level === '#') this.hash = next
      else if (++this.exactCount === 1) {
        this.only = next
        this.onlyKey = level
      } else {
        this.only = null
        this.onlyKey = ''
      }
    }
    return next
  }

  /** Removes the child at `level` (an empty branch being pruned). */
  drop(level: string): void {
    if (!this.children.delete(level)) return
    if (level === '+') this.plus = null
    else if (level === '#') this.hash = null
    else if (--this.exactCount === 1) {
      // at most '+', '#' and the one left
      for (const [key, node] of this.children) {
        if (key !== '+' && key !== '#') {
          this.only = node
          this.onlyKey = key
        }
      }
    } else {
      this.only = null
      this.onlyKey = ''
    }
  }

  /** The child other than '+' and '#' for the level `topic[start, end)`, if any. */
  exact(topic: string, start: number, end: number): TopicNode<S> | undefined {
    const only = this.only
    if (only !== null) {
      const key = this.onlyKey
      return key.length === end - start && topic.startsWith(key, start) ? only : undefined
    }
    return this.exactCount === 0 ? undefined : this.children.get(topic.slice(start, end))
  }
}
