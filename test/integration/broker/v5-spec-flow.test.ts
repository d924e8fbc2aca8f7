/**
 * MQTT 5.0 section 4.9 (flow control) on the broker as sender: the send quota starts at
 * the client's Receive Maximum, stops QoS 1/2 PUBLISHes at zero, and everything else
 * keeps working meanwhile.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

test('the send quota starts at the client Receive Maximum and stops QoS 1/2 PUBLISHes at zero; PUBACK/PUBCOMP restore it [MQTT-4.9.0-1] [MQTT-4.9.0-2]', async () => {
  const topic = uniqueId('spec/flow')
  const c = await tb.connect({ protocolVersion: 5, properties: { receiveMaximum: 3 } })
  await c.subscribe(topic, 2)
  const p = await tb.connect({ protocolVersion: 5 })
  for (let i = 0; i < 6; i++) p.publish(topic, `m${i}`, { qos: i % 2 === 0 ? 1 : 2 })
  const got: PublishPacket[] = []
  for (let i = 0; i < 3; i++) got.push(await c.next(PacketType.PUBLISH))
  assert.deepEqual(
    got.map((m) => m.payload.toString()),
    ['m0', 'm1', 'm2'],
  )
  await c.nothingFor(200) // the quota is 0: m3 waits
  c.send({ type: PacketType.PUBACK, packetId: got[0]!.packetId })
  assert.equal((await c.next(PacketType.PUBLISH)).payload.toString(), 'm3')
  await c.nothingFor(200)
  // a PUBREC does not give the quota back; the PUBCOMP at the end of the flow does
  c.send({ type: PacketType.PUBREC, packetId: got[1]!.packetId })
  assert.equal((await c.next(PacketType.PUBREL)).packetId, got[1]!.packetId)
  await c.nothingFor(200)
  c.send({ type: PacketType.PUBCOMP, packetId: got[1]!.packetId })
  assert.equal((await c.next(PacketType.PUBLISH)).payload.toString(), 'm4')
})

test('with the send quota at zero the broker still answers PINGREQ, SUBSCRIBE, UNSUBSCRIBE and PUBLISH, and the QoS 0 message arrives [MQTT-4.9.0-3]', async () => {
  const topic = uniqueId('spec/flow0')
  const c = await tb.connect({ protocolVersion: 5, properties: { receiveMaximum: 1 } })
  await c.subscribe(topic, 1)
  const p = await tb.connect({ protocolVersion: 5 })
  p.publish(topic, 'held1', { qos: 1 })
  p.publish(topic, 'held2', { qos: 1 })
  const inflight = await c.next(PacketType.PUBLISH)
  assert.equal(inflight.payload.toString(), 'held1')
  await c.nothingFor(100)
  c.send({ type: PacketType.PINGREQ })
  await c.next(PacketType.PINGRESP)
  const ack = await c.subscribe(`${topic}/zero`, 0)
  assert.deepEqual(ack.granted, [0])
  // a QoS 0 message may go at once or wait with the others (section 4.9 lets the sender choose)
  p.publish(`${topic}/zero`, 'qos0', { qos: 0 })
  const id = c.publish(`${topic}/own`, 'mine', { qos: 1 })
  assert.equal((await c.next(PacketType.PUBACK)).packetId, id)
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 77, topics: [`${topic}/zero`] })
  assert.equal((await c.next(PacketType.UNSUBACK)).packetId, 77)
  c.send({ type: PacketType.PUBACK, packetId: inflight.packetId })
  const rest: string[] = []
  for (;;) {
    const m = await c.next(PacketType.PUBLISH).catch(() => null)
    if (m === null) break
    rest.push(m.payload.toString())
  }
  assert.deepEqual(rest.sort(), ['held2', 'qos0'])
})
