import type { QoS } from '../protocol/constants.js'
import { own } from '../session/empty.js'
import type { Store, StoredRetained } from '../store/store.js'
import type { ClusterBridge } from './cluster-bridge.js'
import { Message } from './message.js'
import { RetainedStore } from './retained.js'
import type { Delivery } from './route.js'
import type { Session, SessionLink } from './session.js'
import type { SharedGroup } from './shared.js'
import { parseShared, qosOf, type Sub } from './subscription.js'
import { TopicSampler } from './topic-sample.js'
import { combine, TopicTree } from './topic-tree.js'

/**
 * Where messages go: the subscription tree (with its route cache and shared
 * subscriptions) and the retained messages. Keeps the store in step for
 * persistent sessions.
 */
export class Router {
  readonly tree = new TopicTree<Session>()
  readonly retained = new RetainedStore()
  /** The busiest topics, by sampling 1 routed message in SAMPLE_EVERY. */
  readonly sampler = new TopicSampler()
  private readonly store: Store
  /** Where expired messages are counted ($SYS/broker/publish/messages/expired). */
  private readonly counters: { expired: number }
  /**
   * The cluster this node belongs to, or null: messages then also go to the nodes with
   * interest, subscriptions tell the cluster, retained messages are kept cluster-wide.
   */
  cluster: ClusterBridge | null = null

  constructor(store: Store, counters: { expired: number } = { expired: 0 }) {
    this.store = store
    this.counters = counters
  }

  get subscriptionCount(): number {
    return this.tree.size
  }

  get retainedCount(): number {
    return this.retained.size
  }

  /** Payload bytes of the retained messages ($SYS/broker/store/messages/bytes counts them). */
  get retainedBytes(): number {
    return this.retained.bytes
  }

  /**
   * Stores a retained message if it is one, then delivers the message to every matching
   * subscriber. Returns how many there were (MQTT 5 acknowledges none with 0x10).
   */
  route(msg: Message, from: SessionLink | null): number {
    const sampler = this.sampler
    if (--sampler.countdown === 0) sampler.take(msg.topic)
    if (msg.retain) {
      // [MQTT-3.3.1-10] [MQTT-3.3.1-11] an empty retained message deletes, and is not stored
      if (msg.payload.length === 0) this.retained.set(msg.topic, null)
      else this.retained.set(msg.topic, msg.own()) // [MQTT-3.3.1-5]
      // $SYS values are the broker's own, made afresh every interval: not worth a disk write
      if (!msg.topic.startsWith('$SYS/')) this.keepRetained(msg)
    }
    const route = this.tree.match(msg.topic)
    let n = this.deliverAll(route.deliveries, msg, from)
    const cluster = this.cluster
    if (cluster !== null) {
      // to the other nodes with interest; a shared subscription's member is picked cluster-wide
      // (a NATS queue group, this node among them): its message comes back through NATS.
      // Whether another node has a subscriber is not known here: not "no subscribers".
      cluster.forward(msg)
      return n + 1
    }
    const shared = route.shared
    if (shared !== null) for (const g of shared) if (this.deliverShared(g, msg, from, null)) n++
    return n
  }

  /**
   * A message from another node of the cluster: to this node's subscribers, or (`shared`, the
   * `$share/{group}/{filter}` NATS picked this node for) to one member of that local group.
   * Retained messages reach the retained trie through the cluster's own bucket, not here.
   */
  routeRemote(msg: Message, shared: string | null): void {
    const route = this.tree.match(msg.topic)
    if (shared === null) {
      this.deliverAll(route.deliveries, msg, null)
      return
    }
    if (route.shared !== null) {
      for (const g of route.shared) if (g.name === shared) this.deliverShared(g, msg, null, null)
    }
  }

  /** Each matching subscription's delivery; returns how many there were. */
  private deliverAll(
    deliveries: readonly Delivery<Session>[],
    msg: Message,
    from: SessionLink | null,
  ): number {
    for (let i = 0; i < deliveries.length; i++) {
      const d = deliveries[i]!
      let qos = d.qos
      let retainAsPublished = d.retainAsPublished
      let subIds = d.subIds
      if (d.noLocal !== null && msg.origin === d.subscriber.clientId) {
        // its own message: only its subscriptions without No Local count [MQTT-3.8.3-3]
        const c = combine(d.noLocal, true)
        if (c.qos < 0) continue
        qos = c.qos as QoS
        retainAsPublished = c.retainAsPublished
        subIds = c.subIds
      }
      // [MQTT-3.8.4-6] delivered at min(published QoS, granted QoS); RETAIN 0 [MQTT-3.3.1-9]
      // [MQTT-3.3.1-12], or as published [MQTT-3.3.1-13]
      if (msg.qos < qos) qos = msg.qos
      // a cluster's persistent session gets QoS 1/2 from JetStream, where it was stored (Session.fed)
      if (qos > 0 && d.subscriber.fed) continue
      d.subscriber.deliver(msg, qos, retainAsPublished && msg.retain, from, subIds)
    }
    return deliveries.length
  }

  /** The retained messages the store keeps: all but the broker's own `$SYS/` values (see route). */
  storedRetained(): Iterable<StoredRetained> {
    return this.retained.entries('$SYS')
  }

  /** A retained message set or deleted (empty payload) here is kept: cluster-wide, or in the store. */
  private keepRetained(msg: Message): void {
    if (this.cluster !== null) this.cluster.retain(msg)
    else this.store.setRetained(msg)
  }

  /** A message to a shared subscription goes to one of its members [MQTT-4.8.2]. */
  private deliverShared(
    group: SharedGroup<Session>,
    msg: Message,
    from: SessionLink | null,
    except: Session | null,
  ): boolean {
    const m = group.pick(readiness, except, msg.topic)
    if (m === null) return false
    // [MQTT-4.8.2-3] at the member's own granted QoS
    m.subscriber.deliver(
      msg,
      msg.qos < m.qos ? msg.qos : m.qos,
      m.retainAsPublished && msg.retain,
      from,
      m.subIds,
      group,
    )
    return true
  }

  /**
   * Adds or replaces [MQTT-3.8.4-3] a subscription of `session` (the new options take
   * effect); returns true when it existed (for Retain Handling 1 [MQTT-3.3.1-10]).
   */
  subscribe(session: Session, filter: string, sub: Sub): boolean {
    const existed = session.subscriptions.has(filter)
    // a replaced subscription's retained messages still being sent stop: the new one's follow
    if (existed) session.cancelReplay(filter)
    session.subscriptions = own(session.subscriptions)
    session.subscriptions.set(filter, sub)
    this.tree.add(filter, session, sub)
    session.store?.saveSubscription(session.clientId, filter, sub)
    if (!existed) this.cluster?.subscribed(filter)
    return existed
  }

  /** A subscription of a session read back (from a store, or another node of the cluster). */
  restoreSubscription(session: Session, filter: string, sub: Sub): void {
    session.subscriptions = own(session.subscriptions)
    session.subscriptions.set(filter, sub)
    this.tree.add(filter, session, sub)
    this.cluster?.subscribed(filter)
  }

  /**
   * Sends the retained messages matching a new subscription, with RETAIN 1 [MQTT-3.3.1-6]
   * and its Subscription Identifier, as its Retain Handling says: 0 always [MQTT-3.3.1-9],
   * 1 only when the subscription is new [MQTT-3.3.1-10], 2 never [MQTT-3.3.1-11]. A shared
   * subscription gets none (MQTT 5 section 3.3.1.3: only a new non-shared subscription does).
   */
  deliverRetained(session: Session, filter: string, sub: Sub, existed: boolean): void {
    if (parseShared(filter) !== null) return
    let subIds: number[] | null = null
    if (typeof sub !== 'number') {
      if (sub.retainHandling === 2 || (sub.retainHandling === 1 && existed)) return
      if (sub.subscriptionId !== 0) subIds = [sub.subscriptionId]
    }
    session.replay(filter, this.retainedFor(filter, this.retained.version), qosOf(sub), subIds)
  }

  /**
   * The retained messages matching `filter`, as they are walked; those found expired are deleted.
   * Only those retained before now: one retained later was routed to the subscription as published.
   */
  private *retainedFor(filter: string, upTo: number): Generator<StoredRetained, void, undefined> {
    for (const e of this.retained.matching(filter, upTo)) {
      const expiresAt = e.expiresAt
      if (expiresAt !== undefined && expiresAt !== 0 && expiresAt <= Date.now()) {
        this.dropExpired(e.topic)
        continue
      }
      yield e
    }
  }

  /**
   * The retained message of `topic`, found expired [MQTT-3.3.2-5] (by a subscription's
   * lookup, or in the store at start): deleted from memory and from the store (an empty
   * payload deletes), and counted as expired, not kept until its topic is next published to.
   */
  dropExpired(topic: string): void {
    this.retained.set(topic, null)
    if (!topic.startsWith('$SYS/'))
      this.keepRetained(new Message(topic, Buffer.alloc(0), 0, true, null, true))
    this.counters.expired++
  }

  /**
   * An operator deletes the retained message of `topic` (admin API): gone from memory and from
   * the store, as an empty retained PUBLISH deletes it [MQTT-3.3.1-10], but sent to no one.
   * False when there was none.
   */
  deleteRetained(topic: string): boolean {
    const before = this.retained.size
    this.retained.set(topic, null)
    if (this.retained.size === before) return false
    if (!topic.startsWith('$SYS/'))
      this.keepRetained(new Message(topic, Buffer.alloc(0), 0, true, null, true))
    return true
  }

  /** Removes a subscription; true when there was one. */
  unsubscribe(session: Session, filter: string): boolean {
    if (!session.subscriptions.delete(filter)) return false
    // nothing more for it after UNSUBACK [MQTT-3.10.4-2], retained messages still to send included
    session.cancelReplay(filter)
    this.tree.remove(filter, session)
    session.store?.deleteSubscription(session.clientId, filter)
    this.cluster?.unsubscribed(filter)
    return true
  }

  /**
   * The connection of `session` ended. Messages of its shared subscriptions that it did
   * not take (QoS 1 in flight, and any still queued) go to another member of their group,
   * if there is one [MQTT-4.8.2] (the spec's SHOULD for a session that ends; it MAY be
   * done as soon as the connection is lost, and that is what we do). QoS 2 in flight stays
   * with it, to be completed if it returns [MQTT-4.8.2-4] and sent to no one else if its
   * session ends first [MQTT-4.8.2-5].
   */
  memberLeft(session: Session): void {
    const taken = session.takeShared((group) => group.hasOther(session))
    for (const q of taken) this.deliverShared(q.group!, q.msg, null, session)
  }

  /** Removes every subscription of a session that ends (the store forgets the session as a whole). */
  removeAll(session: Session): void {
    this.memberLeft(session)
    for (const filter of session.subscriptions.keys()) {
      this.tree.remove(filter, session)
      this.cluster?.unsubscribed(filter)
    }
    session.subscriptions.clear()
  }
}

/**
 * See SharedGroup.pick: connected with room, connected, offline; a connected member that may
 * not read the topic (authorizeRead) is passed over, so another member gets the message.
 */
function readiness(s: Session, topic: string): -1 | 0 | 1 | 2 {
  if (s.link === null) return 0
  if (s.mayRead !== null && !s.mayRead(topic)) return -1
  return s.queued === 0 && s.outbound.hasRoom ? 2 : 1
}
