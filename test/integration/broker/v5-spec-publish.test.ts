/**
 * MQTT 5 PUBLISH and its acknowledgements (sections 3.3 to 3.7) on the broker,
 * statement by statement: flags, retained messages, property validation, the answer
 * to each QoS, subscription identifiers per copy, flow control, and the reason codes
 * and sizes of PUBACK, PUBREC, PUBREL and PUBCOMP.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Packet, PacketType, type QoS, ReasonCode } from '../../../src/protocol/index.js'
import { type ConnectOptions, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker({ authorizePublish: (_c, topic) => !topic.startsWith('forbidden/') })
const v5 = (o: ConnectOptions = {}): Promise<RawClient> => tb.connect({ protocolVersion: 5, ...o })

async function subscriber(filter: string, qos: QoS = 0, o: ConnectOptions = {}): Promise<RawClient> {
  const sub = await v5(o)
  await sub.subscribe(filter, qos)
  return sub
}

async function refused(c: RawClient, code: number): Promise<void> {
  const d = await c.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, code)
  await c.closed()
}

test('DUP is 0 on QoS 0 deliveries and on first deliveries, whatever the publisher sent [MQTT-3.3.1-2] [MQTT-3.3.1-3] [MQTT-4.3.1-1]', async () => {
  const topic = `dup/${uniqueId()}`
  const s0 = await subscriber(topic, 0)
  const s1 = await subscriber(topic, 1)
  const pub = await v5()
  pub.publish(topic, 'again', { qos: 1, dup: true })
  await pub.next(PacketType.PUBACK)
  const m0 = await s0.next(PacketType.PUBLISH)
  assert.deepEqual([m0.qos, m0.dup, s0.raw(m0)[0]], [0, false, 0x30])
  const m1 = await s1.next(PacketType.PUBLISH)
  assert.deepEqual([m1.qos, m1.dup, s1.raw(m1)[0]], [1, false, 0x32])
})

test('RETAIN 1 replaces the retained message; RETAIN 0 leaves it; an empty retained payload removes it and is not stored [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7] [MQTT-3.3.1-8]', async () => {
  const topic = `ret/${uniqueId()}`
  const pub = await v5()
  const retained = async (): Promise<string | null> => {
    const s = await v5()
    await s.subscribe(topic, 0)
    const m = await s.next(PacketType.PUBLISH, 200).catch(() => null)
    await s.disconnect()
    return m === null ? null : m.payload.toString()
  }
  pub.publish(topic, 'one', { retain: true })
  pub.publish(topic, 'two', { retain: true })
  assert.equal(await retained(), 'two')
  pub.publish(topic, 'live', { retain: false })
  assert.equal(await retained(), 'two')
  pub.publish(topic, '', { retain: true })
  assert.equal(await retained(), null)
})

test('the topic of a delivery matches the subscription filter it was delivered for [MQTT-3.3.2-3]', async () => {
  const base = `match/${uniqueId()}`
  const sub = await subscriber(`${base}/+/x`)
  const pub = await v5()
  pub.publish(`${base}/a/y`, 'no')
  pub.publish(`${base}/a/x`, 'yes')
  const m = await sub.next(PacketType.PUBLISH)
  assert.deepEqual([m.topic, m.payload.toString()], [`${base}/a/x`, 'yes'])
  await sub.nothingFor(100)
})

test('a Response Topic or Content Type that is not UTF-8 is a Malformed Packet [MQTT-3.3.2-13] [MQTT-3.3.2-19]', async () => {
  for (const id of ['08', '03']) {
    const c = await v5()
    c.sendRaw(`30 08 00 01 61 04 ${id} 00 01 ff`)
    await refused(c, ReasonCode.MALFORMED_PACKET)
  }
})

test('a Response Topic with a wildcard is refused and not forwarded [MQTT-3.3.2-14]', async () => {
  const topic = `resp/${uniqueId()}`
  const sub = await subscriber(topic)
  for (const responseTopic of ['r/+', 'r/#']) {
    const c = await v5()
    c.publish(topic, 'x', { properties: { responseTopic } })
    const d = await c.next(PacketType.DISCONNECT)
    assert.ok((d.reasonCode ?? 0) >= 0x80)
    await c.closed()
  }
  await sub.nothingFor(150)
})

test('the answer depends on the QoS: nothing for 0, PUBACK for 1, PUBREC for 2 [MQTT-3.3.4-1]', async () => {
  const c = await v5()
  c.publish('answer/q', 'x', { qos: 0 })
  await c.nothingFor(100)
  const id1 = c.publish('answer/q', 'x', { qos: 1 })
  assert.deepEqual([(await c.next()).type, id1 > 0], [PacketType.PUBACK, true])
  c.publish('answer/q', 'x', { qos: 2 })
  assert.equal((await c.next()).type, PacketType.PUBREC)
})

test('one copy per subscription: a shared and a non-shared subscription each carry their own identifier [MQTT-3.3.4-5]', async () => {
  const topic = `subid/${uniqueId()}`
  const c = await v5()
  await c.subscribe(topic, 0, undefined, { subscriptionIdentifier: 7 })
  await c.subscribe(`$share/g/${topic}`, 0, undefined, { subscriptionIdentifier: 9 })
  const pub = await v5()
  pub.publish(topic, 'x')
  const a = await c.next(PacketType.PUBLISH)
  const b = await c.next(PacketType.PUBLISH)
  const ids = [a.properties?.subscriptionIdentifiers, b.properties?.subscriptionIdentifiers]
  assert.deepEqual(ids.map((x) => x?.join(',')).sort(), ['7', '9'])
})

test("with the client's Receive Maximum used up, SUBACK, UNSUBACK and PINGRESP still come at once [MQTT-3.3.4-10]", async () => {
  const topic = `quota/${uniqueId()}`
  const sub = await subscriber(topic, 1, { properties: { receiveMaximum: 1 } })
  const pub = await v5()
  pub.publish(topic, '1', { qos: 1 })
  pub.publish(topic, '2', { qos: 1 })
  const first = await sub.next(PacketType.PUBLISH)
  await sub.subscribe(`${topic}/other`, 0)
  sub.send({ type: PacketType.UNSUBSCRIBE, packetId: 77, topics: [`${topic}/other`] })
  assert.equal((await sub.next(PacketType.UNSUBACK)).packetId, 77)
  sub.send({ type: PacketType.PINGREQ })
  await sub.next(PacketType.PINGRESP)
  sub.send({ type: PacketType.PUBACK, packetId: first.packetId })
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), '2')
})

const PUBACK_CODES = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]

test('PUBACK and PUBREC reason codes come from their tables: success, no matching subscribers, not authorized [MQTT-3.4.2-1] [MQTT-3.5.2-1]', async () => {
  const c = await v5()
  const codes: number[] = []
  for (const qos of [1, 2] as const) {
    for (const topic of [`nobody/${uniqueId()}`, `forbidden/${uniqueId()}`]) {
      c.publish(topic, 'x', { qos })
      const ack = await c.next(qos === 1 ? PacketType.PUBACK : PacketType.PUBREC)
      codes.push(ack.reasonCode ?? 0)
      if (qos === 2 && (ack.reasonCode ?? 0) < 0x80) {
        c.send({ type: PacketType.PUBREL, packetId: ack.packetId })
        await c.next(PacketType.PUBCOMP)
      }
    }
  }
  for (const code of codes) assert.ok(PUBACK_CODES.includes(code), `0x${code.toString(16)}`)
  assert.deepEqual(
    codes.map((x) => x >= 0x80),
    [false, true, false, true],
  )
})

test('PUBREL and PUBCOMP reason codes: 0x00 when the id is known, 0x92 when it is not [MQTT-3.6.2-1] [MQTT-3.7.2-1]', async () => {
  const topic = `rel/${uniqueId()}`
  const sub = await subscriber(topic, 2)
  const pub = await v5()
  pub.publish(topic, 'x', { qos: 2, packetId: 300 })
  await pub.next(PacketType.PUBREC)
  pub.send({ type: PacketType.PUBREL, packetId: 300 })
  assert.equal((await pub.next(PacketType.PUBCOMP)).reasonCode ?? 0, 0x00)
  pub.send({ type: PacketType.PUBREL, packetId: 301 })
  const unknown = await pub.next(PacketType.PUBCOMP)
  assert.deepEqual([unknown.packetId, unknown.reasonCode], [301, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND])

  const m = await sub.next(PacketType.PUBLISH)
  sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
  assert.equal((await sub.next(PacketType.PUBREL)).reasonCode ?? 0, 0x00)
  sub.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
  sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
  const late = await sub.next(PacketType.PUBREL)
  assert.ok([0x00, ReasonCode.PACKET_IDENTIFIER_NOT_FOUND].includes(late.reasonCode ?? 0))
})

test("acknowledgements never exceed the receiver's Maximum Packet Size [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2] [MQTT-3.5.2-3] [MQTT-3.6.2-2] [MQTT-3.6.2-3] [MQTT-3.7.2-2] [MQTT-3.7.2-3]", async () => {
  const max = 6
  const topic = `small/${uniqueId()}`
  const c = await v5({ properties: { maximumPacketSize: 64 } })
  await c.subscribe(topic, 2)
  const tiny = await v5({ properties: { maximumPacketSize: max } })
  const acks: Packet[] = []
  tiny.publish('forbidden/x', 'x', { qos: 1 })
  acks.push(await tiny.next(PacketType.PUBACK))
  tiny.publish('forbidden/x', 'x', { qos: 2 })
  acks.push(await tiny.next(PacketType.PUBREC))
  tiny.publish(topic, 'x', { qos: 2, packetId: 5 })
  acks.push(await tiny.next(PacketType.PUBREC))
  tiny.send({ type: PacketType.PUBREL, packetId: 5 })
  acks.push(await tiny.next(PacketType.PUBCOMP))
  tiny.send({ type: PacketType.PUBREL, packetId: 6 })
  acks.push(await tiny.next(PacketType.PUBCOMP))
  const m = await c.next(PacketType.PUBLISH)
  c.send({ type: PacketType.PUBREC, packetId: m.packetId })
  await c.next(PacketType.PUBREL)
  // a PUBREL from the broker to a client with the small limit
  const sub = await v5({ properties: { maximumPacketSize: max } })
  sub.send({ type: PacketType.PUBREC, packetId: 999 })
  acks.push(await sub.next(PacketType.PUBREL))
  for (const a of acks) {
    const raw = a.type === PacketType.PUBREL ? sub.raw(a) : tiny.raw(a)
    assert.ok(raw.length <= max, `${a.type} of ${raw.length} bytes`)
  }
})

test('a PUBREL whose reserved flags are not 0010 is malformed: DISCONNECT 0x81 [MQTT-3.6.1-1]', async () => {
  const c = await v5()
  c.publish('flags/rel', 'x', { qos: 2, packetId: 1 })
  await c.next(PacketType.PUBREC)
  c.sendRaw('60 02 00 01')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('every Topic Alias from 1 to the Topic Alias Maximum in CONNACK is accepted [MQTT-3.3.2-12]', async () => {
  const topic = `alias/${uniqueId()}`
  const sub = await subscriber(`${topic}/#`)
  const c = await v5()
  const max = c.connack!.properties?.topicAliasMaximum ?? 0
  assert.ok(max > 0)
  for (const alias of [1, max]) {
    c.publish(`${topic}/${alias}`, 'set', { properties: { topicAlias: alias } })
    c.sendRaw(Buffer.from([0x30, 6, 0, 0, 3, 0x23, alias >> 8, alias & 0xff]))
  }
  for (const alias of [1, 1, max, max])
    assert.equal((await sub.next(PacketType.PUBLISH)).topic, `${topic}/${alias}`)
})

test('a retained message too large for the subscriber is not sent; the others are [MQTT-3.1.2-24] [MQTT-3.1.2-25]', async () => {
  const base = `bigret/${uniqueId()}`
  const pub = await v5()
  pub.publish(`${base}/big`, Buffer.alloc(200, 0x62), { retain: true })
  pub.publish(`${base}/small`, 'small', { retain: true })
  await pub.disconnect()
  const sub = await v5({ properties: { maximumPacketSize: 100 } })
  await sub.subscribe(`${base}/#`, 0)
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.topic, `${base}/small`)
  await sub.nothingFor(150)
})

test('a retained message goes out with its Message Expiry Interval less the time it was kept [MQTT-3.3.2-6]', async () => {
  const topic = `retexp/${uniqueId()}`
  const pub = await v5()
  pub.publish(topic, 'ages', { retain: true, properties: { messageExpiryInterval: 30 } })
  await pub.disconnect()
  await new Promise((r) => setTimeout(r, 2100))
  const sub = await v5()
  await sub.subscribe(topic, 0)
  const m = await sub.next(PacketType.PUBLISH)
  const left = m.properties?.messageExpiryInterval
  assert.ok(left !== undefined && left <= 28 && left >= 26, `expiry ${left}`)
})
