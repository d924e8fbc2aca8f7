import type { QoS } from '../protocol/constants.js'
import type { SharedGroup } from './shared.js'
import type { Sub } from './subscription.js'

/** One subscriber's share of a route (TopicTree.match). */
export interface Delivery<S> {
  subscriber: S
  /** Highest QoS among the subscriber's matching subscriptions [MQTT-3.3.4-2]. */
  qos: QoS
  /** Some matching subscription has Retain As Published [MQTT-3.3.1-13]. */
  retainAsPublished: boolean
  /** Subscription Identifiers of the matching subscriptions [MQTT-3.3.4-3]; null when none. */
  subIds: number[] | null
  /**
   * Every matching subscription, kept only when one of them has No Local: a message the
   * subscriber published itself then goes by the others alone [MQTT-3.8.3-3]. Else null.
   */
  noLocal: Sub[] | null
}

/** Where a message to one topic goes: ordinary subscribers, and shared subscriptions. */
export interface Route<S> {
  deliveries: Delivery<S>[]
  /** Shared subscriptions that match, each giving the message to one member; null when none. */
  shared: SharedGroup<S>[] | null
}
