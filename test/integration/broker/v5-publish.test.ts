/**
 * MQTT 5 PUBLISH into the broker: properties kept and forwarded, Topic Aliases set and
 * used, the payload format checked, acknowledgements with reason codes; and the
 * conversions between 3.1.1 and MQTT 5 publishers and subscribers.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  encode,
  PacketType,
  type PublishProperties,
  type QoS,
  ReasonCode,
} from '../../../src/protocol/index.js'
import { type ConnectOptions, hex, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker({
  topicAliasMaximum: 4,
  authorizePublish: (_c, topic) => !topic.startsWith('forbidden/'),
})

const v5 = (o: ConnectOptions = {}): Promise<RawClient> => tb.connect({ protocolVersion: 5, ...o })

async function subscriber(topic: string, qos: QoS = 2, version: 4 | 5 = 5): Promise<RawClient> {
  const sub = await tb.connect({ protocolVersion: version })
  await sub.subscribe(topic, qos)
  return sub
}

const PROPS: PublishProperties = {
  payloadFormatIndicator: 1,
  contentType: 'text/plain; charset=utf-8',
  responseTopic: 'replies/here',
  correlationData: Buffer.from([0, 1, 2, 0xff]),
  userProperties: [
    ['z', '1'],
    ['a', '2'],
    ['z', '3'],
  ],
}

test('forwards the properties of a message unaltered, user properties in order [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20]', async () => {
  const topic = `v5/${uniqueId()}`
  const sub = await subscriber(topic)
  const pub = await v5()
  for (const qos of [0, 1, 2] as const) {
    pub.publish(topic, 'héllo', { qos, properties: PROPS })
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.qos, qos)
    assert.equal(m.payload.toString(), 'héllo')
    assert.deepEqual(m.properties, PROPS)
    if (qos > 0) sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
    if (qos === 2) {
      sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
      await sub.next(PacketType.PUBREL)
      sub.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
    }
  }
})

test('a message without properties reaches an MQTT 5 subscriber with none', async () => {
  const topic = `v5/${uniqueId()}`
  const sub = await subscriber(topic)
  const pub = await v5()
  pub.publish(topic, 'x')
  const m = await sub.next(PacketType.PUBLISH)
  assert.deepEqual(
    sub.raw(m),
    encode(
      {
        type: PacketType.PUBLISH,
        topic,
        payload: Buffer.from('x'),
        qos: 0,
        retain: false,
        dup: false,
        packetId: 0,
      },
      5,
    ),
  )
})

test('a 3.1.1 publisher reaches an MQTT 5 subscriber, and an MQTT 5 publisher a 3.1.1 one without its properties', async () => {
  const topic = `mixed/${uniqueId()}`
  const sub5 = await subscriber(topic, 1, 5)
  const sub3 = await subscriber(topic, 1, 4)
  const pub3 = await tb.connect()
  const pub5 = await v5()
  pub3.publish(topic, 'from 3.1.1', { qos: 1 })
  await pub3.next(PacketType.PUBACK)
  const a5 = await sub5.next(PacketType.PUBLISH)
  assert.equal(a5.payload.toString(), 'from 3.1.1')
  assert.equal(a5.properties, undefined)
  const a3 = await sub3.next(PacketType.PUBLISH)
  assert.equal(a3.payload.toString(), 'from 3.1.1')

  pub5.publish(topic, 'from 5', { qos: 1, properties: PROPS })
  await pub5.next(PacketType.PUBACK)
  const b5 = await sub5.next(PacketType.PUBLISH)
  assert.deepEqual(b5.properties, PROPS)
  const b3 = await sub3.next(PacketType.PUBLISH)
  // the 3.1.1 form: topic, packet id, payload, nothing else
  assert.deepEqual(
    sub3.raw(b3),
    encode({
      type: PacketType.PUBLISH,
      topic,
      payload: Buffer.from('from 5'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: b3.packetId,
    }),
  )
})

test('a retained message keeps its properties for MQTT 5 subscribers and drops them for 3.1.1 ones [MQTT-3.3.1-5]', async () => {
  const topic = `retained/${uniqueId()}`
  const pub = await v5()
  pub.publish(topic, 'kept', { qos: 1, retain: true, properties: PROPS })
  await pub.next(PacketType.PUBACK)
  const s5 = await subscriber(topic, 1, 5)
  const m5 = await s5.next(PacketType.PUBLISH)
  assert.equal(m5.retain, true)
  assert.deepEqual(m5.properties, PROPS)
  const s3 = await subscriber(topic, 1, 4)
  const m3 = await s3.next(PacketType.PUBLISH)
  assert.deepEqual(
    s3.raw(m3),
    encode({
      type: PacketType.PUBLISH,
      topic,
      payload: Buffer.from('kept'),
      qos: 1,
      retain: true,
      dup: false,
      packetId: m3.packetId,
    }),
  )
  pub.publish(topic, '', { qos: 1, retain: true })
  await pub.next(PacketType.PUBACK)
})

test('a Topic Alias with a topic sets the mapping; an empty topic with it uses it [MQTT-3.3.2-12]', async () => {
  const t1 = `alias/${uniqueId()}`
  const t2 = `alias/${uniqueId()}`
  const sub = await subscriber('alias/#', 0)
  const pub = await v5()
  pub.publish(t1, 'a', { properties: { topicAlias: 1 } })
  pub.publish('', 'b', { properties: { topicAlias: 1 } })
  pub.publish(t2, 'c', { properties: { topicAlias: 1 } }) // re-mapped
  pub.publish('', 'd', { properties: { topicAlias: 1 } })
  pub.publish('', 'e', { qos: 1, properties: { topicAlias: 1, userProperties: [['k', 'v']] } })
  const got = []
  for (let i = 0; i < 5; i++) {
    const m = await sub.next(PacketType.PUBLISH)
    got.push([m.topic, m.payload.toString(), m.properties?.topicAlias])
  }
  assert.deepEqual(got, [
    [t1, 'a', undefined],
    [t1, 'b', undefined],
    [t2, 'c', undefined],
    [t2, 'd', undefined],
    [t2, 'e', undefined],
  ])
  assert.equal((await pub.next(PacketType.PUBACK)).reasonCode ?? 0, 0)
})

test('Topic Aliases belong to one connection: a new connection does not know the old ones [MQTT-3.3.2-7]', async () => {
  const id = uniqueId()
  const pub = await v5({ clientId: id, clean: false })
  pub.publish(`alias/${id}`, 'a', { properties: { topicAlias: 2 } })
  await pub.disconnect()
  const again = await v5({ clientId: id, clean: false })
  again.publish('', 'b', { properties: { topicAlias: 2 } })
  const d = await again.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.PROTOCOL_ERROR)
  await again.closed()
})

test('a Topic Alias of 0 or above the Topic Alias Maximum closes the connection with 0x94 [MQTT-3.3.2-8] [MQTT-3.3.2-9]', async () => {
  for (const alias of [0, 5]) {
    const pub = await v5()
    // PUBLISH 'a' with Topic Alias `alias` (our encoder refuses to write 0)
    pub.sendRaw(`30 08 0001 61 03 23 000${alias} 78`)
    const d = await pub.next(PacketType.DISCONNECT)
    assert.equal(d.reasonCode, ReasonCode.TOPIC_ALIAS_INVALID, `alias ${alias}`)
    await pub.closed()
  }
})

test('an empty topic with an alias never set is a Protocol Error (3.3.2.3.4)', async () => {
  const pub = await v5()
  pub.publish('', 'x', { qos: 1, properties: { topicAlias: 3 } })
  const d = await pub.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.PROTOCOL_ERROR)
  await pub.closed()
})

test('a PUBLISH from a client with a Subscription Identifier is a Protocol Error [MQTT-3.3.4-6]', async () => {
  const pub = await v5()
  pub.publish(`x/${uniqueId()}`, 'x', { properties: { subscriptionIdentifiers: [1] } })
  assert.equal((await pub.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.PROTOCOL_ERROR)
  await pub.closed()
})

test('a payload said to be UTF-8 that is not is refused with 0x99, and not delivered [MQTT-3.3.2-4]', async () => {
  const topic = `pfi/${uniqueId()}`
  const sub = await subscriber(topic)
  const pub = await v5()
  const bad = Buffer.from([0x61, 0xff, 0x62])
  const id1 = pub.publish(topic, bad, { qos: 1, properties: { payloadFormatIndicator: 1 } })
  assert.deepEqual(await pub.next(PacketType.PUBACK), {
    type: PacketType.PUBACK,
    packetId: id1,
    reasonCode: 0x99,
  })
  const id2 = pub.publish(topic, bad, { qos: 2, properties: { payloadFormatIndicator: 1 } })
  const rec = await pub.next(PacketType.PUBREC)
  assert.deepEqual([rec.packetId, rec.reasonCode], [id2, ReasonCode.PAYLOAD_FORMAT_INVALID])
  pub.publish(topic, bad, { qos: 0, properties: { payloadFormatIndicator: 1 } })
  // unspecified bytes may be anything
  pub.publish(topic, bad, { qos: 0, properties: { payloadFormatIndicator: 0 } })
  const m = await sub.next(PacketType.PUBLISH)
  assert.deepEqual(m.payload, bad)
  assert.equal(m.properties?.payloadFormatIndicator, 0)
  await sub.nothingFor(100)
})

test('acknowledges with 0x10 when no subscriber matched, and 0x00 when one did', async () => {
  const pub = await v5()
  const lonely = `nobody/${uniqueId()}`
  const id = pub.publish(lonely, 'x', { qos: 1 })
  assert.deepEqual(
    pub.raw(await pub.next(PacketType.PUBACK)),
    hex(`40 03 ${id.toString(16).padStart(4, '0')} 10`),
  )
  const id2 = pub.publish(lonely, 'x', { qos: 2 })
  const rec = await pub.next(PacketType.PUBREC)
  assert.deepEqual([rec.packetId, rec.reasonCode], [id2, ReasonCode.NO_MATCHING_SUBSCRIBERS])
  // 0x10 is a success: the QoS 2 flow goes on
  pub.send({ type: PacketType.PUBREL, packetId: id2 })
  assert.equal((await pub.next(PacketType.PUBCOMP)).reasonCode ?? 0, 0)

  const topic = `some/${uniqueId()}`
  await subscriber(topic, 1)
  const id3 = pub.publish(topic, 'x', { qos: 1 })
  // Success with no properties: the short form [MQTT-3.4.2-1]
  assert.deepEqual(
    pub.raw(await pub.next(PacketType.PUBACK)),
    hex(`40 02 ${id3.toString(16).padStart(4, '0')}`),
  )
})

test('a PUBLISH refused by authorizePublish is acknowledged with 0x87 (3.1.1: acknowledged as usual)', async () => {
  const topic = `forbidden/${uniqueId()}`
  const sub = await subscriber('forbidden/#', 2)
  const pub = await v5()
  const id = pub.publish(topic, 'x', { qos: 1 })
  assert.deepEqual(await pub.next(PacketType.PUBACK), {
    type: PacketType.PUBACK,
    packetId: id,
    reasonCode: 0x87,
  })
  const id2 = pub.publish(topic, 'x', { qos: 2 })
  assert.deepEqual(await pub.next(PacketType.PUBREC), {
    type: PacketType.PUBREC,
    packetId: id2,
    reasonCode: 0x87,
  })
  // a refused QoS 2 flow ends at its PUBREC: the id is free again, a PUBREL for it is unknown
  pub.send({ type: PacketType.PUBREL, packetId: id2 })
  assert.equal((await pub.next(PacketType.PUBCOMP)).reasonCode, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND)
  const pub3 = await tb.connect()
  const id3 = pub3.publish(topic, 'x', { qos: 1 })
  assert.deepEqual(
    pub3.raw(await pub3.next(PacketType.PUBACK)),
    hex(`40 02 ${id3.toString(16).padStart(4, '0')}`),
  )
  await sub.nothingFor(100)
})

test('a PUBREL for an unknown packet id gets PUBCOMP 0x92; a known one 0x00 (4.3.3)', async () => {
  const pub = await v5()
  pub.send({ type: PacketType.PUBREL, packetId: 77 })
  const c = await pub.next(PacketType.PUBCOMP)
  assert.deepEqual([c.packetId, c.reasonCode], [77, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND])
  const id = pub.publish(`x/${uniqueId()}`, 'x', { qos: 2 })
  await pub.next(PacketType.PUBREC)
  pub.send({ type: PacketType.PUBREL, packetId: id })
  assert.deepEqual(
    pub.raw(await pub.next(PacketType.PUBCOMP)),
    hex(`70 02 ${id.toString(16).padStart(4, '0')}`),
  )
  // 3.1.1 has no reason codes: PUBCOMP as ever
  const old = await tb.connect()
  old.send({ type: PacketType.PUBREL, packetId: 77 })
  assert.deepEqual(old.raw(await old.next(PacketType.PUBCOMP)), hex('70 02 00 4d'))
})

test('broker.publish() takes properties, checks them, and MQTT 5 subscribers get them', async () => {
  const topic = `api/${uniqueId()}`
  const sub = await subscriber(topic, 0)
  tb.broker.publish({ topic, payload: 'x', properties: { contentType: 'a/b', userProperties: [['k', 'v']] } })
  const m = await sub.next(PacketType.PUBLISH)
  assert.deepEqual(m.properties, { contentType: 'a/b', userProperties: [['k', 'v']] })
  for (const bad of [
    { topicAlias: 1 },
    { subscriptionIdentifiers: [1] },
    { responseTopic: 'a/+' },
    { payloadFormatIndicator: 2 },
    { contentType: 'a\u0000b' },
    { userProperties: [['only one']] },
    { messageExpiryInterval: -1 },
  ]) {
    assert.throws(
      () => tb.broker.publish({ topic, payload: 'x', properties: bad as PublishProperties }),
      { name: 'ConfigError' },
      JSON.stringify(bad),
    )
  }
  assert.throws(
    () =>
      tb.broker.publish({ topic, payload: Buffer.from([0xff]), properties: { payloadFormatIndicator: 1 } }),
    { name: 'ConfigError' },
  )
})

test('a will goes out with its properties, less the Will Delay Interval (3.1.3.2)', async () => {
  const topic = `will/${uniqueId()}`
  const sub = await subscriber(topic, 1)
  const c = await v5({
    will: {
      topic,
      payload: Buffer.from('gone'),
      qos: 1,
      retain: false,
      properties: {
        willDelayInterval: 0,
        contentType: 'text/plain',
        messageExpiryInterval: 30,
        userProperties: [['why', 'dropped']],
      },
    },
  })
  c.destroy()
  const m = await sub.next(PacketType.PUBLISH, 2000)
  assert.equal(m.payload.toString(), 'gone')
  const { messageExpiryInterval, ...rest } = m.properties ?? {}
  assert.deepEqual(rest, { contentType: 'text/plain', userProperties: [['why', 'dropped']] })
  assert.ok(messageExpiryInterval !== undefined && messageExpiryInterval <= 30 && messageExpiryInterval >= 29)
})

test('a topic deeper than maxTopicLevels is refused with 0x90 in MQTT 5 (3.1.1 closes the connection)', async () => {
  const deep = Array.from({ length: 130 }, (_, i) => `l${i}`).join('/')
  const pub = await v5()
  const id = pub.publish(deep, 'x', { qos: 1 })
  assert.deepEqual(await pub.next(PacketType.PUBACK), {
    type: PacketType.PUBACK,
    packetId: id,
    reasonCode: ReasonCode.TOPIC_NAME_INVALID,
  })
  // the connection stays
  pub.send({ type: PacketType.PINGREQ })
  await pub.next(PacketType.PINGRESP)
})

test("an MQTT 5 publisher's QoS 0 bytes go unchanged to MQTT 5 subscribers, re-encoded for 3.1.1 ones", async () => {
  const topic = `fwd/${uniqueId()}`
  const s5 = await subscriber(topic, 0, 5)
  const s3 = await subscriber(topic, 0, 4)
  const pub = await v5()
  const sent = encode(
    {
      type: PacketType.PUBLISH,
      topic,
      payload: Buffer.from('raw'),
      qos: 0,
      retain: false,
      dup: false,
      packetId: 0,
    },
    5,
  )
  pub.sendRaw(sent)
  assert.deepEqual(s5.raw(await s5.next(PacketType.PUBLISH)), sent)
  assert.deepEqual(
    s3.raw(await s3.next(PacketType.PUBLISH)),
    encode({
      type: PacketType.PUBLISH,
      topic,
      payload: Buffer.from('raw'),
      qos: 0,
      retain: false,
      dup: false,
      packetId: 0,
    }),
  )
})
