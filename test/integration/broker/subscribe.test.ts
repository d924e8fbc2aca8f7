/**
 * SUBSCRIBE / SUBACK, UNSUBSCRIBE / UNSUBACK and topic matching on the wire:
 * return codes in order, invalid filters, replacement, overlapping
 * subscriptions, wildcards and the '$' rule.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { hex, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

/** Payloads of the PUBLISHes that arrive within `ms` (QoS 1 acknowledged). */
/**
 * Payloads of the PUBLISHes that arrive: waits up to 2 s for the first (the machine
 * may be loaded), then collects until `quietMs` pass with nothing new.
 */
async function payloads(c: RawClient, quietMs = 150): Promise<string[]> {
  const out: string[] = []
  for (;;) {
    let p: PublishPacket
    try {
      p = await c.next(PacketType.PUBLISH, out.length === 0 ? 2000 : quietMs)
    } catch {
      return out
    }
    out.push(p.payload.toString())
    if (p.qos === 1) c.send({ type: PacketType.PUBACK, packetId: p.packetId })
  }
}

test('answers SUBSCRIBE with a SUBACK carrying its packet id and one return code per filter, in order [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-5] [MQTT-3.9.3-1]', async () => {
  const c = await tb.connect()
  c.send({
    type: PacketType.SUBSCRIBE,
    packetId: 0xbeef,
    subscriptions: [
      { topic: 'order/2', qos: 2 },
      { topic: 'order/0', qos: 0 },
      { topic: 'order/1', qos: 1 },
    ],
  })
  const ack = await c.next(PacketType.SUBACK)
  assert.deepEqual(c.raw(ack), hex('90 05 be ef 02 00 01'))
})

test('refuses invalid topic filters with 0x80 and grants the valid ones of the same SUBSCRIBE [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1] [MQTT-3.9.3-2]', async () => {
  const c = await tb.connect()
  const filters = ['ok/#', 'a/#/b', 'sport+', '#/a', 'a/b#', '+a/b', '', 'ok/+/x', 'a/+b']
  const expected = [1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 1, 0x80]
  const ack = await c.subscribe(filters.map((topic) => ({ topic, qos: 1 as const })))
  assert.deepEqual(ack.granted, expected)
  for (const g of ack.granted) assert.ok([0, 1, 2, 0x80].includes(g))
  const p = await tb.connect()
  p.publish('ok/1/x', 'valid', { qos: 1 })
  assert.deepEqual(await payloads(c), ['valid'], 'one copy: ok/# and ok/+/x overlap')
})

test('handles a SUBSCRIBE with many filters like a sequence of SUBSCRIBEs [MQTT-3.8.4-4]', async () => {
  const c = await tb.connect()
  const ack = await c.subscribe([
    { topic: 'multi/a', qos: 0 },
    { topic: 'multi/b', qos: 1 },
    { topic: 'multi/a', qos: 2 }, // the later one replaces the earlier
  ])
  assert.deepEqual(ack.granted, [0, 1, 2])
  const p = await tb.connect()
  p.publish('multi/a', 'a', { qos: 2 })
  const m = await c.next(PacketType.PUBLISH)
  assert.equal(m.qos, 2)
  assert.equal(tb.broker.subscriptionCount >= 2, true)
})

test('replaces a subscription with the same filter, with its new QoS [MQTT-3.8.4-3]', async () => {
  const topic = `resub/${uniqueId()}`
  const c = await tb.connect()
  const before = tb.broker.subscriptionCount
  await c.subscribe(topic, 2)
  await c.subscribe(topic, 0)
  assert.equal(tb.broker.subscriptionCount, before + 1)
  const p = await tb.connect()
  p.publish(topic, 'x', { qos: 2 })
  const m = await c.next(PacketType.PUBLISH)
  assert.equal(m.qos, 0)
  await c.nothingFor(100) // one copy only
  await c.subscribe(topic, 1)
  p.publish(topic, 'y', { qos: 2 })
  assert.equal((await c.next(PacketType.PUBLISH)).qos, 1)
})

test('sends one copy at the highest granted QoS when subscriptions overlap [MQTT-3.3.5-1]', async () => {
  const c = await tb.connect()
  await c.subscribe([
    { topic: 'ovl/#', qos: 0 },
    { topic: 'ovl/+/x', qos: 2 },
    { topic: 'ovl/a/x', qos: 1 },
  ])
  const p = await tb.connect()
  p.publish('ovl/a/x', 'once', { qos: 2 })
  const m = await c.next(PacketType.PUBLISH)
  assert.equal(m.qos, 2)
  c.send({ type: PacketType.PUBREC, packetId: m.packetId })
  await c.next(PacketType.PUBREL)
  c.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
  await c.nothingFor(100)
})

test('matches + to exactly one level and # to the parent and every level below [MQTT-4.7.1-2] [MQTT-4.7.1-3]', async (t) => {
  const fresh = await startBroker({}, t)
  const cases: [string, string[], string[]][] = [
    ['sport/tennis/+', ['sport/tennis/player1', 'sport/tennis/'], ['sport/tennis', 'sport/tennis/a/b']],
    ['sport/#', ['sport', 'sport/', 'sport/tennis', 'sport/tennis/a/b'], ['sports', 'other']],
    ['+/+', ['/finance', 'a/b', '/'], ['a', 'a/b/c']],
    ['/+', ['/finance'], ['a/b']],
    ['+', ['a', 'b'], ['/a', 'a/']],
    ['#', ['a', '/', 'a/b/c'], []],
    ['a//c', ['a//c'], ['a/b/c']],
    ['+/b/+', ['a/b/c', '/b/'], ['a/b', 'a/b/c/d']],
  ]
  for (const [filter, yes, no] of cases) {
    const c = await fresh.connect()
    await c.subscribe(filter, 0)
    const p = await fresh.connect()
    for (const topic of [...no, ...yes]) p.publish(topic, topic)
    const got = await payloads(c)
    assert.deepEqual(got, yes, filter)
    await c.disconnect()
    await p.disconnect()
  }
})

test('does not match topics starting with $ to filters starting with a wildcard [MQTT-4.7.2-1]', async (t) => {
  const fresh = await startBroker({}, t)
  const wild = await fresh.connect()
  await wild.subscribe([
    { topic: '#', qos: 0 },
    { topic: '+/monitor/Clients', qos: 0 },
    { topic: '+', qos: 0 },
  ])
  const dollar = await fresh.connect()
  await dollar.subscribe([
    { topic: '$SYS/#', qos: 0 },
    { topic: '$foo/+', qos: 0 },
  ])
  const p = await fresh.connect()
  p.publish('$foo/monitor/Clients', '1')
  p.publish('$foo', '2')
  p.publish('$foo/bar', '3')
  p.publish('plain', '4')
  assert.deepEqual(await payloads(wild), ['4'])
  assert.deepEqual(await payloads(dollar), ['3'])
})

test('matches topic names byte for byte, without normalising case, slashes or a leading U+FEFF [MQTT-4.7.3-4] [MQTT-1.5.3-3]', async () => {
  const c = await tb.connect()
  await c.subscribe([
    { topic: 'Case/Topic', qos: 0 },
    { topic: '\uFEFFbom', qos: 0 },
    { topic: 'trail/', qos: 0 },
  ])
  const p = await tb.connect()
  for (const topic of [
    'case/topic',
    'CASE/TOPIC',
    'Case/Topic',
    'bom',
    '\uFEFFbom',
    'trail',
    'trail/',
    '/trail/',
  ]) {
    p.publish(topic, topic)
  }
  assert.deepEqual(await payloads(c), ['Case/Topic', '\uFEFFbom', 'trail/'])
})

test('answers UNSUBSCRIBE with UNSUBACK carrying its packet id and stops sending [MQTT-3.10.4-2] [MQTT-3.10.4-4] [MQTT-2.3.1-7]', async () => {
  const topic = `unsub/${uniqueId()}`
  const c = await tb.connect()
  await c.subscribe(topic, 1)
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 0x0102, topics: [topic] })
  const ack = await c.next(PacketType.UNSUBACK)
  assert.deepEqual(c.raw(ack), hex('b0 02 01 02'))
  const p = await tb.connect()
  p.publish(topic, 'after', { qos: 1 })
  await p.next(PacketType.PUBACK)
  await c.nothingFor(100)
})

test('answers UNSUBACK even when no filter matched [MQTT-3.10.4-5]', async () => {
  const c = await tb.connect()
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 9, topics: ['never/subscribed', 'a/#'] })
  assert.equal((await c.next(PacketType.UNSUBACK)).packetId, 9)
})

test('removes only the filter equal byte for byte, not those it would match [MQTT-3.10.4-1]', async () => {
  const c = await tb.connect()
  await c.subscribe([
    { topic: 'ub/x', qos: 0 },
    { topic: 'ub/+', qos: 0 },
  ])
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 2, topics: ['ub/#', 'UB/x'] })
  await c.next(PacketType.UNSUBACK)
  const p = await tb.connect()
  p.publish('ub/x', 'still')
  assert.deepEqual(await payloads(c), ['still'])
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 3, topics: ['ub/+'] })
  await c.next(PacketType.UNSUBACK)
  p.publish('ub/x', 'exact filter left')
  p.publish('ub/y', 'no filter left')
  assert.deepEqual(await payloads(c), ['exact filter left'])
})

test('handles an UNSUBSCRIBE with many filters like a sequence, with one UNSUBACK [MQTT-3.10.4-6]', async () => {
  const c = await tb.connect()
  await c.subscribe([
    { topic: 'um/a', qos: 0 },
    { topic: 'um/b', qos: 0 },
    { topic: 'um/c', qos: 0 },
  ])
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 4, topics: ['um/a', 'um/c', 'um/zzz'] })
  assert.equal((await c.next(PacketType.UNSUBACK)).packetId, 4)
  await c.nothingFor(30)
  const p = await tb.connect()
  for (const t of ['um/a', 'um/b', 'um/c']) p.publish(t, t)
  assert.deepEqual(await payloads(c), ['um/b'])
})

test('completes a QoS 2 delivery already started when the client unsubscribes [MQTT-3.10.4-3]', async () => {
  const topic = `unsub/${uniqueId()}`
  const c = await tb.connect()
  await c.subscribe(topic, 2)
  const p = await tb.connect()
  p.publish(topic, 'in flight', { qos: 2 })
  const m = await c.next(PacketType.PUBLISH)
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 5, topics: [topic] })
  await c.next(PacketType.UNSUBACK)
  c.send({ type: PacketType.PUBREC, packetId: m.packetId })
  assert.equal((await c.next(PacketType.PUBREL)).packetId, m.packetId)
  c.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
})

test('refuses the filter test/nosubscribe via authorizeSubscribe with 0x80 and keeps the others (Paho subscribe failure test)', async (t) => {
  const b = await startBroker({ authorizeSubscribe: (_c, filter) => filter !== 'test/nosubscribe' }, t)
  const c = await b.connect()
  const ack = await c.subscribe([
    { topic: 'test/nosubscribe', qos: 2 },
    { topic: 'test/ok', qos: 2 },
  ])
  assert.deepEqual(ack.granted, [0x80, 2])
  const p = await b.connect()
  p.publish('test/nosubscribe', 'no')
  p.publish('test/ok', 'yes')
  assert.deepEqual(await payloads(c), ['yes'])
})
