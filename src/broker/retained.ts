import type { QoS } from '../protocol/constants.js'
import type { PublishProperties } from '../protocol/packets.js'
import { asciiString } from '../protocol/utf8.js'
import { INLINE_PAYLOAD_MAX, type StoredRetained } from '../store/store.js'
import { Message } from './message.js'

/**
 * Retained messages, one per topic, in a trie of topic levels so that a wildcard
 * subscription visits only the branches its filter can match, never every retained
 * message.
 *
 * Built for millions of them: a node is the retained message itself (its payload, QoS
 * and, when it has any, its MQTT 5 properties and expiry), not a Message object; it has
 * no Map until it has children; its topic is not stored but spelled from the path as the
 * walk goes down; a payload of up to INLINE_PAYLOAD_MAX bytes is kept as a one-byte string (a
 * Buffer object costs more than 64 bytes of payload). A walk yields each one matched as its
 * parts (StoredRetained), not a Message: a replay encodes most of them straight from the parts
 * (RetainedReplays), and what needs a Message makes one (retainedMessage). Memory per retained
 * 64-byte message is measured in BENCHMARKS.md.
 */

/** What few retained messages have: MQTT 5 properties, an expiry. */
interface Extra {
  properties: PublishProperties | null
  expiresAt: number
}

class Node {
  children: Map<string, Node> | null = null
  /** The retained payload: bytes, or a latin1 string of them (see INLINE_PAYLOAD_MAX); null: none here. */
  payload: Buffer | string | null = null
  qos: QoS = 0
  extra: Extra | null = null
  /** RetainedStore.version when its message was set. */
  version = 0

  child(level: string): Node | undefined {
    return this.children === null ? undefined : this.children.get(level)
  }
}

/** Walk-stack depth meaning "everything at and below this node" (under a '#'). */
const ALL = -1

export class RetainedStore {
  private readonly root = new Node()
  private count = 0
  private payloadBytes = 0
  /** Counts the messages set: a walk can leave out those set after it began (see matching). */
  version = 0
  /**
   * The node of the last topic's parent level, and that topic up to its last '/': a store's
   * messages come in walk order, siblings one after another, so most need one Map look-up, not
   * one per level (a million restored at start). Forgotten when a delete may prune it.
   */
  private lastParent: Node | null = null
  private lastPrefix = ''

  get size(): number {
    return this.count
  }

  /** Payload bytes of the messages kept. */
  get bytes(): number {
    return this.payloadBytes
  }

  /**
   * Stores `message` for its topic, or deletes the topic's message when `message` is null.
   * The payload is kept as it is (the caller owns it: see Message.own) or as a string of it.
   */
  set(topic: string, message: Message | null): void {
    if (message === null) this.delete(topic.split('/'))
    else this.restore(topic, message.payload, message.qos, message.properties, message.expiresAt)
  }

  /**
   * Stores a retained message from its parts, its payload as bytes or as a latin1 string of
   * them (as a store may load it: no Buffer is made for a payload kept as a string).
   */
  restore(
    topic: string,
    payload: Buffer | string,
    qos: QoS,
    properties: PublishProperties | null,
    expiresAt: number,
  ): void {
    const cut = topic.lastIndexOf('/')
    let parent = this.lastParent
    if (parent === null || cut + 1 !== this.lastPrefix.length || !topic.startsWith(this.lastPrefix)) {
      parent = this.root
      if (cut >= 0) for (const level of topic.slice(0, cut).split('/')) parent = grow(parent, level)
      this.lastParent = parent
      this.lastPrefix = topic.slice(0, cut + 1)
    }
    const node = grow(parent, cut < 0 ? topic : topic.slice(cut + 1))
    if (node.payload === null) this.count++
    else this.payloadBytes -= node.payload.length
    const n = payload.length // a latin1 string has a character per byte
    this.payloadBytes += n
    if (typeof payload === 'string')
      node.payload = n <= INLINE_PAYLOAD_MAX ? payload : Buffer.from(payload, 'latin1')
    else node.payload = n <= INLINE_PAYLOAD_MAX ? asciiString(payload, 0, n) : payload
    node.qos = qos
    node.version = ++this.version
    node.extra = properties === null && expiresAt === 0 ? null : { properties, expiresAt }
  }

  /**
   * Every retained message as its parts (the payload as kept: a latin1 string or bytes), depth
   * first in the order topics were first retained, '$' topics included but for those under the
   * first level `without` (its own message is given). For a snapshot of them all; like
   * `matching`, it may be left and resumed.
   */
  *entries(without: string | null = null): Generator<StoredRetained, void, undefined> {
    const root = this.root
    const nodes: Node[] = [root]
    const topics: string[] = ['']
    while (nodes.length > 0) {
      const node = nodes.pop()!
      const topic = topics.pop()!
      if (node.payload !== null) yield entry(node, topic)
      if (node.children === null) continue
      const from = nodes.length
      for (const [key, child] of node.children) {
        if (node === root && key === without) {
          if (child.payload !== null) yield entry(child, key) // its own message, not what is under it
          continue
        }
        nodes.push(child)
        topics.push(node === root ? key : `${topic}/${key}`)
      }
      // the first child is visited first: reversed on the stack
      reverseFrom(from, nodes, topics)
    }
  }

  private delete(levels: string[]): void {
    this.lastParent = null
    const path: Node[] = [this.root]
    let node = this.root
    for (const level of levels) {
      const next = node.child(level)
      if (next === undefined) return
      path.push(next)
      node = next
    }
    if (node.payload === null) return
    this.payloadBytes -= node.payload.length
    node.payload = null
    node.extra = null
    this.count--
    for (let i = levels.length; i > 0; i--) {
      const n = path[i]!
      if (n.payload !== null || (n.children !== null && n.children.size > 0)) break
      const parent = path[i - 1]!
      parent.children!.delete(levels[i - 1]!)
      if (parent.children!.size === 0) parent.children = null
    }
  }

  /** Retained messages whose topic matches `filter`, all at once, as Messages (see matching). */
  match(filter: string): Message[] {
    const out: Message[] = []
    for (const e of this.matching(filter)) out.push(retainedMessage(e))
    return out
  }

  /**
   * Retained messages whose topic matches `filter`, one at a time as their parts, following the '$' rule
   * [MQTT-4.7.2-1], depth first in the order topics were first retained. Iterative, with an
   * explicit stack: a filter may have 32768 levels. The walk may be left and resumed later
   * (RetainedReplays): a message deleted meanwhile is not given; with `upTo` (a `version`
   * taken when the walk began), neither is one set after it (its subscriber got it as it
   * was published).
   */
  *matching(filter: string, upTo = Number.POSITIVE_INFINITY): Generator<StoredRetained, void, undefined> {
    const levels = filter.split('/')
    const root = this.root
    const nodes: Node[] = [root]
    const depths: number[] = [0]
    const topics: string[] = ['']
    while (nodes.length > 0) {
      const node = nodes.pop()!
      const i = depths.pop()!
      const topic = topics.pop()!
      if (i === ALL || i === levels.length) {
        if (node.payload !== null && node.version <= upTo) yield entry(node, topic)
        if (i === ALL) pushChildren(node, false, ALL, topic, nodes, depths, topics)
        continue
      }
      const level = levels[i]!
      if (level === '#') {
        // everything below this node, and the node itself [MQTT-4.7.1-2]
        if (node.payload !== null && node !== root && node.version <= upTo) yield entry(node, topic)
        pushChildren(node, node === root, ALL, topic, nodes, depths, topics)
      } else if (level === '+') {
        pushChildren(node, node === root, i + 1, topic, nodes, depths, topics)
      } else {
        const child = node.child(level)
        if (child !== undefined) {
          nodes.push(child)
          depths.push(i + 1)
          topics.push(node === root ? level : `${topic}/${level}`)
        }
      }
    }
  }
}

/** The message of `node` (of `topic`) as its parts. */
function entry(node: Node, topic: string): StoredRetained {
  const extra = node.extra
  return extra === null
    ? { topic, payload: node.payload!, qos: node.qos }
    : {
        topic,
        payload: node.payload!,
        qos: node.qos,
        properties: extra.properties,
        expiresAt: extra.expiresAt,
      }
}

/** The child of `node` for `level`, made if missing. */
function grow(node: Node, level: string): Node {
  let next = node.child(level)
  if (next === undefined) {
    next = new Node()
    node.children ??= new Map()
    node.children.set(level, next)
  }
  return next
}

/**
 * Pushes the children of `node` to visit next, in reverse so that they are visited in the
 * order they were made. Under the root, a child's topic is its level, and wildcards do not
 * match a first level starting with '$' [MQTT-4.7.2-1].
 */
function pushChildren(
  node: Node,
  isRoot: boolean,
  depth: number,
  topic: string,
  nodes: Node[],
  depths: number[],
  topics: string[],
): void {
  if (node.children === null) return
  const from = nodes.length
  for (const [key, child] of node.children) {
    if (isRoot && key.charCodeAt(0) === 0x24) continue
    nodes.push(child)
    depths.push(depth)
    topics.push(isRoot ? key : `${topic}/${key}`)
  }
  // reversed in place (no array of keys per node): all depths pushed here are the same
  reverseFrom(from, nodes, topics)
}

/** Reverses the nodes pushed from `from` on, and their topics, in place. */
function reverseFrom(from: number, nodes: Node[], topics: string[]): void {
  for (let i = from, j = nodes.length - 1; i < j; i++, j--) {
    const n = nodes[i]!
    nodes[i] = nodes[j]!
    nodes[j] = n
    const t = topics[i]!
    topics[i] = topics[j]!
    topics[j] = t
  }
}

/** A Message of its own for a retained one (RETAIN 1; its payload shared, or made from the string). */
export function retainedMessage(e: StoredRetained): Message {
  const p = e.payload
  const payload = typeof p === 'string' ? Buffer.from(p, 'latin1') : p
  const msg = new Message(e.topic, payload, e.qos, true, null, true)
  if (e.properties != null) msg.properties = e.properties
  if (e.expiresAt !== undefined) msg.expiresAt = e.expiresAt
  return msg
}
