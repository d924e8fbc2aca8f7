/**
 * Retained messages: stored with their QoS, replaced, deleted by an empty
 * payload, sent with RETAIN 1 only because of a new subscription.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Packet, PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

/** Publishes retained at QoS 1 and waits for its PUBACK, so it is stored before the next step. */
async function retain(c: RawClient, topic: string, payload: string, qos: 0 | 1 = 1): Promise<void> {
  c.publish(topic, payload, { qos, retain: true })
  if (qos === 1) await c.next(PacketType.PUBACK)
  else {
    c.send({ type: PacketType.PINGREQ })
    await c.next(PacketType.PINGRESP)
  }
}

/** All PUBLISHes that arrive within `ms`, acknowledging QoS 1. */
async function collect(c: RawClient, ms = 100): Promise<PublishPacket[]> {
  const out: PublishPacket[] = []
  const deadline = Date.now() + ms
  for (;;) {
    const left = deadline - Date.now()
    if (left <= 0) return out
    let p: Packet
    try {
      p = await c.next(undefined, left)
    } catch {
      return out
    }
    if (p.type === PacketType.PUBLISH) {
      out.push(p)
      if (p.qos === 1) c.send({ type: PacketType.PUBACK, packetId: p.packetId })
    }
  }
}

test('stores a retained message and sends it with RETAIN 1 to a new subscription [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-8]', async () => {
  const topic = `ret/${uniqueId()}`
  const pub = await tb.connect()
  await retain(pub, topic, 'stored')
  const sub = await tb.connect()
  await sub.subscribe(topic, 1)
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.payload.toString(), 'stored')
  assert.equal(m.retain, true)
  assert.equal(m.qos, 1)
  assert.equal(sub.raw(m)[0], 0x33, 'PUBLISH QoS 1 RETAIN 1 DUP 0')
})

test('sends a retained message at the minimum of its stored QoS and the granted QoS [MQTT-3.3.1-5] [MQTT-3.8.4-6]', async () => {
  const topic = `ret/${uniqueId()}`
  const pub = await tb.connect()
  pub.publish(topic, 'q2', { qos: 2, retain: true })
  const rec = await pub.next(PacketType.PUBREC)
  pub.send({ type: PacketType.PUBREL, packetId: rec.packetId })
  await pub.next(PacketType.PUBCOMP)
  for (const granted of [0, 1, 2] as const) {
    const sub = await tb.connect()
    await sub.subscribe(topic, granted)
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.qos, granted)
    assert.equal(m.retain, true)
  }
})

test('sends messages to established subscriptions with RETAIN 0, whatever the published flag [MQTT-3.3.1-9]', async () => {
  const topic = `ret/${uniqueId()}`
  const sub = await tb.connect()
  await sub.subscribe(topic, 1)
  const pub = await tb.connect()
  for (const qos of [0, 1] as const) {
    pub.publish(topic, `live${qos}`, { qos, retain: true })
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.retain, false, `QoS ${qos}`)
    assert.equal(sub.raw(m)[0]! & 1, 0)
    if (m.qos === 1) sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
  }
})

test('keeps only the last retained message of a topic [MQTT-3.3.1-5]', async () => {
  const topic = `ret/${uniqueId()}`
  const pub = await tb.connect()
  await retain(pub, topic, 'first')
  await retain(pub, topic, 'second')
  const sub = await tb.connect()
  await sub.subscribe(topic, 1)
  const got = await collect(sub)
  assert.deepEqual(
    got.map((m) => m.payload.toString()),
    ['second'],
  )
})

test('lets a QoS 0 retained message replace the retained message [MQTT-3.3.1-7]', async () => {
  const topic = `ret/${uniqueId()}`
  const pub = await tb.connect()
  await retain(pub, topic, 'qos1', 1)
  await retain(pub, topic, 'qos0', 0)
  const sub = await tb.connect()
  await sub.subscribe(topic, 2)
  const got = await collect(sub)
  assert.deepEqual(
    got.map((m) => [m.payload.toString(), m.qos, m.retain]),
    [['qos0', 0, true]],
  )
})

test('deletes the retained message on an empty retained PUBLISH, which current subscribers still receive [MQTT-3.3.1-10] [MQTT-3.3.1-11]', async () => {
  const topic = `ret/${uniqueId()}`
  const pub = await tb.connect()
  await retain(pub, topic, 'to delete')
  const before = tb.broker.retainedCount
  const live = await tb.connect()
  await live.subscribe(topic, 1)
  assert.equal((await live.next(PacketType.PUBLISH)).retain, true)
  await retain(pub, topic, '')
  const m = await live.next(PacketType.PUBLISH)
  assert.equal(m.payload.length, 0)
  assert.equal(m.retain, false)
  assert.equal(tb.broker.retainedCount, before - 1, 'not stored')
  const late = await tb.connect()
  await late.subscribe(topic, 1)
  await late.nothingFor(100)
})

test('does not store an empty retained message on a topic with none [MQTT-3.3.1-11]', async () => {
  const topic = `ret/${uniqueId()}`
  const before = tb.broker.retainedCount
  const pub = await tb.connect()
  await retain(pub, topic, '')
  assert.equal(tb.broker.retainedCount, before)
  const sub = await tb.connect()
  await sub.subscribe(topic, 1)
  await sub.nothingFor(100)
})

test('neither stores nor replaces nor removes a retained message for a PUBLISH with RETAIN 0 [MQTT-3.3.1-12]', async () => {
  const topic = `ret/${uniqueId()}`
  const pub = await tb.connect()
  await retain(pub, topic, 'kept')
  pub.publish(topic, 'not retained', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  pub.publish(topic, '', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  const sub = await tb.connect()
  await sub.subscribe(topic, 1)
  const got = await collect(sub)
  assert.deepEqual(
    got.map((m) => m.payload.toString()),
    ['kept'],
  )
  const other = `ret/${uniqueId()}`
  pub.publish(other, 'never retained', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  const sub2 = await tb.connect()
  await sub2.subscribe(other, 1)
  await sub2.nothingFor(100)
})

test('sends every matching retained message to a wildcard subscription, each with RETAIN 1 [MQTT-3.3.1-6]', async (t) => {
  const fresh = await startBroker({}, t)
  const pub = await fresh.connect()
  const topics = ['w/a', 'w/b', 'w/b/c', 'w/b/c/d', 'w', 'x/a', '$w/a']
  for (const topic of topics) await retain(pub, topic, topic)
  const cases: [string, string[]][] = [
    ['w/+', ['w/a', 'w/b']],
    ['w/#', ['w', 'w/a', 'w/b', 'w/b/c', 'w/b/c/d']],
    ['+/a', ['w/a', 'x/a']],
    ['#', ['w', 'w/a', 'w/b', 'w/b/c', 'w/b/c/d', 'x/a']],
    ['+/+/c', ['w/b/c']],
    ['$w/#', ['$w/a']],
    ['+', ['w']],
  ]
  for (const [filter, expected] of cases) {
    const sub = await fresh.connect()
    await sub.subscribe(filter, 1)
    const got = await collect(sub)
    assert.deepEqual(got.map((m) => m.topic).sort(), [...expected].sort(), filter)
    assert.ok(
      got.every((m) => m.retain && m.payload.toString() === m.topic),
      filter,
    )
  }
})

test('re-sends retained messages when a subscription is repeated [MQTT-3.8.4-3]', async () => {
  const topic = `ret/${uniqueId()}`
  const pub = await tb.connect()
  await retain(pub, topic, 'again')
  const sub = await tb.connect()
  await sub.subscribe(topic, 1)
  assert.equal((await collect(sub)).length, 1)
  await sub.subscribe(topic, 0)
  const again = await collect(sub)
  assert.equal(again.length, 1)
  assert.equal(again[0]!.retain, true)
  assert.equal(again[0]!.qos, 0)
})

test('keeps retained messages when the session of their publisher ends [MQTT-3.1.2-7]', async () => {
  const topic = `ret/${uniqueId()}`
  const pub = await tb.connect({ clean: true })
  await retain(pub, topic, 'outlives')
  await pub.disconnect()
  const sub = await tb.connect()
  await sub.subscribe(topic, 0)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'outlives')
})

test('retains QoS 0, 1 and 2 messages and clears them all with empty payloads (Paho retained message test)', async (t) => {
  const fresh = await startBroker({}, t)
  const pub = await fresh.connect()
  pub.publish('TopicA/B', 'qos 0', { qos: 0, retain: true })
  pub.publish('Topic/C', 'qos 1', { qos: 1, retain: true })
  pub.publish('TopicA/C', 'qos 2', { qos: 2, retain: true })
  await pub.next(PacketType.PUBACK)
  const rec = await pub.next(PacketType.PUBREC)
  pub.send({ type: PacketType.PUBREL, packetId: rec.packetId })
  await pub.next(PacketType.PUBCOMP)
  const sub = await fresh.connect()
  await sub.subscribe('+/+', 2)
  const got = await collect(sub, 150)
  assert.deepEqual(got.map((m) => m.payload.toString()).sort(), ['qos 0', 'qos 1', 'qos 2'])
  for (const m of got) if (m.qos === 2) sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
  for (const topic of ['TopicA/B', 'Topic/C', 'TopicA/C']) await retain(pub, topic, '')
  const again = await fresh.connect()
  await again.subscribe('+/+', 2)
  await again.nothingFor(150)
  assert.equal(fresh.broker.retainedCount, 0)
})
