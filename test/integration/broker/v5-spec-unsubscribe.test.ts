/**
 * MQTT 5.0 sections 3.10 and 3.11 (UNSUBSCRIBE, UNSUBACK), statement by statement, over
 * TCP with a level-5 client.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, ReasonCode } from '../../../src/protocol/index.js'
import { type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

const v5 = (): Promise<RawClient> => tb.connect({ protocolVersion: 5 })

async function refused(c: RawClient, reasonCode: number): Promise<void> {
  const d = await c.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, reasonCode)
  await c.closed(1000, false)
}

test('UNSUBSCRIBE with fixed header flags other than 0010: DISCONNECT 0x81 Malformed Packet [MQTT-3.10.1-1]', async () => {
  const c = await v5()
  c.sendRaw('a0 06 0001 00 0001 61')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('a topic filter in UNSUBSCRIBE that is not UTF-8: DISCONNECT 0x81, no UNSUBACK [MQTT-3.10.3-1]', async () => {
  const c = await v5()
  c.sendRaw('a2 06 0001 00 0001 ff')
  await refused(c, ReasonCode.MALFORMED_PACKET)
})

test('an UNSUBSCRIBE without any topic filter is a Protocol Error: DISCONNECT 0x82, no UNSUBACK [MQTT-3.10.3-2]', async () => {
  const c = await v5()
  c.sendRaw('a2 03 0001 00')
  await refused(c, ReasonCode.PROTOCOL_ERROR)
})

test('UNSUBSCRIBE deletes the subscription whose filter is the same string, and only it; UNSUBACK with its packet id, codes in order, sent even when nothing was deleted [MQTT-3.10.4-1] [MQTT-3.10.4-4] [MQTT-3.10.4-5] [MQTT-3.10.4-6] [MQTT-3.11.3-1] [MQTT-3.11.3-2]', async () => {
  const topic = uniqueId('spec/unsub')
  const c = await v5()
  await c.subscribe([
    { topic: `${topic}/+`, qos: 0 },
    { topic: `${topic}/a`, qos: 0 },
  ])
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 777, topics: [`${topic}/a`, `${topic}/#`, `${topic}/b`] })
  const ack = await c.next(PacketType.UNSUBACK)
  assert.equal(ack.packetId, 777)
  assert.deepEqual(ack.reasonCodes, [
    ReasonCode.SUCCESS,
    ReasonCode.NO_SUBSCRIPTION_EXISTED,
    ReasonCode.NO_SUBSCRIPTION_EXISTED,
  ])
  const allowed = new Set([0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91])
  for (const code of ack.reasonCodes ?? [])
    assert.ok(allowed.has(code), `0x${code.toString(16)} is an UNSUBACK code`)
  // "+" was not matched by "#" or by "a": it still delivers, once
  const p = await v5()
  p.publish(`${topic}/a`, 'x')
  const m = await c.next(PacketType.PUBLISH)
  assert.equal(m.topic, `${topic}/a`)
  await c.nothingFor(150)
  // nothing subscribed at all: an UNSUBACK all the same
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 778, topics: ['spec/none'] })
  const none = await c.next(PacketType.UNSUBACK)
  assert.equal(none.packetId, 778)
  assert.deepEqual(none.reasonCodes, [ReasonCode.NO_SUBSCRIPTION_EXISTED])
})

test('after UNSUBACK no new message is sent for the filter; a QoS 2 delivery already started is completed [MQTT-3.10.4-2] [MQTT-3.10.4-3]', async () => {
  const topic = uniqueId('spec/unsub2')
  const c = await v5()
  await c.subscribe(topic, 2)
  const p = await v5()
  p.publish(topic, 'started', { qos: 2 })
  const m = await c.next(PacketType.PUBLISH)
  assert.equal(m.qos, 2)
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 99, topics: [topic] })
  assert.deepEqual((await c.next(PacketType.UNSUBACK)).reasonCodes, [ReasonCode.SUCCESS])
  p.publish(topic, 'after', { qos: 1 })
  await p.next(PacketType.PUBREC)
  await p.next(PacketType.PUBACK)
  await c.nothingFor(150)
  c.send({ type: PacketType.PUBREC, packetId: m.packetId })
  assert.equal((await c.next(PacketType.PUBREL)).packetId, m.packetId)
  c.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
  await c.nothingFor(100)
})

test('an UNSUBACK to a client with a small Maximum Packet Size has no Reason String or User Property and fits [MQTT-3.11.2-1] [MQTT-3.11.2-2]', async () => {
  const c = await tb.connect({ protocolVersion: 5, properties: { maximumPacketSize: 12 } })
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 5, topics: ['spec/x', 'spec/y'] })
  const ack = await c.next(PacketType.UNSUBACK)
  assert.deepEqual(ack.reasonCodes, [ReasonCode.NO_SUBSCRIPTION_EXISTED, ReasonCode.NO_SUBSCRIPTION_EXISTED])
  assert.ok(c.raw(ack).length <= 12)
  assert.equal(ack.properties?.reasonString, undefined)
  assert.equal(ack.properties?.userProperties, undefined)
})
