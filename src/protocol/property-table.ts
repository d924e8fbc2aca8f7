import { PacketType, PropertyId } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'
import type {
  AckProperties,
  AuthProperties,
  ConnackProperties,
  ConnectProperties,
  DisconnectProperties,
  PublishProperties,
  SubscribeProperties,
  UnsubscribeProperties,
  WillProperties,
} from './packets.js'

/**
 * MQTT 5 properties (section 2.2.2): a Variable Byte Integer length, then
 * identifier/value pairs. One table says, for each identifier, its field name,
 * its data type and the packets it may appear in; decoding and encoding are
 * driven by it (properties.ts).
 */

/** Every property field of every packet: what the decoder returns and the encoder accepts. */
export type AnyProperties = ConnectProperties &
  WillProperties &
  ConnackProperties &
  PublishProperties &
  AckProperties &
  SubscribeProperties &
  UnsubscribeProperties &
  DisconnectProperties &
  AuthProperties

/** The property set of the will in CONNECT is context 0 (packet type 0 is reserved). */
export const WILL_PROPERTIES = 0

export enum Kind {
  Byte = 0,
  Bool = 1,
  U16 = 2,
  U32 = 3,
  Varint = 4,
  /** Subscription Identifier in PUBLISH: may repeat, collected in an array. */
  Varints = 5,
  String = 6,
  Binary = 7,
  Pairs = 8,
}

export interface Def {
  id: number
  name: keyof AnyProperties
  kind: Kind
  /** Bit n: allowed in packet type n (bit 0: will properties). */
  allowed: number
}

const T = PacketType
const bit = (...types: number[]) => types.reduce((m, t) => m | (1 << t), 0)
const W = WILL_PROPERTIES
const ACKS = [T.PUBACK, T.PUBREC, T.PUBREL, T.PUBCOMP, T.SUBACK, T.UNSUBACK]

/** Table 2-4 (2.2.2.2). */
const DEFS: Def[] = [
  {
    id: PropertyId.PAYLOAD_FORMAT_INDICATOR,
    name: 'payloadFormatIndicator',
    kind: Kind.Byte,
    allowed: bit(T.PUBLISH, W),
  },
  {
    id: PropertyId.MESSAGE_EXPIRY_INTERVAL,
    name: 'messageExpiryInterval',
    kind: Kind.U32,
    allowed: bit(T.PUBLISH, W),
  },
  { id: PropertyId.CONTENT_TYPE, name: 'contentType', kind: Kind.String, allowed: bit(T.PUBLISH, W) },
  { id: PropertyId.RESPONSE_TOPIC, name: 'responseTopic', kind: Kind.String, allowed: bit(T.PUBLISH, W) },
  { id: PropertyId.CORRELATION_DATA, name: 'correlationData', kind: Kind.Binary, allowed: bit(T.PUBLISH, W) },
  {
    id: PropertyId.SUBSCRIPTION_IDENTIFIER,
    name: 'subscriptionIdentifiers',
    kind: Kind.Varints,
    allowed: bit(T.PUBLISH),
  },
  {
    id: PropertyId.SUBSCRIPTION_IDENTIFIER,
    name: 'subscriptionIdentifier',
    kind: Kind.Varint,
    allowed: bit(T.SUBSCRIBE),
  },
  {
    id: PropertyId.SESSION_EXPIRY_INTERVAL,
    name: 'sessionExpiryInterval',
    kind: Kind.U32,
    allowed: bit(T.CONNECT, T.CONNACK, T.DISCONNECT),
  },
  {
    id: PropertyId.ASSIGNED_CLIENT_IDENTIFIER,
    name: 'assignedClientIdentifier',
    kind: Kind.String,
    allowed: bit(T.CONNACK),
  },
  { id: PropertyId.SERVER_KEEP_ALIVE, name: 'serverKeepAlive', kind: Kind.U16, allowed: bit(T.CONNACK) },
  {
    id: PropertyId.AUTHENTICATION_METHOD,
    name: 'authenticationMethod',
    kind: Kind.String,
    allowed: bit(T.CONNECT, T.CONNACK, T.AUTH),
  },
  {
    id: PropertyId.AUTHENTICATION_DATA,
    name: 'authenticationData',
    kind: Kind.Binary,
    allowed: bit(T.CONNECT, T.CONNACK, T.AUTH),
  },
  {
    id: PropertyId.REQUEST_PROBLEM_INFORMATION,
    name: 'requestProblemInformation',
    kind: Kind.Bool,
    allowed: bit(T.CONNECT),
  },
  { id: PropertyId.WILL_DELAY_INTERVAL, name: 'willDelayInterval', kind: Kind.U32, allowed: bit(W) },
  {
    id: PropertyId.REQUEST_RESPONSE_INFORMATION,
    name: 'requestResponseInformation',
    kind: Kind.Bool,
    allowed: bit(T.CONNECT),
  },
  {
    id: PropertyId.RESPONSE_INFORMATION,
    name: 'responseInformation',
    kind: Kind.String,
    allowed: bit(T.CONNACK),
  },
  {
    id: PropertyId.SERVER_REFERENCE,
    name: 'serverReference',
    kind: Kind.String,
    allowed: bit(T.CONNACK, T.DISCONNECT),
  },
  {
    id: PropertyId.REASON_STRING,
    name: 'reasonString',
    kind: Kind.String,
    allowed: bit(T.CONNACK, ...ACKS, T.DISCONNECT, T.AUTH),
  },
  {
    id: PropertyId.RECEIVE_MAXIMUM,
    name: 'receiveMaximum',
    kind: Kind.U16,
    allowed: bit(T.CONNECT, T.CONNACK),
  },
  {
    id: PropertyId.TOPIC_ALIAS_MAXIMUM,
    name: 'topicAliasMaximum',
    kind: Kind.U16,
    allowed: bit(T.CONNECT, T.CONNACK),
  },
  { id: PropertyId.TOPIC_ALIAS, name: 'topicAlias', kind: Kind.U16, allowed: bit(T.PUBLISH) },
  { id: PropertyId.MAXIMUM_QOS, name: 'maximumQoS', kind: Kind.Byte, allowed: bit(T.CONNACK) },
  { id: PropertyId.RETAIN_AVAILABLE, name: 'retainAvailable', kind: Kind.Bool, allowed: bit(T.CONNACK) },
  {
    id: PropertyId.USER_PROPERTY,
    name: 'userProperties',
    kind: Kind.Pairs,
    allowed: bit(
      W,
      T.CONNECT,
      T.CONNACK,
      T.PUBLISH,
      ...ACKS,
      T.SUBSCRIBE,
      T.UNSUBSCRIBE,
      T.DISCONNECT,
      T.AUTH,
    ),
  },
  {
    id: PropertyId.MAXIMUM_PACKET_SIZE,
    name: 'maximumPacketSize',
    kind: Kind.U32,
    allowed: bit(T.CONNECT, T.CONNACK),
  },
  {
    id: PropertyId.WILDCARD_SUBSCRIPTION_AVAILABLE,
    name: 'wildcardSubscriptionAvailable',
    kind: Kind.Bool,
    allowed: bit(T.CONNACK),
  },
  {
    id: PropertyId.SUBSCRIPTION_IDENTIFIER_AVAILABLE,
    name: 'subscriptionIdentifiersAvailable',
    kind: Kind.Bool,
    allowed: bit(T.CONNACK),
  },
  {
    id: PropertyId.SHARED_SUBSCRIPTION_AVAILABLE,
    name: 'sharedSubscriptionAvailable',
    kind: Kind.Bool,
    allowed: bit(T.CONNACK),
  },
]

/** By identifier: the definitions sharing it (Subscription Identifier has two, by packet). */
const BY_ID: (Def[] | undefined)[] = []
const byName = new Map<string, Def>()
for (const d of DEFS) {
  ;(BY_ID[d.id] ??= []).push(d)
  byName.set(d.name, d)
}

/** By field name. */
export const BY_NAME: ReadonlyMap<string, Def> = byName

export function defFor(id: number, ctx: number): Def | undefined {
  const defs = id < BY_ID.length ? BY_ID[id] : undefined
  if (defs === undefined) return undefined
  for (const d of defs) if (d.allowed & (1 << ctx)) return d
  return undefined
}

export function where(ctx: number): string {
  return ctx === WILL_PROPERTIES ? 'will properties' : `packet type ${ctx}`
}

export function valueError(name: string, value: number, section: string): never {
  throw protocolError(ErrorCode.INVALID_PROPERTY_VALUE, `${name} ${value} is out of range (${section})`)
}

/** Range rules of single values, beyond their data type. */
export function checkValue(d: Def, v: number): void {
  switch (d.id) {
    case PropertyId.PAYLOAD_FORMAT_INDICATOR:
      if (v > 1) valueError(d.name, v, '3.3.2.3.2')
      break
    case PropertyId.MAXIMUM_QOS:
      if (v > 1) valueError(d.name, v, '3.2.2.3.4')
      break
    case PropertyId.RECEIVE_MAXIMUM:
      if (v === 0) valueError(d.name, v, '3.1.2.11.3')
      break
    case PropertyId.MAXIMUM_PACKET_SIZE:
      if (v === 0) valueError(d.name, v, '3.1.2.11.4')
      break
    case PropertyId.SUBSCRIPTION_IDENTIFIER:
      if (v === 0) valueError(d.name, v, '3.8.2.1.2')
      break
    case PropertyId.TOPIC_ALIAS:
      if (v === 0) {
        throw protocolError(ErrorCode.TOPIC_ALIAS_INVALID, 'Topic Alias 0 is not allowed', 'MQTT-3.3.2-8')
      }
      break
  }
}
