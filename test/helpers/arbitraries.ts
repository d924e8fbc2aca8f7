/** fast-check arbitraries of valid MQTT 3.1.1 packets, for property tests. */
import fc from 'fast-check'
import {
  type ConnackPacket,
  type ConnectPacket,
  type Packet,
  PacketType,
  type PublishPacket,
  type QoS,
  type SubackPacket,
  type SubscribePacket,
  type UnsubscribePacket,
  type Will,
} from '../../src/protocol/index.js'

/**
 * One Unicode scalar value (no surrogate halves), as a string. Cheaper to set up
 * than fast-check's 'binary' unit, which builds a reverse map of all of Unicode.
 */
export const codePoint: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0x00, max: 0x7ff }) },
    { weight: 2, arbitrary: fc.integer({ min: 0x800, max: 0xd7ff }) },
    { weight: 1, arbitrary: fc.integer({ min: 0xe000, max: 0xffff }) },
    { weight: 2, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }) },
  )
  .map((cp) => String.fromCodePoint(cp))

/** A string that is valid as an MQTT UTF-8 string: no U+0000 [MQTT-1.5.3-2], no lone surrogate. */
export const mqttString = (maxLength = 24): fc.Arbitrary<string> =>
  fc
    .oneof(
      fc.string({ unit: 'grapheme-ascii', maxLength }),
      fc.string({ unit: codePoint, maxLength }),
      fc.string({ unit: fc.constantFrom('a', 'b', '/', '$', ' ', 'é', '😀'), maxLength }),
    )
    .map((s) => s.replaceAll('\0', '0'))

/** A valid topic name: non-empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-2]. */
export const topicName = (maxLength = 24): fc.Arbitrary<string> =>
  mqttString(maxLength)
    .map((s) => s.replace(/[+#]/g, '_'))
    .filter((s) => s.length > 0)

export const qos: fc.Arbitrary<QoS> = fc.constantFrom(0, 1, 2)
export const packetId: fc.Arbitrary<number> = fc.integer({ min: 1, max: 65_535 })

/** Mostly short payloads, sometimes long enough for a 2- or 3-byte remaining length. */
export const payload: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 20_000 }).map((n) => Buffer.alloc(n, n & 0xff)) },
)

export const publish: fc.Arbitrary<PublishPacket> = fc
  .record({ topic: topicName(), payload, qos, retain: fc.boolean(), dup: fc.boolean(), packetId })
  .map(
    (r): PublishPacket => ({
      type: PacketType.PUBLISH,
      topic: r.topic,
      payload: r.payload,
      qos: r.qos,
      retain: r.retain,
      dup: r.qos > 0 && r.dup, // DUP only on QoS 1/2 [MQTT-3.3.1-2]
      packetId: r.qos > 0 ? r.packetId : 0,
    }),
  )

const will: fc.Arbitrary<Will> = fc.record(
  {
    topic: topicName(),
    payload: fc.uint8Array({ maxLength: 32 }).map((u) => Buffer.from(u)),
    qos,
    retain: fc.boolean(),
  },
  { noNullPrototype: true },
)

export const connect: fc.Arbitrary<ConnectPacket> = fc
  .record({
    protocol: fc.constantFrom(['MQTT', 4] as const, ['MQIsdp', 3] as const),
    clean: fc.boolean(),
    keepalive: fc.integer({ min: 0, max: 65_535 }),
    clientId: mqttString(),
    will: fc.option(will, { nil: undefined }),
    username: fc.option(mqttString(), { nil: undefined }),
    password: fc.option(
      fc.uint8Array({ maxLength: 32 }).map((u) => Buffer.from(u)),
      { nil: undefined },
    ),
  })
  .map((r) => {
    const p: ConnectPacket = {
      type: PacketType.CONNECT,
      protocolName: r.protocol[0],
      protocolVersion: r.protocol[1],
      clean: r.clean,
      keepalive: r.keepalive,
      clientId: r.clientId,
    }
    if (r.will) p.will = r.will
    if (r.username !== undefined) {
      p.username = r.username
      // a password only with a username [MQTT-3.1.2-22]
      if (r.password !== undefined) p.password = r.password
    }
    return p
  })

export const connack: fc.Arbitrary<ConnackPacket> = fc.record(
  {
    type: fc.constant(PacketType.CONNACK),
    sessionPresent: fc.boolean(),
    returnCode: fc.integer({ min: 0, max: 5 }),
  },
  { noNullPrototype: true },
)

export const subscribe: fc.Arbitrary<SubscribePacket> = fc.record(
  {
    type: fc.constant(PacketType.SUBSCRIBE),
    packetId,
    subscriptions: fc.array(fc.record({ topic: mqttString(), qos }, { noNullPrototype: true }), {
      minLength: 1,
      maxLength: 8,
    }),
  },
  { noNullPrototype: true },
)

export const suback: fc.Arbitrary<SubackPacket> = fc.record(
  {
    type: fc.constant(PacketType.SUBACK),
    packetId,
    granted: fc.array(fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 8 }),
  },
  { noNullPrototype: true },
)

export const unsubscribe: fc.Arbitrary<UnsubscribePacket> = fc.record(
  {
    type: fc.constant(PacketType.UNSUBSCRIBE),
    packetId,
    topics: fc.array(mqttString(), { minLength: 1, maxLength: 8 }),
  },
  { noNullPrototype: true },
)

const ack: fc.Arbitrary<Packet> = fc
  .record({
    type: fc.constantFrom(
      PacketType.PUBACK,
      PacketType.PUBREC,
      PacketType.PUBREL,
      PacketType.PUBCOMP,
      PacketType.UNSUBACK,
    ),
    packetId,
  })
  .map((r) => ({ type: r.type, packetId: r.packetId }) as Packet)

const bare: fc.Arbitrary<Packet> = fc
  .constantFrom(PacketType.PINGREQ, PacketType.PINGRESP, PacketType.DISCONNECT)
  .map((type) => ({ type }) as Packet)

/** Any valid packet of any of the 14 types. */
export const packet: fc.Arbitrary<Packet> = fc.oneof(
  publish,
  connect,
  connack,
  subscribe,
  suback,
  unsubscribe,
  ack,
  bare,
)
