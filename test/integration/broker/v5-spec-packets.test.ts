/**
 * MQTT 5 data representation and packet format (sections 1 and 2) and topic names and
 * filters (4.7), checked on the broker over TCP: what it refuses, and the exact bytes
 * it sends.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Packet, PacketType, type QoS, ReasonCode } from '../../../src/protocol/index.js'
import { type ConnectOptions, hex, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()
const v5 = (o: ConnectOptions = {}): Promise<RawClient> => tb.connect({ protocolVersion: 5, ...o })

async function subscriber(filter: string, qos: QoS = 0): Promise<RawClient> {
  const sub = await v5()
  await sub.subscribe(filter, qos)
  return sub
}

/** The broker answers with DISCONNECT of this reason code (or, given a predicate, one it accepts), then closes. */
async function refused(c: RawClient, code: number | ((rc: number) => boolean)): Promise<number> {
  const d = await c.next(PacketType.DISCONNECT)
  const rc = d.reasonCode ?? 0
  if (typeof code === 'number') assert.equal(rc, code)
  else assert.ok(code(rc), `reason code 0x${rc.toString(16)}`)
  await c.closed()
  return rc
}

const isPublish = (p: Packet): boolean => p.type === PacketType.PUBLISH

test('a topic name with an encoded surrogate (U+D800) is a Malformed Packet: DISCONNECT 0x81 [MQTT-1.5.4-1] [MQTT-3.3.2-1]', async () => {
  const c = await v5()
  c.sendRaw('30 07 00 04 61 ed a0 80 00')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('a topic name holding U+0000 is refused with DISCONNECT 0x81 [MQTT-1.5.4-2] [MQTT-4.7.3-2]', async () => {
  const c = await v5()
  c.sendRaw('30 05 00 02 61 00 00')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('a topic filter holding U+0000 is refused [MQTT-4.7.3-2]', async () => {
  const c = await v5()
  // SUBSCRIBE id 1, no properties, filter "a\0", options 0
  c.sendRaw('82 08 00 01 00 00 02 61 00 00')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('a zero width no-break space (EF BB BF) in a topic is kept, not stripped: it matches only itself [MQTT-1.5.4-3] [MQTT-4.7.3-4]', async () => {
  const bom = '\uFEFF'
  const topic = `${bom}bom/${uniqueId()}`
  const sub = await subscriber(topic)
  const plain = await subscriber(topic.slice(1))
  const pub = await v5()
  pub.publish(topic, 'x')
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.topic, topic)
  assert.ok(sub.raw(m).includes(hex('ef bb bf')), 'the bytes EF BB BF are on the wire')
  await plain.nothingFor(150)
})

test('the broker encodes the Remaining Length in the fewest bytes: 1 byte up to 127, 2 from 128 [MQTT-1.5.5-1]', async () => {
  const topic = `vbi/${uniqueId()}`
  const sub = await subscriber(topic)
  const pub = await v5()
  // v5 QoS 0 PUBLISH: 2 + topic + 1 (property length) + payload
  const overhead = 2 + Buffer.byteLength(topic) + 1
  for (const remaining of [127, 128, 16_383, 16_384]) {
    pub.publish(topic, Buffer.alloc(remaining - overhead, 0x61))
    const raw = sub.raw(await sub.next(PacketType.PUBLISH))
    const width = remaining < 128 ? 1 : remaining < 16_384 ? 2 : 3
    assert.equal(raw.length, 1 + width + remaining, `remaining ${remaining} in ${width} byte(s)`)
    assert.equal(raw[width]! & 0x80, 0, 'the last length byte has no continuation bit')
  }
})

test('a user property whose name is not UTF-8 is a Malformed Packet [MQTT-1.5.7-1]', async () => {
  const c = await v5()
  // PUBLISH "a", properties: user property (0x26) name FF, value "a"
  c.sendRaw('30 0b 00 01 61 07 26 00 01 ff 00 01 61')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('a user property whose value holds U+0000 is a Malformed Packet [MQTT-1.5.7-1]', async () => {
  const c = await v5()
  c.sendRaw('30 0b 00 01 61 07 26 00 01 61 00 01 00')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('reserved fixed-header flags: SUBSCRIBE with flags 0000 is refused; the broker sends PUBREL with 0010 [MQTT-2.1.3-1]', async () => {
  const c = await v5()
  c.sendRaw('80 07 00 01 00 00 01 61 00')
  await refused(c, ReasonCode.MALFORMED_PACKET)

  const topic = `flags/${uniqueId()}`
  const sub = await subscriber(topic, 2)
  const pub = await v5()
  pub.publish(topic, 'q2', { qos: 2 })
  await pub.next(PacketType.PUBREC)
  const m = await sub.next(PacketType.PUBLISH)
  sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
  const rel = await sub.next(PacketType.PUBREL)
  assert.equal(sub.raw(rel)[0], 0x62)
})

test('a QoS 0 PUBLISH from the broker carries no Packet Identifier; no properties is a Property Length of 0 [MQTT-2.2.1-2] [MQTT-2.2.2-1]', async () => {
  const topic = `q0/${uniqueId()}`
  const sub = await subscriber(topic)
  const pub = await v5()
  pub.publish(topic, 'zz')
  const m = await sub.next(PacketType.PUBLISH)
  const t = Buffer.byteLength(topic)
  // 30, remaining, topic length (2), topic, property length 0, payload: nothing else
  assert.deepEqual(
    sub.raw(m),
    Buffer.concat([
      hex('30'),
      Buffer.from([2 + t + 1 + 2, 0, t]),
      Buffer.from(topic),
      hex('00'),
      Buffer.from('zz'),
    ]),
  )
})

test('the broker numbers its QoS 1 PUBLISHes with distinct non-zero ids while they are unacknowledged [MQTT-2.2.1-4]', async () => {
  const topic = `ids/${uniqueId()}`
  const sub = await subscriber(topic, 1)
  const pub = await v5()
  for (let i = 0; i < 20; i++) pub.publish(topic, String(i), { qos: 1 })
  const ids = new Set<number>()
  for (let i = 0; i < 20; i++) {
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.payload.toString(), String(i))
    assert.ok(m.packetId > 0)
    ids.add(m.packetId)
  }
  assert.equal(ids.size, 20)
})

test('PUBACK, PUBREC and PUBCOMP from the broker carry the id of the PUBLISH or PUBREL they answer [MQTT-2.2.1-5]', async () => {
  const c = await v5()
  c.publish('ids/ack', 'a', { qos: 1, packetId: 4242 })
  assert.equal((await c.next(PacketType.PUBACK)).packetId, 4242)
  c.publish('ids/ack', 'b', { qos: 2, packetId: 777 })
  assert.equal((await c.next(PacketType.PUBREC)).packetId, 777)
  c.send({ type: PacketType.PUBREL, packetId: 777 })
  assert.equal((await c.next(PacketType.PUBCOMP)).packetId, 777)
})

test('SUBACK and UNSUBACK carry the id of their SUBSCRIBE and UNSUBSCRIBE [MQTT-2.2.1-6]', async () => {
  const c = await v5()
  c.send({ type: PacketType.SUBSCRIBE, packetId: 513, subscriptions: [{ topic: 'ids/s', qos: 0 }] })
  assert.equal((await c.next(PacketType.SUBACK)).packetId, 513)
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 1027, topics: ['ids/s'] })
  assert.equal((await c.next(PacketType.UNSUBACK)).packetId, 1027)
})

test('a topic name with a wildcard is refused; the message reaches nobody [MQTT-3.3.2-2] [MQTT-4.7.0-1]', async () => {
  const sub = await subscriber('#')
  for (const topic of ['wild/+', 'wild/#']) {
    const c = await v5()
    c.publish(topic, 'x')
    await refused(c, (rc) => rc >= 0x80)
  }
  await sub.nothingFor(150)
})

test("'#' not last, or not after '/', and '+' not filling a level are refused as Topic Filter invalid [MQTT-4.7.1-1] [MQTT-4.7.1-2]", async () => {
  const c = await v5()
  for (const bad of ['a/#/b', 'a#', 'a/b+', '+a/b']) {
    const ack = await c.subscribe(bad, 0)
    assert.deepEqual(ack.granted, [ReasonCode.TOPIC_FILTER_INVALID], bad)
  }
  for (const good of ['#', 'a/#', '+', '+/b/+', '/+']) {
    const ack = await c.subscribe(good, 1)
    assert.deepEqual(ack.granted, [1], good)
  }
})

test('an empty topic filter is refused; an empty topic name without a Topic Alias is a Protocol Error [MQTT-4.7.3-1]', async () => {
  const c = await v5()
  const ack = await c.subscribe('', 0)
  assert.ok(ack.granted[0]! >= 0x80)
  c.sendRaw('30 03 00 00 00') // PUBLISH, topic "", no properties
  await refused(c, ReasonCode.PROTOCOL_ERROR)
})

test('a topic of 65,535 bytes is delivered whole [MQTT-4.7.3-3]', async () => {
  const big = await startBroker({ maxPacketSize: 1 << 20, maxTopicLevels: 1 << 16 })
  const topic = `${'t'.repeat(65_535 - 2)}/x`
  const sub = await big.connect({ protocolVersion: 5 })
  await sub.subscribe(topic, 0)
  const pub = await big.connect({ protocolVersion: 5 })
  pub.publish(topic, 'long')
  const m = await sub.until(isPublish, 2000)
  assert.equal((m as { topic: string }).topic.length, 65_535)
})

test('matching does not normalize: a precomposed é and e + combining accent are different topics [MQTT-4.7.3-4]', async () => {
  const id = uniqueId()
  const sub = await subscriber(`caf\u00e9/${id}`)
  const pub = await v5()
  pub.publish(`cafe\u0301/${id}`, 'decomposed')
  await sub.nothingFor(150)
  pub.publish(`caf\u00e9/${id}`, 'precomposed')
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'precomposed')
})
