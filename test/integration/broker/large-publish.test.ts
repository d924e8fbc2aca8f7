/**
 * A large PUBLISH (gathered from many reads into memory of its own) goes out without the broker
 * copying its payload: its own bytes are stamped into the QoS 1/2 copies. What a user sees must
 * not change: each subscriber gets the exact message at its own QoS with its own packet id, DUP 0
 * on first delivery and DUP 1 on redelivery, and the retained copy stays intact for later ones.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

function bigPayload(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed) & 0xff
  return b
}

test('a 700 KB QoS 2 retained PUBLISH reaches QoS 1, QoS 2, QoS 0 and MQTT 5 subscribers exact, each with its own id [MQTT-3.3.1-3] [MQTT-3.8.4-6] [MQTT-3.3.1-9]', async () => {
  const topic = `large/${uniqueId()}`
  const payload = bigPayload(700_000, 3)
  const s1 = await tb.connect()
  await s1.subscribe(topic, 1)
  const s2 = await tb.connect()
  await s2.subscribe(topic, 2)
  const s0 = await tb.connect()
  await s0.subscribe(topic, 0)
  const s5 = await tb.connect({ protocolVersion: 5 })
  await s5.subscribe(topic, 1)
  const pub = await tb.connect()
  // sent in small pieces, so the broker gathers it from many reads
  const bytes = encode({
    type: PacketType.PUBLISH,
    topic,
    payload,
    qos: 2,
    retain: true,
    dup: false,
    packetId: 77,
  })
  for (let i = 0; i < bytes.length; i += 16_384) pub.sendRaw(bytes.subarray(i, i + 16_384))
  await pub.next(PacketType.PUBREC)
  const [m1, m2, m0, m5] = await Promise.all([
    s1.next(PacketType.PUBLISH, 5000),
    s2.next(PacketType.PUBLISH, 5000),
    s0.next(PacketType.PUBLISH, 5000),
    s5.next(PacketType.PUBLISH, 5000),
  ])
  for (const [m, qos] of [
    [m1, 1],
    [m2, 2],
    [m0, 0],
    [m5, 1],
  ] as const) {
    assert.equal(m.topic, topic)
    assert.equal(m.qos, qos)
    assert.equal(m.dup, false)
    assert.equal(m.retain, false, 'RETAIN 0 to existing subscribers [MQTT-3.3.1-9]')
    assert.ok(m.payload.equals(payload))
  }
  assert.equal(
    s1.raw(m1).subarray(1).equals(s2.raw(m2).subarray(1)),
    m1.packetId === m2.packetId,
    'the copies differ in their packet ids, nothing else',
  )
  // a later subscriber gets the retained copy, intact, with RETAIN 1 [MQTT-3.3.1-6]
  const late = await tb.connect()
  await late.subscribe(topic, 2)
  const r = await late.next(PacketType.PUBLISH, 5000)
  assert.equal(r.retain, true)
  assert.equal(r.qos, 2)
  assert.ok(r.payload.equals(payload))
})

test('a large QoS 1 message not acknowledged is re-sent with DUP 1 on reconnect; copies to others keep DUP 0 [MQTT-4.4.0-1] [MQTT-3.3.1-1]', async () => {
  const topic = `large/${uniqueId()}`
  const payload = bigPayload(300_000, 9)
  const idA = `a-${uniqueId()}`
  const a = await tb.connect({ clientId: idA, clean: false })
  await a.subscribe(topic, 1)
  const b = await tb.connect()
  await b.subscribe(topic, 1)
  const pub = await tb.connect()
  const bytes = encode({
    type: PacketType.PUBLISH,
    topic,
    payload,
    qos: 1,
    retain: false,
    dup: false,
    packetId: 9,
  })
  for (let i = 0; i < bytes.length; i += 10_000) pub.sendRaw(bytes.subarray(i, i + 10_000))
  await pub.next(PacketType.PUBACK)
  const first = await a.next(PacketType.PUBLISH, 5000)
  assert.equal(first.dup, false)
  a.destroy() // not acknowledged
  const again = await tb.connect({ clientId: idA, clean: false })
  const resent = await again.next(PacketType.PUBLISH, 5000)
  assert.equal(resent.dup, true, 'redelivery has DUP 1 [MQTT-3.3.1-1]')
  assert.equal(resent.packetId, first.packetId, 'with the same packet id [MQTT-4.4.0-1]')
  assert.ok(resent.payload.equals(payload))
  again.send({ type: PacketType.PUBACK, packetId: resent.packetId })
  const other = await b.next(PacketType.PUBLISH, 5000)
  assert.equal(other.dup, false)
  assert.ok(other.payload.equals(payload))
  b.send({ type: PacketType.PUBACK, packetId: other.packetId })
})
