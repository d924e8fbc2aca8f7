import { MAX_PACKET_SIZE, type QoS } from '../protocol/constants.js'
import type { ConnackProperties } from '../protocol/packets.js'

/**
 * What the broker's CONNACK allows on one connection (MQTT 5, 3.2.2.3), with
 * the defaults for a property it left out. A 3.1.1 broker gets the defaults:
 * nothing is limited beyond the protocol itself.
 */
export interface ServerLimits {
  /** QoS 1/2 PUBLISHes the client may have unacknowledged [MQTT-3.3.4-7]. */
  readonly receiveMaximum: number
  /** Largest packet the broker accepts, fixed header included [MQTT-3.2.2-15]. */
  readonly maximumPacketSize: number
  /** [MQTT-3.2.2-11] */
  readonly maximumQoS: QoS
  /** [MQTT-3.2.2-14] */
  readonly retainAvailable: boolean
  /** Topic aliases the client may use, 1..this [MQTT-3.2.2-17]. */
  readonly topicAliasMaximum: number
  readonly wildcardSubscriptionAvailable: boolean
  readonly subscriptionIdentifiersAvailable: boolean
  readonly sharedSubscriptionAvailable: boolean
}

export const NO_LIMITS: ServerLimits = Object.freeze({
  receiveMaximum: 65_535,
  maximumPacketSize: MAX_PACKET_SIZE,
  maximumQoS: 2,
  retainAvailable: true,
  topicAliasMaximum: 0,
  wildcardSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: true,
  sharedSubscriptionAvailable: true,
})

export function serverLimits(p: ConnackProperties | undefined): ServerLimits {
  if (p === undefined) return NO_LIMITS
  return {
    receiveMaximum: p.receiveMaximum ?? NO_LIMITS.receiveMaximum,
    maximumPacketSize: p.maximumPacketSize ?? NO_LIMITS.maximumPacketSize,
    maximumQoS: p.maximumQoS ?? 2,
    retainAvailable: p.retainAvailable ?? true,
    topicAliasMaximum: p.topicAliasMaximum ?? 0,
    wildcardSubscriptionAvailable: p.wildcardSubscriptionAvailable ?? true,
    subscriptionIdentifiersAvailable: p.subscriptionIdentifiersAvailable ?? true,
    sharedSubscriptionAvailable: p.sharedSubscriptionAvailable ?? true,
  }
}
