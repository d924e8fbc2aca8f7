/**
 * PUBLISH and the QoS 0/1/2 flows in both directions, on the wire: packet ids,
 * acknowledgements, DUP, the delivered QoS, exactly-once and ordering.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encode, PacketType, type PublishPacket, type QoS } from '../../../src/protocol/index.js'
import { hex, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

async function pair(qos: QoS = 2): Promise<{ pub: RawClient; sub: RawClient; topic: string }> {
  const topic = `pub/${uniqueId()}`
  const sub = await tb.connect()
  await sub.subscribe(topic, qos)
  const pub = await tb.connect()
  return { pub, sub, topic }
}

test('delivers QoS 0 as QoS 0 with DUP 0 and no packet id [MQTT-4.3.1-1] [MQTT-2.3.1-5] [MQTT-3.3.1-2]', async () => {
  const { pub, sub, topic } = await pair(2)
  pub.publish(topic, 'hello')
  const m = await sub.next(PacketType.PUBLISH)
  const expected = encode({
    type: PacketType.PUBLISH,
    topic,
    payload: Buffer.from('hello'),
    qos: 0,
    retain: false,
    dup: false,
    packetId: 0,
  })
  assert.deepEqual(sub.raw(m), expected)
})

test('answers a QoS 1 PUBLISH with PUBACK carrying its packet id [MQTT-4.3.2-2] [MQTT-2.3.1-6] [MQTT-3.3.4-1]', async () => {
  const { pub, sub, topic } = await pair()
  pub.publish(topic, 'one', { qos: 1, packetId: 0x1234 })
  const ack = await pub.next(PacketType.PUBACK)
  assert.deepEqual(pub.raw(ack), hex('40 02 12 34'))
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.qos, 1)
  assert.equal(m.dup, false, 'first delivery has DUP 0 [MQTT-4.3.2-1]')
  assert.ok(m.packetId >= 1 && m.packetId <= 65535)
  sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
})

test('treats a QoS 1 PUBLISH re-sent with the same id after PUBACK as a new publication [MQTT-4.3.2-2]', async () => {
  const { pub, sub, topic } = await pair(1)
  pub.publish(topic, 'a', { qos: 1, packetId: 5 })
  await pub.next(PacketType.PUBACK)
  pub.publish(topic, 'a', { qos: 1, packetId: 5, dup: true })
  await pub.next(PacketType.PUBACK)
  const first = await sub.next(PacketType.PUBLISH)
  const second = await sub.next(PacketType.PUBLISH)
  assert.equal(first.payload.toString(), 'a')
  assert.equal(second.payload.toString(), 'a')
})

test('receives QoS 2 exactly once: PUBREC, re-sends before PUBREL acknowledged but not passed on, PUBREL answered PUBCOMP [MQTT-4.3.3-2]', async () => {
  const { pub, sub, topic } = await pair(2)
  pub.publish(topic, 'exactly once', { qos: 2, packetId: 77 })
  const rec = await pub.next(PacketType.PUBREC)
  assert.deepEqual(pub.raw(rec), hex('50 02 00 4d'))
  // re-sends (with and without DUP) before PUBREL: PUBREC again, no new delivery
  pub.publish(topic, 'exactly once', { qos: 2, packetId: 77, dup: true })
  assert.equal((await pub.next(PacketType.PUBREC)).packetId, 77)
  pub.publish(topic, 'exactly once', { qos: 2, packetId: 77 })
  assert.equal((await pub.next(PacketType.PUBREC)).packetId, 77)
  pub.sendRaw('62 02 00 4d') // PUBREL
  const comp = await pub.next(PacketType.PUBCOMP)
  assert.deepEqual(pub.raw(comp), hex('70 02 00 4d'))
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.payload.toString(), 'exactly once')
  assert.equal(m.qos, 2)
  sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
  await sub.next(PacketType.PUBREL)
  sub.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
  await sub.nothingFor(100)
  // after PUBCOMP the same id starts a new publication
  pub.publish(topic, 'again', { qos: 2, packetId: 77 })
  await pub.next(PacketType.PUBREC)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'again')
})

test('answers PUBREL for an unknown packet id with PUBCOMP [MQTT-4.3.3-2]', async () => {
  const c = await tb.connect()
  c.sendRaw('62 02 01 00')
  const comp = await c.next(PacketType.PUBCOMP)
  assert.deepEqual(c.raw(comp), hex('70 02 01 00'))
})

test('sends QoS 2 to a subscriber: PUBLISH DUP 0, PUBREL with the same id after PUBREC, no PUBLISH re-sent after PUBREL [MQTT-4.3.3-1] [MQTT-3.6.1-1]', async () => {
  const { pub, sub, topic } = await pair(2)
  pub.publish(topic, 'q2', { qos: 2 })
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.qos, 2)
  assert.equal(m.dup, false)
  assert.equal(sub.raw(m)[0], 0x34)
  sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
  const rel = await sub.next(PacketType.PUBREL)
  assert.deepEqual(sub.raw(rel), Buffer.from([0x62, 2, m.packetId >> 8, m.packetId & 0xff]))
  // a repeated PUBREC gets the PUBREL again, never the PUBLISH
  sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
  assert.equal((await sub.next(PacketType.PUBREL)).packetId, m.packetId)
  sub.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
  await sub.nothingFor(100)
})

test('delivers at the minimum of the published QoS and the granted QoS [MQTT-3.8.4-6]', async () => {
  for (const granted of [0, 1, 2] as const) {
    const topic = `pub/min/${granted}/${uniqueId()}`
    const sub = await tb.connect()
    assert.deepEqual((await sub.subscribe(topic, granted)).granted, [granted])
    const pub = await tb.connect()
    for (const published of [0, 1, 2] as const) {
      pub.publish(topic, `p${published}`, { qos: published })
      const m = await sub.next(PacketType.PUBLISH)
      assert.equal(m.payload.toString(), `p${published}`)
      assert.equal(m.qos, Math.min(published, granted), `published ${published}, granted ${granted}`)
      assert.equal(
        m.packetId === 0,
        m.qos === 0,
        'a packet id exactly when QoS > 0 [MQTT-2.3.1-1] [MQTT-2.3.1-5]',
      )
      if (m.qos === 1) sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
      if (m.qos === 2) {
        sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
        await sub.next(PacketType.PUBREL)
        sub.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
      }
    }
  }
})

test('does not pass the incoming DUP flag on to subscribers [MQTT-3.3.1-3]', async () => {
  const { pub, sub, topic } = await pair(1)
  pub.publish(topic, 'dup', { qos: 1, dup: true })
  await pub.next(PacketType.PUBACK)
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.dup, false)
})

test('uses a different packet id for each unacknowledged PUBLISH it sends [MQTT-2.3.1-2] [MQTT-2.3.1-4]', async () => {
  const { pub, sub, topic } = await pair(2)
  for (let i = 0; i < 20; i++) pub.publish(topic, String(i), { qos: (1 + (i % 2)) as QoS })
  const ids = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.payload.toString(), String(i))
    assert.ok(m.packetId > 0)
    ids.add(m.packetId)
  }
  assert.equal(ids.size, 20)
})

test('sends the topic name as published, also to wildcard subscribers [MQTT-3.3.2-3]', async () => {
  const sub = await tb.connect()
  await sub.subscribe('pubname/+/x/#', 0)
  const pub = await tb.connect()
  pub.publish('pubname/é/x/y/z', 'n')
  assert.equal((await sub.next(PacketType.PUBLISH)).topic, 'pubname/é/x/y/z')
})

test('delivers messages of one topic in the order they were published, per QoS [MQTT-4.6.0-5] [MQTT-4.6.0-6]', async () => {
  for (const qos of [0, 1, 2] as const) {
    const { pub, sub, topic } = await pair(qos)
    const n = 200
    for (let i = 0; i < n; i++) pub.publish(topic, String(i), { qos })
    for (let i = 0; i < n; ) {
      const m = await sub.next()
      if (m.type === PacketType.PUBREL) {
        sub.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
        continue
      }
      if (m.type !== PacketType.PUBLISH) assert.fail(`unexpected packet type ${m.type}`)
      assert.equal(m.payload.toString(), String(i), `QoS ${qos} message ${i}`)
      i++
      if (qos === 1) sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
      if (qos === 2) sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
    }
  }
})

test('sends PUBACKs and PUBRECs in the order the PUBLISHes arrived [MQTT-4.6.0-2] [MQTT-4.6.0-3]', async () => {
  const c = await tb.connect()
  const ids = [9, 3, 200, 1, 65535, 42]
  for (const id of ids) c.publish('pub/order/acks', 'x', { qos: (id % 2 === 0 ? 2 : 1) as QoS, packetId: id })
  for (const id of ids) {
    const ack = await c.next()
    assert.equal(ack.type, id % 2 === 0 ? PacketType.PUBREC : PacketType.PUBACK)
    assert.equal((ack as { packetId: number }).packetId, id)
  }
})

test('delivers a publication to its own publisher when it subscribes to the topic', async () => {
  const c = await tb.connect()
  await c.subscribe('pub/self', 1)
  c.publish('pub/self', 'me', { qos: 1 })
  const got: number[] = []
  for (let i = 0; i < 2; i++) got.push((await c.next()).type)
  assert.deepEqual(got.sort(), [PacketType.PUBLISH, PacketType.PUBACK].sort())
})

test('forwards large payloads intact, split across many TCP reads', async () => {
  const { pub, sub, topic } = await pair(1)
  const payload = Buffer.alloc(300_000)
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff
  pub.publish(topic, payload, { qos: 1 })
  await pub.next(PacketType.PUBACK, 3000)
  const m = await sub.next(PacketType.PUBLISH, 3000)
  assert.ok(m.payload.equals(payload))
})

test('accepts a PUBLISH sent one byte per write', async () => {
  const { pub, sub, topic } = await pair(0)
  const bytes = encode({
    type: PacketType.PUBLISH,
    topic,
    payload: Buffer.from('dribble'),
    qos: 1,
    retain: false,
    dup: false,
    packetId: 3,
  } satisfies PublishPacket)
  for (const b of bytes) {
    pub.sendRaw(Buffer.from([b]))
    await new Promise((r) => setImmediate(r))
  }
  await pub.next(PacketType.PUBACK)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'dribble')
})

test('delivers an empty payload', async () => {
  const { pub, sub, topic } = await pair(0)
  pub.publish(topic, '')
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.payload.length, 0)
})

test('carries topic names and filters up to 65535 bytes [MQTT-4.7.3-3]', async () => {
  const topic = `long/${'x'.repeat(65_535 - 5)}`
  const sub = await tb.connect()
  assert.deepEqual((await sub.subscribe(topic, 1)).granted, [1])
  const pub = await tb.connect()
  pub.publish(topic, 'far', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.topic, topic)
  assert.equal(m.payload.toString(), 'far')
})
