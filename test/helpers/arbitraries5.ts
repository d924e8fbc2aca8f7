/**
 * fast-check arbitraries of valid MQTT 5 packets, with properties, for property
 * tests. Each is generated in the form the decoder gives back: no field that is
 * undefined, no empty property object, and a reason code 0x00 only where the
 * encoder must write it (alongside properties).
 */
import fc from 'fast-check'
import {
  type AckProperties,
  type AuthProperties,
  type ConnackProperties,
  type ConnectPacket,
  type ConnectProperties,
  type DisconnectProperties,
  MAX_VARIABLE_BYTE_INTEGER,
  type Packet,
  PacketType,
  type PublishPacket,
  type PublishProperties,
  type Subscription,
  type UserProperties,
  type Will,
  type WillProperties,
} from '../../src/protocol/index.js'
import { mqttString, packetId, payload, qos, topicName } from './arbitraries.js'

/** Drops undefined fields; undefined when nothing is left. */
function compact<T extends object>(o: T): T | undefined {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return Object.keys(out).length === 0 ? undefined : (out as T)
}

const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 })
const u16 = fc.integer({ min: 0, max: 0xffff })
const u32 = fc.integer({ min: 0, max: 0xffff_ffff })
const nonZeroU16 = fc.integer({ min: 1, max: 0xffff })
const binary = fc.uint8Array({ maxLength: 16 }).map((u) => Buffer.from(u))
const subscriptionId = fc.oneof(
  fc.integer({ min: 1, max: 300 }),
  fc.integer({ min: 1, max: MAX_VARIABLE_BYTE_INTEGER }),
)

export const userProperties: fc.Arbitrary<UserProperties> = fc.array(
  fc.tuple(mqttString(8), mqttString(8)).map(([k, v]): [string, string] => [k, v]),
  { minLength: 1, maxLength: 3 },
)

/** An optional property object whose fields come from `fields`. */
function props<T extends object>(
  fields: { [K in keyof T]: fc.Arbitrary<T[K]> },
): fc.Arbitrary<T | undefined> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {}
  for (const [k, a] of Object.entries(fields)) parts[k] = opt(a as fc.Arbitrary<unknown>)
  return fc.record(parts, { noNullPrototype: true }).map((o) => compact(o as T))
}

export const publishProperties = props<PublishProperties>({
  payloadFormatIndicator: fc.constantFrom(0, 1),
  messageExpiryInterval: u32,
  topicAlias: nonZeroU16,
  responseTopic: topicName(),
  correlationData: binary,
  userProperties,
  subscriptionIdentifiers: fc.array(subscriptionId, { minLength: 1, maxLength: 3 }),
  contentType: mqttString(),
})

export const publish5: fc.Arbitrary<PublishPacket> = fc
  .record({ topic: topicName(), payload, qos, retain: fc.boolean(), dup: fc.boolean(), packetId })
  .chain((r) => publishProperties.map((properties) => ({ ...r, properties })))
  .map((r): PublishPacket => {
    const p: PublishPacket = {
      type: PacketType.PUBLISH,
      // an empty topic name only with a Topic Alias (3.3.2.1)
      topic: r.properties?.topicAlias !== undefined && r.packetId % 3 === 0 ? '' : r.topic,
      payload: r.payload,
      qos: r.qos,
      retain: r.retain,
      dup: r.qos > 0 && r.dup,
      packetId: r.qos > 0 ? r.packetId : 0,
    }
    if (r.properties) p.properties = r.properties
    return p
  })

const connectProperties = props<ConnectProperties>({
  sessionExpiryInterval: u32,
  receiveMaximum: nonZeroU16,
  maximumPacketSize: fc.integer({ min: 1, max: 0xffff_ffff }),
  topicAliasMaximum: u16,
  requestResponseInformation: fc.boolean(),
  requestProblemInformation: fc.boolean(),
  userProperties,
  authenticationMethod: mqttString(),
  authenticationData: binary,
}).map((p) => {
  // Authentication Data only with an Authentication Method (3.1.2.11.10)
  if (p?.authenticationData !== undefined && p.authenticationMethod === undefined) {
    const { authenticationData: _, ...rest } = p
    return compact(rest)
  }
  return p
})

const willProperties = props<WillProperties>({
  willDelayInterval: u32,
  payloadFormatIndicator: fc.constantFrom(0, 1),
  messageExpiryInterval: u32,
  contentType: mqttString(),
  responseTopic: topicName(),
  correlationData: binary,
  userProperties,
})

const will5: fc.Arbitrary<Will> = fc
  .record({ topic: topicName(), payload: binary, qos, retain: fc.boolean(), properties: willProperties })
  .map((w) => compact(w) as Will)

export const connect5: fc.Arbitrary<ConnectPacket> = fc
  .record({
    clean: fc.boolean(),
    keepalive: u16,
    clientId: mqttString(),
    will: opt(will5),
    username: opt(mqttString()),
    // MQTT 5 allows a password without a user name (3.1.2.9)
    password: opt(binary),
    properties: connectProperties,
  })
  .map(
    (r) =>
      compact({
        type: PacketType.CONNECT,
        protocolName: 'MQTT',
        protocolVersion: 5,
        ...r,
      }) as ConnectPacket,
  )

const connackProperties = props<ConnackProperties>({
  sessionExpiryInterval: u32,
  receiveMaximum: nonZeroU16,
  maximumQoS: fc.constantFrom(0, 1),
  retainAvailable: fc.boolean(),
  maximumPacketSize: fc.integer({ min: 1, max: 0xffff_ffff }),
  assignedClientIdentifier: mqttString(),
  topicAliasMaximum: u16,
  reasonString: mqttString(),
  userProperties,
  wildcardSubscriptionAvailable: fc.boolean(),
  subscriptionIdentifiersAvailable: fc.boolean(),
  sharedSubscriptionAvailable: fc.boolean(),
  serverKeepAlive: u16,
  responseInformation: mqttString(),
  serverReference: mqttString(),
  authenticationMethod: mqttString(),
  authenticationData: binary,
})

export const CONNACK_CODES = [
  0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a,
  0x9b, 0x9c, 0x9d, 0x9f,
]

export const connack5: fc.Arbitrary<Packet> = fc
  .record({
    sessionPresent: fc.boolean(),
    returnCode: fc.constantFrom(...CONNACK_CODES),
    properties: connackProperties,
  })
  // a refusal has Session Present 0 [MQTT-3.2.2-6]
  .map(
    (r) =>
      compact({
        type: PacketType.CONNACK,
        ...r,
        sessionPresent: r.sessionPresent && r.returnCode < 0x80,
      }) as Packet,
  )

const ackProperties = props<AckProperties>({ reasonString: mqttString(), userProperties })

/** Reason codes by packet type (the tables of sections 3.4 to 3.15). */
export const REASON_CODES = {
  [PacketType.PUBACK]: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  [PacketType.PUBREC]: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  [PacketType.PUBREL]: [0x00, 0x92],
  [PacketType.PUBCOMP]: [0x00, 0x92],
  [PacketType.SUBACK]: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
  [PacketType.UNSUBACK]: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
  [PacketType.DISCONNECT]: [
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
  ],
  [PacketType.AUTH]: [0x00, 0x18, 0x19],
} as const

/** A reason code and properties as the decoder gives them back: code 0 without properties is left out. */
function reasonAndProps<P extends object>(
  type: keyof typeof REASON_CODES,
  properties: fc.Arbitrary<P | undefined>,
): fc.Arbitrary<{ reasonCode?: number; properties?: P }> {
  return fc
    .record({ code: fc.constantFrom(...REASON_CODES[type]), properties })
    .map(({ code, properties }) => {
      if (properties !== undefined) return { reasonCode: code, properties }
      return code === 0 ? {} : { reasonCode: code }
    })
}

export const ack5: fc.Arbitrary<Packet> = fc
  .constantFrom(PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBREL, PacketType.PUBCOMP)
  .chain((type) =>
    fc
      .record({ packetId, rest: reasonAndProps(type, ackProperties) })
      .map((r) => ({ type, packetId: r.packetId, ...r.rest }) as Packet),
  )

const SHARE = '$share/'

const subscription5: fc.Arbitrary<Subscription> = fc
  .record(
    {
      topic: fc.oneof(
        mqttString(),
        mqttString(8).map((s) => `${SHARE}g/${s}`),
      ),
      qos,
      noLocal: fc.boolean(),
      retainAsPublished: fc.boolean(),
      retainHandling: fc.constantFrom(0, 1, 2),
    },
    { noNullPrototype: true },
  )
  // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]
  .map((s) => (s.topic.startsWith(SHARE) ? { ...s, noLocal: false } : s))

export const subscribe5: fc.Arbitrary<Packet> = fc
  .record({
    packetId,
    subscriptions: fc.array(subscription5, { minLength: 1, maxLength: 6 }),
    properties: props({ subscriptionIdentifier: subscriptionId, userProperties }),
  })
  .map((r) => compact({ type: PacketType.SUBSCRIBE, ...r }) as Packet)

export const suback5: fc.Arbitrary<Packet> = fc
  .record({
    packetId,
    granted: fc.array(fc.constantFrom(...REASON_CODES[PacketType.SUBACK]), { minLength: 1, maxLength: 6 }),
    properties: ackProperties,
  })
  .map((r) => compact({ type: PacketType.SUBACK, ...r }) as Packet)

export const unsubscribe5: fc.Arbitrary<Packet> = fc
  .record({
    packetId,
    topics: fc.array(mqttString(), { minLength: 1, maxLength: 6 }),
    properties: props({ userProperties }),
  })
  .map((r) => compact({ type: PacketType.UNSUBSCRIBE, ...r }) as Packet)

export const unsuback5: fc.Arbitrary<Packet> = fc
  .record({
    packetId,
    reasonCodes: fc.array(fc.constantFrom(...REASON_CODES[PacketType.UNSUBACK]), {
      minLength: 1,
      maxLength: 6,
    }),
    properties: ackProperties,
  })
  .map((r) => compact({ type: PacketType.UNSUBACK, ...r }) as Packet)

export const disconnect5: fc.Arbitrary<Packet> = reasonAndProps(
  PacketType.DISCONNECT,
  props<DisconnectProperties>({
    sessionExpiryInterval: u32,
    reasonString: mqttString(),
    userProperties,
    serverReference: mqttString(),
  }),
).map((r) => ({ type: PacketType.DISCONNECT, ...r }) as Packet)

/** Every AUTH but the empty one carries an Authentication Method (3.15.2.2.2). */
export const auth5: fc.Arbitrary<Packet> = fc
  .tuple(
    reasonAndProps(
      PacketType.AUTH,
      props<AuthProperties>({ authenticationData: binary, reasonString: mqttString(), userProperties }),
    ),
    mqttString(),
    fc.boolean(),
  )
  .map(([r, method, empty]) =>
    empty && r.reasonCode === undefined
      ? ({ type: PacketType.AUTH } as Packet)
      : ({
          type: PacketType.AUTH,
          reasonCode: r.reasonCode ?? 0,
          properties: { authenticationMethod: method, ...r.properties },
        } as Packet),
  )

const ping5: fc.Arbitrary<Packet> = fc
  .constantFrom(PacketType.PINGREQ, PacketType.PINGRESP)
  .map((type) => ({ type }) as Packet)

/** Any valid MQTT 5 packet of any of the 15 types. */
export const packet5: fc.Arbitrary<Packet> = fc.oneof(
  publish5,
  connect5,
  connack5,
  ack5,
  subscribe5,
  suback5,
  unsubscribe5,
  unsuback5,
  disconnect5,
  auth5,
  ping5,
)
