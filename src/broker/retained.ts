import type { Message } from './message.js'

/**
 * Retained messages, one per topic, in a trie of topic levels so that a
 * wildcard subscription visits only the branches its filter can match, never
 * every retained message.
 */

class Node {
  readonly children = new Map<string, Node>()
  message: Message | null = null
}

export class RetainedStore {
  private readonly root = new Node()
  private count = 0
  private payloadBytes = 0

  get size(): number {
    return this.count
  }

  /** Payload bytes of the messages kept. */
  get bytes(): number {
    return this.payloadBytes
  }

  /** Stores `message` for its topic, or deletes the topic's message when `message` is null. */
  set(topic: string, message: Message | null): void {
    const levels = topic.split('/')
    if (message === null) {
      const path: Node[] = [this.root]
      let node = this.root
      for (const level of levels) {
        const next = node.children.get(level)
        if (next === undefined) return
        path.push(next)
        node = next
      }
      if (node.message === null) return
      this.payloadBytes -= node.message.payload.length
      node.message = null
      this.count--
      for (let i = levels.length; i > 0; i--) {
        const n = path[i]!
        if (n.message !== null || n.children.size > 0) break
        path[i - 1]!.children.delete(levels[i - 1]!)
      }
      return
    }
    let node = this.root
    for (const level of levels) {
      let next = node.children.get(level)
      if (next === undefined) {
        next = new Node()
        node.children.set(level, next)
      }
      node = next
    }
    if (node.message === null) this.count++
    else this.payloadBytes -= node.message.payload.length
    this.payloadBytes += message.payload.length
    node.message = message
  }

  /**
   * Retained messages whose topic matches `filter`, following the '$' rule [MQTT-4.7.2-1].
   * Iterative, with an explicit stack: a filter may have 32768 levels.
   */
  match(filter: string): Message[] {
    const out: Message[] = []
    const levels = filter.split('/')
    const nodes: Node[] = [this.root]
    const depths: number[] = [0]
    while (nodes.length > 0) {
      const node = nodes.pop()!
      const i = depths.pop()!
      if (i === levels.length) {
        if (node.message !== null) out.push(node.message)
        continue
      }
      const level = levels[i]!
      if (level === '#') {
        // everything below this node, and the node itself [MQTT-4.7.1-2]
        if (node.message !== null && i > 0) out.push(node.message)
        for (const [key, child] of node.children) {
          if (i === 0 && key.startsWith('$')) continue
          this.collectAll(child, out)
        }
      } else if (level === '+') {
        // pushed in reverse, so that children are visited in insertion order
        const keys = [...node.children.keys()]
        for (let k = keys.length - 1; k >= 0; k--) {
          if (i === 0 && keys[k]!.startsWith('$')) continue
          nodes.push(node.children.get(keys[k]!)!)
          depths.push(i + 1)
        }
      } else {
        const child = node.children.get(level)
        if (child !== undefined) {
          nodes.push(child)
          depths.push(i + 1)
        }
      }
    }
    return out
  }

  /**
   * Every message at or below `node`, in depth-first order. Iterative: a topic
   * name may have 32768 levels, deeper than the call stack reaches.
   */
  private collectAll(node: Node, out: Message[]): void {
    const stack: Node[] = [node]
    while (stack.length > 0) {
      const n = stack.pop()!
      if (n.message !== null) out.push(n.message)
      if (n.children.size === 0) continue
      const children = [...n.children.values()]
      for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!)
    }
  }
}
