/**
 * MQTT 5 PUBLISH out of the broker, as each subscriber asked in its CONNECT: Topic
 * Aliases assigned by the broker, the client's Receive Maximum and Maximum Packet Size,
 * the Message Expiry Interval counted down; and in-flight messages re-sent in the form
 * of the connection that takes the session over.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { encode, PacketType, type PublishPacket, ReasonCode } from '../../../src/protocol/index.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import { delay, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker({ maxInflight: 10 })

async function publisher(): Promise<RawClient> {
  return tb.connect({ protocolVersion: 5 })
}

/** An MQTT 5 client `id` with a session that outlives it (60 s), subscribed to `topic` at QoS 1. */
async function persistentSubscriber(id: string, topic: string): Promise<RawClient> {
  const sub = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
  })
  await sub.subscribe(topic, 1)
  return sub
}

async function publishAcked(
  pub: RawClient,
  topic: string,
  payload: string | Buffer,
  qos: 1 | 2 = 1,
  options: Partial<PublishPacket> = {},
): Promise<void> {
  const id = pub.publish(topic, payload, { qos, ...options })
  const ack = await pub.next(qos === 1 ? PacketType.PUBACK : PacketType.PUBREC)
  assert.equal(ack.packetId, id)
  if (qos === 2) {
    pub.send({ type: PacketType.PUBREL, packetId: id })
    await pub.next(PacketType.PUBCOMP)
  }
}

test('assigns Topic Aliases to a client that allows them: topic and alias first, then the alias alone, never above its maximum [MQTT-3.3.2-12] [MQTT-3.1.2-26]', async () => {
  const base = `out-alias/${uniqueId()}`
  const sub = await tb.connect({ protocolVersion: 5, properties: { topicAliasMaximum: 2 } })
  await sub.subscribe(`${base}/#`, 0)
  const pub = await publisher()
  const order = ['a', 'a', 'b', 'a', 'c', 'c', 'b']
  for (const t of order) pub.publish(`${base}/${t}`, t)
  const got: [string, number | undefined][] = []
  for (let i = 0; i < order.length; i++) {
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.payload.toString(), order[i])
    got.push([m.topic, m.properties?.topicAlias])
  }
  // a: 1, b: 2, then c takes b's alias (least recently used), then b takes a's
  assert.deepEqual(got, [
    [`${base}/a`, 1],
    ['', 1],
    [`${base}/b`, 2],
    ['', 1],
    [`${base}/c`, 2],
    ['', 2],
    [`${base}/b`, 1],
  ])
  for (const [, alias] of got)
    assert.ok(alias! >= 1 && alias! <= 2, 'never above its maximum [MQTT-3.3.2-11]')
})

test('sends no Topic Alias to a client that did not allow them, nor to a 3.1.1 client [MQTT-3.1.2-27]', async () => {
  const topic = `no-alias/${uniqueId()}`
  const s5 = await tb.connect({ protocolVersion: 5 })
  await s5.subscribe(topic, 1)
  const s3 = await tb.connect()
  await s3.subscribe(topic, 1)
  const pub = await publisher()
  await publishAcked(pub, topic, 'x')
  await publishAcked(pub, topic, 'y')
  for (const s of [s5, s3]) {
    for (const payload of ['x', 'y']) {
      const m = await s.next(PacketType.PUBLISH)
      assert.deepEqual([m.topic, m.payload.toString(), m.properties?.topicAlias], [topic, payload, undefined])
      s.send({ type: PacketType.PUBACK, packetId: m.packetId })
    }
  }
})

test('re-sends a message in flight with its topic in full and no alias after a reconnect [MQTT-3.3.2-7] [MQTT-3.3.1-1]', async () => {
  const topic = `resend-alias/${uniqueId()}`
  const id = uniqueId()
  const sub = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    clean: false,
    properties: { topicAliasMaximum: 5, sessionExpiryInterval: 60 },
  })
  await sub.subscribe(topic, 1)
  const pub = await publisher()
  await publishAcked(pub, topic, 'one')
  await publishAcked(pub, topic, 'two')
  const first = await sub.next(PacketType.PUBLISH)
  const second = await sub.next(PacketType.PUBLISH)
  assert.deepEqual([first.topic, first.properties?.topicAlias], [topic, 1])
  assert.deepEqual([second.topic, second.properties?.topicAlias], ['', 1])
  sub.destroy() // neither acknowledged
  await delay(50)
  const again = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    clean: false,
    properties: { topicAliasMaximum: 5 },
  })
  for (const [m, payload] of [
    [await again.next(PacketType.PUBLISH), 'one'],
    [await again.next(PacketType.PUBLISH), 'two'],
  ] as const) {
    assert.deepEqual(
      [m.topic, m.payload.toString(), m.dup, m.properties?.topicAlias],
      [topic, payload, true, undefined],
    )
    again.send({ type: PacketType.PUBACK, packetId: m.packetId })
  }
  // a new message on the new connection gets a new alias
  await publishAcked(pub, topic, 'three')
  const third = await again.next(PacketType.PUBLISH)
  assert.deepEqual([third.topic, third.properties?.topicAlias], [topic, 1])
})

test("never has more QoS 1/2 messages unacknowledged than the client's Receive Maximum [MQTT-3.3.4-9]", async () => {
  const topic = `recvmax/${uniqueId()}`
  const sub = await tb.connect({ protocolVersion: 5, properties: { receiveMaximum: 2 } })
  await sub.subscribe(topic, 2)
  const pub = await publisher()
  for (let i = 0; i < 6; i++) await publishAcked(pub, topic, `m${i}`, i % 2 === 0 ? 1 : 2)
  const a = await sub.next(PacketType.PUBLISH)
  const b = await sub.next(PacketType.PUBLISH)
  await sub.nothingFor(150)
  assert.deepEqual([a.payload.toString(), b.payload.toString()], ['m0', 'm1'])
  sub.send({ type: PacketType.PUBACK, packetId: a.packetId })
  const c = await sub.next(PacketType.PUBLISH)
  assert.equal(c.payload.toString(), 'm2')
  await sub.nothingFor(100)
  // a QoS 2 message counts until its PUBCOMP, not its PUBREC
  sub.send({ type: PacketType.PUBREC, packetId: b.packetId })
  await sub.next(PacketType.PUBREL)
  await sub.nothingFor(100)
  sub.send({ type: PacketType.PUBCOMP, packetId: b.packetId })
  const d = await sub.next(PacketType.PUBLISH)
  assert.equal(d.payload.toString(), 'm3')
  // a PUBREC with a failure code ends the flow, and makes room [MQTT-3.3.4-9]
  sub.send({ type: PacketType.PUBREC, packetId: d.packetId, reasonCode: ReasonCode.UNSPECIFIED_ERROR })
  const e = await sub.next(PacketType.PUBLISH)
  assert.equal(e.payload.toString(), 'm4')
  await sub.nothingFor(100) // no PUBREL for the refused one
})

test('after a reconnect re-sends no more in-flight messages than the new Receive Maximum allows [MQTT-3.3.4-9]', async () => {
  const topic = `recvmax-resend/${uniqueId()}`
  const id = uniqueId()
  const sub = await persistentSubscriber(id, topic)
  const pub = await publisher()
  for (let i = 0; i < 4; i++) await publishAcked(pub, topic, `m${i}`)
  for (let i = 0; i < 4; i++) await sub.next(PacketType.PUBLISH)
  sub.destroy()
  await delay(50)
  const again = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    clean: false,
    properties: { receiveMaximum: 1 },
  })
  for (let i = 0; i < 4; i++) {
    const m = await again.next(PacketType.PUBLISH)
    assert.deepEqual([m.payload.toString(), m.dup], [`m${i}`, true])
    await again.nothingFor(50)
    again.send({ type: PacketType.PUBACK, packetId: m.packetId })
  }
})

test("drops a message larger than the client's Maximum Packet Size, as if sent [MQTT-3.1.2-25]", async () => {
  const topic = `maxsize/${uniqueId()}`
  const sub = await tb.connect({ protocolVersion: 5, properties: { maximumPacketSize: 64 } })
  await sub.subscribe(topic, 1)
  const pub = await publisher()
  const big = 'x'.repeat(64)
  pub.publish(topic, big)
  await publishAcked(pub, topic, big) // acknowledged to the publisher all the same
  await publishAcked(pub, topic, 'small')
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.payload.toString(), 'small')
  assert.ok(sub.raw(m).length <= 64)
  sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
  await sub.nothingFor(100)
  const dropped = tb.broker.stats.dropped
  assert.ok(dropped >= 2, `dropped ${dropped}`)
})

test('sends the Message Expiry Interval less the time the message waited [MQTT-3.3.2-6]', async () => {
  const topic = `expiry/${uniqueId()}`
  const id = uniqueId()
  const sub = await persistentSubscriber(id, topic)
  await sub.disconnect()
  const pub = await publisher()
  await publishAcked(pub, topic, 'x', 1, { properties: { messageExpiryInterval: 30 } })
  await delay(1100)
  const again = await tb.connect({ protocolVersion: 5, clientId: id, clean: false })
  const m = await again.next(PacketType.PUBLISH)
  const left = m.properties?.messageExpiryInterval
  assert.ok(left !== undefined && left >= 28 && left <= 29, `interval sent: ${left}`)
})

test('deletes a queued message whose expiry passed instead of sending it, and counts it [MQTT-3.3.2-5]', async () => {
  const topic = `expired/${uniqueId()}`
  const id = uniqueId()
  const sub = await persistentSubscriber(id, topic)
  await sub.disconnect()
  const pub = await publisher()
  const before = tb.broker.stats.expired
  await publishAcked(pub, topic, 'short', 1, { properties: { messageExpiryInterval: 1 } })
  await publishAcked(pub, topic, 'long', 1, { properties: { messageExpiryInterval: 60 } })
  await publishAcked(pub, topic, 'forever')
  await delay(1100)
  const again = await tb.connect({ protocolVersion: 5, clientId: id, clean: false })
  const a = await again.next(PacketType.PUBLISH)
  const b = await again.next(PacketType.PUBLISH)
  assert.deepEqual([a.payload.toString(), b.payload.toString()], ['long', 'forever'])
  assert.equal(b.properties?.messageExpiryInterval, undefined)
  assert.equal(tb.broker.stats.expired, before + 1)
})

test('a retained message whose expiry passed is no longer sent [MQTT-3.3.2-5]', async () => {
  const topic = `expired-retained/${uniqueId()}`
  const pub = await publisher()
  await publishAcked(pub, topic, 'soon gone', 1, { retain: true, properties: { messageExpiryInterval: 1 } })
  const early = await tb.connect({ protocolVersion: 5 })
  await early.subscribe(topic, 1)
  const m = await early.next(PacketType.PUBLISH)
  assert.deepEqual([m.retain, m.properties?.messageExpiryInterval], [true, 1])
  await delay(1100)
  const late = await tb.connect({ protocolVersion: 5 })
  await late.subscribe(topic, 1)
  await late.nothingFor(150)
})

test('a retained message found expired is deleted from memory and the store, and counted as expired [MQTT-3.3.2-5]', async (t) => {
  const store = new MemoryStore()
  const own = await startBroker({ store }, t)
  const topic = `expired-retained-gone/${uniqueId()}`
  const pub = await own.connect({ protocolVersion: 5 })
  await publishAcked(pub, topic, 'soon gone', 1, { retain: true, properties: { messageExpiryInterval: 1 } })
  assert.equal(own.broker.retainedCount, 1)
  assert.equal([...store.load().retained].length, 1)
  const expired = own.broker.stats.expired
  await delay(1500)
  const late = await own.connect({ protocolVersion: 5 })
  await late.subscribe(topic, 1)
  await late.nothingFor(150)
  // what $SYS/broker/retained messages/count and .../publish/messages/expired report
  assert.equal(own.broker.retainedCount, 0, 'no longer kept in memory')
  assert.equal([...store.load().retained].length, 0, 'no longer kept in the store')
  assert.equal(own.broker.stats.expired, expired + 1)
})

test('a retained message that expired while the broker was down is deleted from the store at start, and counted [MQTT-3.3.2-5]', async (t) => {
  const store = new MemoryStore()
  const first = new Broker({ sysInterval: 0, store })
  await first.ready
  first.publish({
    topic: 'expired-offline/a',
    payload: 'soon gone',
    retain: true,
    properties: { messageExpiryInterval: 1 },
  })
  first.publish({ topic: 'expired-offline/b', payload: 'kept', retain: true })
  await first.close()
  assert.equal([...store.load().retained].length, 2)
  await delay(1500)
  const again = await startBroker({ store }, t)
  await again.broker.ready
  assert.equal(again.broker.retainedCount, 1)
  assert.deepEqual(
    [...store.load().retained].map((r) => r.topic),
    ['expired-offline/b'],
  )
  assert.equal(again.broker.stats.expired, 1)
  const c = await again.connect({ protocolVersion: 5 })
  await c.subscribe('expired-offline/#', 1)
  assert.equal((await c.next(PacketType.PUBLISH)).payload.toString(), 'kept')
  await c.nothingFor(150)
})

test('a session taken over by a client of the other version re-sends what is in flight in that version', async () => {
  const topic = `takeover/${uniqueId()}`
  const id = uniqueId()
  const v5 = await persistentSubscriber(id, topic)
  const pub = await publisher()
  await publishAcked(pub, topic, 'to five', 1, { properties: { contentType: 'text/plain' } })
  const m5 = await v5.next(PacketType.PUBLISH)
  assert.equal(m5.properties?.contentType, 'text/plain')
  v5.destroy()
  await delay(50)
  const v3 = await tb.connect({ clientId: id, clean: false })
  const m3 = await v3.next(PacketType.PUBLISH)
  assert.deepEqual(
    v3.raw(m3),
    encode({
      type: PacketType.PUBLISH,
      topic,
      payload: Buffer.from('to five'),
      qos: 1,
      retain: false,
      dup: true,
      packetId: m3.packetId,
    }),
  )
  v3.destroy()
  await delay(50)
  const back = await tb.connect({ protocolVersion: 5, clientId: id, clean: false })
  const again = await back.next(PacketType.PUBLISH)
  assert.deepEqual([again.topic, again.payload.toString(), again.dup], [topic, 'to five', true])
  back.send({ type: PacketType.PUBACK, packetId: again.packetId })
  await back.nothingFor(100)
})
