import type { QoS } from '../protocol/constants.js'
import type { Store } from '../store/store.js'
import type { Message } from './message.js'
import { RetainedStore } from './retained.js'
import type { Session, SessionLink } from './session.js'
import { TopicTree } from './topic-tree.js'

/**
 * Where messages go: the subscription tree (with its route cache) and the
 * retained messages. Keeps the store in step for persistent sessions.
 */
export class Router {
  readonly tree = new TopicTree<Session>()
  readonly retained = new RetainedStore()
  private readonly store: Store

  constructor(store: Store) {
    this.store = store
  }

  get subscriptionCount(): number {
    return this.tree.size
  }

  get retainedCount(): number {
    return this.retained.size
  }

  /**
   * Stores a retained message if it is one, then delivers the message to every matching
   * subscriber. Returns how many there were (MQTT 5 acknowledges none with 0x10).
   */
  route(msg: Message, from: SessionLink | null): number {
    if (msg.retain) {
      // [MQTT-3.3.1-10] [MQTT-3.3.1-11] an empty retained message deletes, and is not stored
      if (msg.payload.length === 0) this.retained.set(msg.topic, null)
      else this.retained.set(msg.topic, msg.own()) // [MQTT-3.3.1-5]
      // $SYS values are the broker's own, made afresh every interval: not worth a disk write
      if (!msg.topic.startsWith('$SYS/')) this.store.setRetained(msg)
    }
    const deliveries = this.tree.match(msg.topic)
    for (let i = 0; i < deliveries.length; i++) {
      const d = deliveries[i]!
      // [MQTT-3.8.4-6] delivered at min(published QoS, granted QoS); RETAIN 0 [MQTT-3.3.1-9]
      d.subscriber.deliver(msg, msg.qos < d.qos ? msg.qos : d.qos, false, from)
    }
    return deliveries.length
  }

  /** Adds or replaces [MQTT-3.8.4-3] a subscription of `session`. */
  subscribe(session: Session, filter: string, qos: QoS): void {
    session.subscriptions.set(filter, qos)
    this.tree.add(filter, session, qos)
    session.store?.saveSubscription(session.clientId, filter, qos)
  }

  /** Sends the retained messages matching a new subscription, with RETAIN 1 [MQTT-3.3.1-6]. */
  deliverRetained(session: Session, filter: string, granted: QoS): void {
    for (const msg of this.retained.match(filter)) {
      session.deliver(msg, msg.qos < granted ? msg.qos : granted, true, null)
    }
  }

  /** Removes a subscription; true when there was one. */
  unsubscribe(session: Session, filter: string): boolean {
    if (!session.subscriptions.delete(filter)) return false
    this.tree.remove(filter, session)
    session.store?.deleteSubscription(session.clientId, filter)
    return true
  }

  /** Removes every subscription of a session that ends (the store forgets the session as a whole). */
  removeAll(session: Session): void {
    for (const filter of session.subscriptions.keys()) this.tree.remove(filter, session)
    session.subscriptions.clear()
  }
}
