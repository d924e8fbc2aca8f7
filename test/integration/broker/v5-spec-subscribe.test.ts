/**
 * MQTT 5.0 sections 3.8 and 3.9 (SUBSCRIBE, SUBACK), statement by statement, over TCP
 * with a level-5 client: what is malformed or a protocol error in a SUBSCRIBE, and what
 * the broker answers and delivers.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  type DisconnectPacket,
  type Packet,
  PacketType,
  type PublishPacket,
  ReasonCode,
} from '../../../src/protocol/index.js'
import { type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker({ authorizeSubscribe: (_c, filter) => filter !== 'test/nosubscribe' })

const v5 = (): Promise<RawClient> => tb.connect({ protocolVersion: 5 })

async function refused(c: RawClient, reasonCode: number): Promise<void> {
  const d: DisconnectPacket = await c.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, reasonCode)
  await c.closed(1000, false)
}

/** PUBLISHes that arrive (QoS 1/2 flows completed) until `quietMs` pass without any packet. */
async function received(c: RawClient, quietMs = 300): Promise<PublishPacket[]> {
  const out: PublishPacket[] = []
  for (;;) {
    let p: Packet
    try {
      p = await c.next(undefined, quietMs)
    } catch {
      return out
    }
    if (p.type === PacketType.PUBREL) c.send({ type: PacketType.PUBCOMP, packetId: p.packetId })
    if (p.type !== PacketType.PUBLISH) continue
    out.push(p)
    if (p.qos === 1) c.send({ type: PacketType.PUBACK, packetId: p.packetId })
    if (p.qos === 2) c.send({ type: PacketType.PUBREC, packetId: p.packetId })
  }
}

const texts = (ps: PublishPacket[]): string[] => ps.map((p) => p.payload.toString())

test('SUBSCRIBE with fixed header flags other than 0010: DISCONNECT 0x81 Malformed Packet [MQTT-3.8.1-1]', async () => {
  const c = await v5()
  // packet id 1, no properties, filter "a", options 0; flags 0000 instead of 0010
  c.sendRaw('80 07 0001 00 0001 61 00')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('a topic filter that is not UTF-8: DISCONNECT 0x81, no SUBACK [MQTT-3.8.3-1]', async () => {
  const c = await v5()
  c.sendRaw('82 07 0001 00 0001 ff 00')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('a SUBSCRIBE without any topic filter is a Protocol Error: DISCONNECT 0x82, no SUBACK [MQTT-3.8.3-2]', async () => {
  const c = await v5()
  c.sendRaw('82 03 0001 00')
  await refused(c, ReasonCode.PROTOCOL_ERROR)
})

test('reserved bits 6 and 7 of the subscription options set: DISCONNECT 0x81 [MQTT-3.8.3-5]', async () => {
  const c = await v5()
  c.sendRaw('82 07 0001 00 0001 61 c0')
  await refused(c, ReasonCode.MALFORMED_PACKET)
  const d = await v5()
  d.sendRaw('82 07 0001 00 0001 61 40') // bit 6 alone
  await refused(d, ReasonCode.MALFORMED_PACKET)
})

test('a SUBSCRIBE without the No Local bit on a shared subscription is accepted; with it, DISCONNECT 0x82 [MQTT-3.8.3-4]', async () => {
  const ok = await v5()
  // "$share/g/a" with options 0x01 (QoS 1): granted
  ok.sendRaw('82 10 0001 00 000a 247368617265 2f672f61 01')
  const ack = await ok.next(PacketType.SUBACK)
  assert.deepEqual(ack.granted, [1])
  const bad = await v5()
  bad.sendRaw('82 10 0001 00 000a 247368617265 2f672f61 05') // QoS 1 + No Local
  await refused(bad, ReasonCode.PROTOCOL_ERROR)
})

test('each SUBSCRIBE gets a SUBACK with its packet id and one reason code per filter: a granted QoS or a failure code [MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.8.4-6] [MQTT-3.8.4-7] [MQTT-3.9.3-1] [MQTT-3.9.3-2]', async () => {
  const c = await v5()
  c.send({
    type: PacketType.SUBSCRIBE,
    packetId: 4242,
    subscriptions: [
      { topic: 'spec/s/0', qos: 0 },
      { topic: 'test/nosubscribe', qos: 1 },
      { topic: 'spec/s/2', qos: 2 },
      { topic: 'spec/+x', qos: 1 },
      { topic: 'spec/s/1', qos: 1 },
    ],
  })
  const ack = await c.next(PacketType.SUBACK)
  assert.equal(ack.packetId, 4242)
  assert.deepEqual(ack.granted, [0, ReasonCode.UNSPECIFIED_ERROR, 2, ReasonCode.TOPIC_FILTER_INVALID, 1])
  const allowed = new Set([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2])
  for (const code of ack.granted)
    assert.ok(allowed.has(code), `0x${code.toString(16)} is a SUBACK reason code`)
})

test('a SUBSCRIBE with several filters acts as a sequence of SUBSCRIBEs: the same filter twice, the later options win [MQTT-3.8.4-5] [MQTT-3.8.4-3]', async () => {
  const topic = uniqueId('spec/seq')
  const c = await v5()
  const ack = await c.subscribe([
    { topic, qos: 0 },
    { topic: `${topic}/x`, qos: 1 },
    { topic, qos: 2 },
  ])
  assert.deepEqual(ack.granted, [0, 1, 2])
  const p = await tb.connect({ protocolVersion: 5 })
  p.publish(topic, 'one', { qos: 2 })
  p.publish(`${topic}/x`, 'two', { qos: 2 })
  const got = await received(c)
  assert.deepEqual(
    got.map((m) => [m.payload.toString(), m.qos]),
    [
      ['one', 2],
      ['two', 1],
    ],
    'one copy of "one", at the QoS of the second subscription to its filter',
  )
})

test('a re-SUBSCRIBE with Retain Handling 0 sends the retained message again and loses no live message [MQTT-3.8.4-4] [MQTT-3.8.4-3]', async () => {
  const topic = uniqueId('spec/rh0')
  const p = await v5()
  const id = p.publish(topic, 'kept', { qos: 1, retain: true })
  assert.equal((await p.next(PacketType.PUBACK)).packetId, id)
  const c = await v5()
  await c.subscribe([{ topic, qos: 1, retainHandling: 0 }])
  assert.deepEqual(texts(await received(c)), ['kept'])
  // live messages published around the replacing SUBSCRIBE
  for (let i = 0; i < 5; i++) p.publish(topic, `live${i}`, { qos: 1 })
  c.send({ type: PacketType.SUBSCRIBE, packetId: 900, subscriptions: [{ topic, qos: 1, retainHandling: 0 }] })
  for (let i = 5; i < 10; i++) p.publish(topic, `live${i}`, { qos: 1 })
  const seen: string[] = []
  for (;;) {
    let x: Packet
    try {
      x = await c.next(undefined, 300)
    } catch {
      break
    }
    if (x.type === PacketType.SUBACK) seen.push(`suback:${x.granted.join()}`)
    if (x.type !== PacketType.PUBLISH) continue
    seen.push(x.payload.toString())
    if (x.qos === 1) c.send({ type: PacketType.PUBACK, packetId: x.packetId })
  }
  assert.ok(seen.includes('suback:1'), 'the SUBACK')
  assert.equal(seen.filter((t) => t === 'kept').length, 1, 'the retained message once more')
  assert.ok(seen.indexOf('kept') > seen.indexOf('suback:1'), 'after the SUBACK')
  const live = seen.filter((t) => t.startsWith('live'))
  assert.deepEqual(
    live,
    Array.from({ length: 10 }, (_, i) => `live${i}`),
    'every live message once, in order',
  )
})

test('a message is delivered at the lower of its QoS and the granted QoS [MQTT-3.8.4-8]', async () => {
  const topic = uniqueId('spec/minqos')
  const c = await v5()
  await c.subscribe([
    { topic: `${topic}/0`, qos: 0 },
    { topic: `${topic}/1`, qos: 1 },
    { topic: `${topic}/2`, qos: 2 },
  ])
  const p = await v5()
  for (const sub of [0, 1, 2])
    for (const q of [0, 1, 2] as const) p.publish(`${topic}/${sub}`, `${sub}${q}`, { qos: q })
  const got = (await received(c)).map((m) => [m.payload.toString(), m.qos])
  assert.deepEqual(got, [
    ['00', 0],
    ['01', 0],
    ['02', 0],
    ['10', 0],
    ['11', 1],
    ['12', 1],
    ['20', 0],
    ['21', 1],
    ['22', 2],
  ])
})

test('a SUBACK to a client with a small Maximum Packet Size still arrives, within that size and without a Reason String or User Property [MQTT-3.9.2-1] [MQTT-3.9.2-2]', async () => {
  const c = await tb.connect({ protocolVersion: 5, properties: { maximumPacketSize: 16 } })
  const ack = await c.subscribe([
    { topic: 'test/nosubscribe', qos: 1 },
    { topic: 'spec/+x', qos: 1 },
  ])
  assert.deepEqual(ack.granted, [ReasonCode.UNSPECIFIED_ERROR, ReasonCode.TOPIC_FILTER_INVALID])
  assert.ok(c.raw(ack).length <= 16)
  assert.equal(ack.properties?.reasonString, undefined)
  assert.equal(ack.properties?.userProperties, undefined)
})
