import type { QoS } from '../protocol/constants.js'
import type { Subscription } from '../protocol/packets.js'
import { isValidTopicFilter } from '../protocol/topic.js'
import type { StoredSubscription, SubscriptionOptions } from '../store/store.js'

/**
 * One subscription of one session: its maximum QoS alone (every MQTT 3.1.1
 * subscription, and a v5 one with every option at its default), or its MQTT 5
 * options. The plain number keeps the 3.1.1 routing path free of objects.
 * The same shape is what the store keeps.
 */
export type Sub = StoredSubscription
export type SubOptions = SubscriptionOptions

export function qosOf(sub: Sub): QoS {
  return typeof sub === 'number' ? sub : sub.qos
}

/**
 * A SUBSCRIBE entry as kept: the QoS granted (at most the one asked for), the v5
 * options, and the packet's Subscription Identifier (0: none) [MQTT-3.8.2.1.2].
 */
export function makeSub(s: Subscription, granted: QoS, subscriptionId: number): Sub {
  const noLocal = s.noLocal === true
  const retainAsPublished = s.retainAsPublished === true
  const retainHandling = s.retainHandling ?? 0
  if (!noLocal && !retainAsPublished && retainHandling === 0 && subscriptionId === 0) return granted
  return { qos: granted, noLocal, retainAsPublished, retainHandling, subscriptionId }
}

export const SHARE_PREFIX = '$share/'

/** A shared subscription's filter taken apart: `$share/{group}/{filter}`. */
export interface SharedFilter {
  group: string
  filter: string
}

/**
 * Parses a `$share/{ShareName}/{filter}` topic filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]:
 * null when `filter` is not a shared subscription, 'invalid' when it starts with
 * `$share/` but breaks the form: an empty ShareName, one holding '+' or '#', or no
 * valid topic filter after the '/' that ends the ShareName.
 */
export function parseShared(filter: string): SharedFilter | null | 'invalid' {
  if (!filter.startsWith(SHARE_PREFIX)) return null
  const slash = filter.indexOf('/', SHARE_PREFIX.length)
  if (slash < 0) return 'invalid' // no '/' after the ShareName, hence no filter
  const group = filter.slice(SHARE_PREFIX.length, slash)
  if (group.length === 0 || group.includes('+') || group.includes('#')) return 'invalid'
  const inner = filter.slice(slash + 1)
  if (!isValidTopicFilter(inner)) return 'invalid'
  return { group, filter: inner }
}
