/**
 * Shared subscriptions `$share/{group}/{filter}` on the wire, with MQTT 3.1.1 clients
 * (Petrel has them for every version, as Mosquitto does): the form, one member per
 * message in turn, QoS per member, no retained messages, the '$' rule, messages of a
 * member that leaves going to another, and shared and ordinary subscriptions kept apart.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import { delay, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

/**
 * PUBLISHes that arrive, acknowledging QoS 1 (and QoS 2 with PUBREC) unless `ack` is false:
 * waits up to 2 s for the first, then until `quietMs` pass with nothing new.
 */
async function received(c: RawClient, quietMs = 200, ack = true): Promise<PublishPacket[]> {
  const out: PublishPacket[] = []
  for (;;) {
    let p: PublishPacket
    try {
      p = await c.next(PacketType.PUBLISH, out.length === 0 ? 2000 : quietMs)
    } catch {
      return out
    }
    out.push(p)
    if (ack && p.qos === 1) c.send({ type: PacketType.PUBACK, packetId: p.packetId })
    if (ack && p.qos === 2) c.send({ type: PacketType.PUBREC, packetId: p.packetId })
  }
}
const texts = (ps: PublishPacket[]): string[] => ps.map((p) => p.payload.toString())

test('refuses a malformed shared subscription with 0x80 and grants the valid ones [MQTT-4.8.2-1] [MQTT-4.8.2-2]', async (t) => {
  const tb = await startBroker({}, t)
  const c = await tb.connect()
  const filters = [
    '$share/g/a',
    '$share//a',
    '$share/g',
    '$share/g/',
    '$share/+/a',
    '$share/#/a',
    '$share/g+/a',
    '$share/g/a/#/b',
  ]
  const ack = await c.subscribe(filters.map((topic) => ({ topic, qos: 1 as const })))
  assert.deepEqual(ack.granted, [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80])
})

test('gives each message to exactly one member of the group, in turn [MQTT-4.8.2]', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('jobs')
  const members = [await tb.connect(), await tb.connect(), await tb.connect()]
  for (const m of members) assert.deepEqual((await m.subscribe(`$share/workers/${topic}/#`, 1)).granted, [1])
  const p = await tb.connect()
  for (let i = 0; i < 12; i++) p.publish(`${topic}/x`, `m${i}`, { qos: 1 })
  const got = await Promise.all(members.map((m) => received(m)))
  const all = got.flatMap(texts).sort()
  assert.deepEqual(all, Array.from({ length: 12 }, (_, i) => `m${i}`).sort(), 'each message once')
  // all three are connected with room: round robin gives each a third
  assert.deepEqual(
    got.map((g) => g.length),
    [4, 4, 4],
  )
})

test('delivers to each member at its own granted QoS [MQTT-4.8.2-3]', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('qos')
  const q0 = await tb.connect()
  const q2 = await tb.connect()
  await q0.subscribe(`$share/g/${topic}`, 0)
  await q2.subscribe(`$share/g/${topic}`, 2)
  const p = await tb.connect()
  for (let i = 0; i < 4; i++) p.publish(topic, `m${i}`, { qos: 1 })
  const [a, b] = await Promise.all([received(q0), received(q2)])
  assert.deepEqual(
    a.map((x) => x.qos),
    [0, 0],
  )
  assert.deepEqual(
    b.map((x) => x.qos),
    [1, 1],
    'min(published 1, granted 2)',
  )
})

test('each group gets its own copy; a client in two groups gets one from each', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('groups')
  const c = await tb.connect()
  await c.subscribe(`$share/g1/${topic}`, 0)
  await c.subscribe(`$share/g2/${topic}`, 0)
  const p = await tb.connect()
  p.publish(topic, 'hello')
  assert.deepEqual(texts(await received(c)), ['hello', 'hello'])
})

test('sends no retained message on a shared subscription (MQTT 5 section 3.3.1.3, 4.8.2)', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('kept')
  const p = await tb.connect()
  p.publish(topic, 'retained', { retain: true, qos: 1 })
  await p.next(PacketType.PUBACK)
  const c = await tb.connect()
  await c.subscribe(`$share/g/${topic}`, 1)
  await c.nothingFor(200)
  const o = await tb.connect()
  await o.subscribe(topic, 1)
  assert.deepEqual(
    texts(await received(o)),
    ['retained'],
    'an ordinary subscription does get it [MQTT-3.3.1-6]',
  )
  p.publish(topic, 'live', { retain: true })
  const live = await received(c)
  assert.deepEqual(texts(live), ['live'])
  assert.equal(live[0]!.retain, false, 'forwarded with RETAIN 0 [MQTT-3.3.1-9]')
})

test('$share/g/# does not receive $SYS topics [MQTT-4.7.2-1]', async (t) => {
  const tb = await startBroker({}, t)
  const c = await tb.connect()
  await c.subscribe('$share/g/#', 0)
  tb.broker.publish({ topic: '$SYS/test', payload: 'sys' })
  tb.broker.publish({ topic: 'not/sys', payload: 'ordinary' })
  assert.deepEqual(texts(await received(c)), ['ordinary'])
})

test('keeps a client’s shared and ordinary subscriptions apart: one copy from each, and unsubscribing one leaves the other (CVE-2024-8376)', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('apart')
  const c = await tb.connect()
  assert.deepEqual((await c.subscribe(topic, 1)).granted, [1])
  assert.deepEqual((await c.subscribe(`$share/g/${topic}`, 0)).granted, [0])
  assert.equal(tb.broker.subscriptionCount, 2)
  const p = await tb.connect()
  p.publish(topic, 'both', { qos: 1 })
  const both = await received(c)
  assert.deepEqual(both.map((x) => [x.payload.toString(), x.qos]).sort(), [
    ['both', 0],
    ['both', 1],
  ])
  // unsubscribing the shared one leaves the ordinary one
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 50, topics: [`$share/g/${topic}`] })
  await c.next(PacketType.UNSUBACK)
  p.publish(topic, 'ordinary only', { qos: 1 })
  assert.deepEqual(
    (await received(c)).map((x) => [x.payload.toString(), x.qos]),
    [['ordinary only', 1]],
  )
  // and the reverse
  await c.subscribe(`$share/g/${topic}`, 0)
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 51, topics: [topic] })
  await c.next(PacketType.UNSUBACK)
  p.publish(topic, 'shared only', { qos: 1 })
  assert.deepEqual(
    (await received(c)).map((x) => [x.payload.toString(), x.qos]),
    [['shared only', 0]],
  )
  assert.equal(tb.broker.subscriptionCount, 1)
  // unsubscribing a filter the client does not hold changes nothing
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 52, topics: [topic, `$share/h/${topic}`] })
  await c.next(PacketType.UNSUBACK)
  assert.equal(tb.broker.subscriptionCount, 1)
})

test('a member that leaves has its unacknowledged QoS 1 messages, in flight and queued, sent to another member [MQTT-4.8.2]', async (t) => {
  const tb = await startBroker({ maxInflight: 1 }, t)
  const topic = uniqueId('handover')
  const a = await tb.connect()
  const b = await tb.connect()
  await a.subscribe(`$share/g/${topic}`, 1)
  await b.subscribe(`$share/g/${topic}`, 1)
  const p = await tb.connect()
  for (let i = 0; i < 4; i++) p.publish(topic, `m${i}`, { qos: 1 })
  // a takes one message and leaves without acknowledging it; a second waits in its queue
  const first = await a.next(PacketType.PUBLISH)
  await delay(100)
  a.destroy()
  const atB = texts(await received(b, 300))
  assert.deepEqual(
    [...atB].sort(),
    ['m0', 'm1', 'm2', 'm3'],
    `every message reaches b once (a had ${first.payload.toString()})`,
  )
})

test('a member with a persistent session hands its unacknowledged QoS 1 messages over when its connection ends [MQTT-4.8.2]', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('persistent-handover')
  const id = uniqueId('persistent')
  let a = await tb.connect({ clientId: id, clean: false })
  const b = await tb.connect()
  await a.subscribe(`$share/g/${topic}`, 1)
  await b.subscribe(`$share/g/${topic}`, 1)
  const p = await tb.connect()
  p.publish(topic, 'to a first', { qos: 1 })
  assert.equal((await a.next(PacketType.PUBLISH)).payload.toString(), 'to a first')
  a.destroy() // no PUBACK
  assert.deepEqual(texts(await received(b)), ['to a first'])
  // it is b's now: a's session, resumed, does not get it again
  a = await tb.connect({ clientId: id, clean: false })
  assert.equal(a.connack!.sessionPresent, true)
  await a.nothingFor(200)
})

test('an offline persistent member is passed over while another is online; its QoS 2 in flight stays with it [MQTT-4.8.2-4]', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('offline')
  const id = uniqueId('persistent')
  let a = await tb.connect({ clientId: id, clean: false })
  const b = await tb.connect()
  await a.subscribe(`$share/g/${topic}`, 2)
  await b.subscribe(`$share/g/${topic}`, 2)
  const p = await tb.connect()
  // a gets a QoS 2 message and leaves before its PUBREC
  let inflight: PublishPacket | null = null
  p.publish(topic, 'q2', { qos: 2 })
  const [fa, fb] = await Promise.all([received(a, 200, false), received(b)])
  if (fa.length === 1) inflight = fa[0]!
  else assert.deepEqual(texts(fb), ['q2'])
  a.destroy()
  await delay(100)
  for (let i = 0; i < 3; i++) p.publish(topic, `later${i}`, { qos: 1 })
  const atB = texts(await received(b))
  assert.deepEqual(atB, ['later0', 'later1', 'later2'], 'all to the member online')
  // a returns: its QoS 2 flow is completed with it, not sent to b
  a = await tb.connect({ clientId: id, clean: false })
  assert.equal(a.connack!.sessionPresent, true)
  if (inflight !== null) {
    const again = await a.next(PacketType.PUBLISH)
    assert.deepEqual([again.payload.toString(), again.dup, again.packetId], ['q2', true, inflight.packetId])
  }
  await a.nothingFor(200)
  await b.nothingFor(0)
})

test('shared subscriptions of a persistent session survive a broker restart on the same store', async (t) => {
  const store = new MemoryStore()
  const topic = uniqueId('restart')
  const id = uniqueId('member')
  {
    const tb = await startBroker({ store }, t)
    const c = await tb.connect({ clientId: id, clean: false })
    await c.subscribe(`$share/g/${topic}`, 1)
    await c.subscribe(topic, 0)
    await c.disconnect()
    await tb.broker.close()
  }
  const tb = await startBroker({ store }, t)
  assert.equal(tb.broker.subscriptionCount, 2)
  const p = await tb.connect()
  p.publish(topic, 'queued', { qos: 1 })
  await p.next(PacketType.PUBACK)
  const c = await tb.connect({ clientId: id, clean: false })
  assert.equal(c.connack!.sessionPresent, true)
  // the shared QoS 1 copy was queued; the ordinary QoS 0 one was not
  assert.deepEqual(
    (await received(c)).map((x) => [x.payload.toString(), x.qos]),
    [['queued', 1]],
  )
  p.publish(topic, 'live', { qos: 1 })
  assert.deepEqual((await received(c)).map((x) => [x.payload.toString(), x.qos]).sort(), [
    ['live', 0],
    ['live', 1],
  ])
})
