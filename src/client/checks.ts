import { ConfigError, PetrelError } from '../errors.js'
import {
  MAX_VARIABLE_BYTE_INTEGER,
  PacketType,
  PROTOCOL_V5,
  type QoS,
  ReasonCode,
} from '../protocol/constants.js'
import { encode } from '../protocol/encoder.js'
import type {
  DisconnectPacket,
  DisconnectProperties,
  PublishProperties,
  SubscribeProperties,
  Subscription,
} from '../protocol/packets.js'
import { hasWildcard, isValidTopicFilter, isValidTopicName } from '../protocol/topic.js'
import type { EndOptions, SubscribeOptions } from './api.js'
import { ClientErrorCode, InvalidTopicError, ServerLimitError } from './errors.js'
import type { ServerLimits } from './server-limits.js'

/**
 * The client's checks of what a caller asks for, before anything is queued or
 * sent, and the packets built from the MQTT 5 options. Each returns an Error
 * (for the caller's promise) rather than throwing.
 */

export function needsV5(what: string): PetrelError {
  return new PetrelError(ClientErrorCode.NEEDS_MQTT5, `${what} needs protocolVersion: 5`)
}

export function invalidQoS(qos: unknown): PetrelError {
  return new PetrelError(ClientErrorCode.INVALID_QOS, `qos must be 0, 1 or 2; got ${String(qos)}`)
}

const SHARED_PREFIX = '$share/'

/** A lone UTF-16 surrogate: a string with one has no UTF-8 form [MQTT-1.5.4-1]. */
const LONE_SURROGATE = /\p{Cs}/u

/**
 * Whether `topic` may go in a SUBSCRIBE or UNSUBSCRIBE: a valid filter, a UTF-8 string
 * [MQTT-3.8.3-1] [MQTT-3.10.3-1], and in MQTT 5 a `$share/` one names its ShareName and
 * a filter after it [MQTT-4.8.2-1] [MQTT-4.8.2-2].
 */
export function isSendableFilter(topic: string, v5: boolean): boolean {
  if (!isValidTopicFilter(topic) || LONE_SURROGATE.test(topic)) return false
  if (!v5 || !topic.startsWith(SHARED_PREFIX)) return true
  const slash = topic.indexOf('/', SHARED_PREFIX.length)
  return slash > SHARED_PREFIX.length && slash < topic.length - 1
}

/**
 * The subscriptions and SUBSCRIBE properties asked for, checked: topic filters,
 * QoS, MQTT 5 options, and what the broker's CONNACK said it does not support.
 */
export function subscribeArgs(
  filters: string | string[] | Record<string, QoS>,
  o: SubscribeOptions,
  v5: boolean,
  server: ServerLimits,
): { subs: Subscription[]; properties: SubscribeProperties | undefined } | Error {
  const qos = o.qos ?? 0
  const subs: Subscription[] =
    typeof filters === 'string'
      ? [{ topic: filters, qos }]
      : Array.isArray(filters)
        ? filters.map((topic) => ({ topic, qos }))
        : Object.entries(filters).map(([topic, q]) => ({ topic, qos: q }))
  if (subs.length === 0) return new InvalidTopicError('', 'topic filter') // [MQTT-3.8.3-2]
  for (const s of subs) {
    if (!isSendableFilter(s.topic, v5)) return new InvalidTopicError(s.topic, 'topic filter')
    if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) return invalidQoS(s.qos)
  }
  const options =
    o.noLocal !== undefined || o.retainAsPublished !== undefined || o.retainHandling !== undefined
  const withProperties = o.subscriptionIdentifier !== undefined || o.userProperties !== undefined
  if (!v5) return options || withProperties ? needsV5('subscribe options') : { subs, properties: undefined }
  if (
    o.retainHandling !== undefined &&
    o.retainHandling !== 0 &&
    o.retainHandling !== 1 &&
    o.retainHandling !== 2
  ) {
    return new PetrelError(
      ClientErrorCode.INVALID_PROPERTY,
      `retainHandling must be 0, 1 or 2; got ${String(o.retainHandling)}`,
    )
  }
  for (const s of subs) {
    if (o.noLocal !== undefined) s.noLocal = o.noLocal
    if (o.retainAsPublished !== undefined) s.retainAsPublished = o.retainAsPublished
    if (o.retainHandling !== undefined) s.retainHandling = o.retainHandling
    const shared = s.topic.startsWith(SHARED_PREFIX)
    if (shared && o.noLocal === true) {
      // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error
      return new PetrelError(
        ClientErrorCode.INVALID_PROPERTY,
        `noLocal is not allowed on a shared subscription (${s.topic})`,
      )
    }
    if (shared && !server.sharedSubscriptionAvailable) {
      const msg = `the broker does not support shared subscriptions (${s.topic})`
      return new ServerLimitError(
        'sharedSubscriptionAvailable',
        ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
        msg,
      )
    }
    if (!server.wildcardSubscriptionAvailable && hasWildcard(s.topic)) {
      const msg = `the broker does not support wildcard subscriptions (${s.topic})`
      return new ServerLimitError(
        'wildcardSubscriptionAvailable',
        ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
        msg,
      )
    }
  }
  if (!withProperties) return { subs, properties: undefined }
  const properties: SubscribeProperties = {}
  const id = o.subscriptionIdentifier
  if (id !== undefined) {
    if (!(Number.isInteger(id) && id >= 1 && id <= MAX_VARIABLE_BYTE_INTEGER)) {
      return new PetrelError(
        ClientErrorCode.INVALID_PROPERTY,
        `subscriptionIdentifier must be 1..268435455; got ${id}`,
      )
    }
    if (!server.subscriptionIdentifiersAvailable) {
      const msg = 'the broker does not support subscription identifiers'
      return new ServerLimitError(
        'subscriptionIdentifiersAvailable',
        ReasonCode.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
        msg,
      )
    }
    properties.subscriptionIdentifier = id
  }
  if (o.userProperties !== undefined) properties.userProperties = o.userProperties
  return { subs, properties }
}

/** Publish properties a client may not set. */
export function checkPublishProperties(p: PublishProperties, v5: boolean): Error | null {
  if (!v5) return needsV5('publish properties')
  if (p.topicAlias !== undefined) {
    return new PetrelError(
      ClientErrorCode.INVALID_PROPERTY,
      'topicAlias is assigned by the client (see the topicAliases option); leave it out',
    )
  }
  if (p.subscriptionIdentifiers !== undefined) {
    // [MQTT-3.3.4-6] a PUBLISH from a client carries no Subscription Identifier
    return new PetrelError(
      ClientErrorCode.INVALID_PROPERTY,
      'a client PUBLISH has no subscriptionIdentifiers',
    )
  }
  if (p.responseTopic !== undefined && !isValidTopicName(p.responseTopic)) {
    // [MQTT-3.3.2-14] a Response Topic is a topic name: no wildcards
    return new PetrelError(
      ClientErrorCode.INVALID_PROPERTY,
      `responseTopic must be a topic name, without wildcards; got '${p.responseTopic}'`,
    )
  }
  return null
}

/** The DISCONNECT that `end(o)` sends; undefined for the plain one. `connectExpiry`: the CONNECT's Session Expiry Interval. */
export function disconnectPacket(
  o: EndOptions,
  v5: boolean,
  connectExpiry: number,
  maxPacketSize: number,
): Buffer | Error | undefined {
  const given =
    o.reasonCode !== undefined ||
    o.sessionExpiryInterval !== undefined ||
    o.reasonString !== undefined ||
    o.userProperties !== undefined
  if (!given) return undefined
  if (!v5) return needsV5('end() options other than force')
  const properties: DisconnectProperties = {}
  if (o.sessionExpiryInterval !== undefined) {
    // [MQTT-3.14.2-2] a session that was to end with the connection cannot be given a life at DISCONNECT
    if (o.sessionExpiryInterval !== 0 && connectExpiry === 0) {
      return new ConfigError(
        'sessionExpiryInterval',
        'a non-zero sessionExpiryInterval at end() needs a non-zero one at connect [MQTT-3.14.2-2]',
      )
    }
    properties.sessionExpiryInterval = o.sessionExpiryInterval
  }
  if (o.reasonString !== undefined) properties.reasonString = o.reasonString
  if (o.userProperties !== undefined) properties.userProperties = o.userProperties
  const p: DisconnectPacket = { type: PacketType.DISCONNECT, reasonCode: o.reasonCode ?? ReasonCode.SUCCESS }
  if (Object.keys(properties).length > 0) p.properties = properties
  try {
    const bytes = encode(p, PROTOCOL_V5) // refuses a reason DISCONNECT does not have [MQTT-3.14.2-1]
    if (bytes.length <= maxPacketSize) return bytes
    // over the broker's Maximum Packet Size: without Reason String and User Properties [MQTT-3.14.2-3] [MQTT-3.14.2-4]
    const { reasonString: _r, userProperties: _u, ...rest } = properties
    return encode(
      {
        type: PacketType.DISCONNECT,
        reasonCode: p.reasonCode,
        ...(Object.keys(rest).length > 0 ? { properties: rest } : {}),
      },
      PROTOCOL_V5,
    )
  } catch (err) {
    return err instanceof Error ? err : new PetrelError(ClientErrorCode.INVALID_PROPERTY, String(err))
  }
}

/** MQTT 5: a publish the broker's CONNACK said it does not take, refused locally (never sent); else null. */
export function publishOverLimits(qos: QoS, retain: boolean, server: ServerLimits): ServerLimitError | null {
  if (qos > server.maximumQoS) {
    const msg = `QoS ${qos} is over the broker's Maximum QoS ${server.maximumQoS}`
    return new ServerLimitError('maximumQoS', ReasonCode.QOS_NOT_SUPPORTED, msg) // [MQTT-3.2.2-11]
  }
  if (retain && !server.retainAvailable) {
    const msg = 'the broker does not keep retained messages'
    return new ServerLimitError('retainAvailable', ReasonCode.RETAIN_NOT_SUPPORTED, msg) // [MQTT-3.2.2-14]
  }
  return null
}
