/**
 * MQTT 5.0 section 4.8.2 (shared subscriptions) on the broker, the statements about a
 * member that does not finish a delivery: a QoS 2 message stays with the member that
 * had it, and a negative acknowledgement ends the message.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishPacket, ReasonCode } from '../../../src/protocol/index.js'
import { delay, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

/** The first PUBLISH to reach either client, and which one got it. */
async function first(
  a: RawClient,
  b: RawClient,
): Promise<{ got: RawClient; other: RawClient; p: PublishPacket }> {
  for (let i = 0; i < 40; i++) {
    for (const [got, other] of [
      [a, b],
      [b, a],
    ] as const) {
      try {
        return { got, other, p: await got.next(PacketType.PUBLISH, 25) }
      } catch {}
    }
  }
  assert.fail('no member received the message')
}

test('a QoS 2 message whose member leaves before PUBREC, its session ending, goes to no other member [MQTT-4.8.2-5]', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('spec/shared2')
  const a = await tb.connect({ protocolVersion: 5 })
  const b = await tb.connect({ protocolVersion: 5 })
  await a.subscribe(`$share/g/${topic}`, 2)
  await b.subscribe(`$share/g/${topic}`, 2)
  const p = await tb.connect({ protocolVersion: 5 })
  p.publish(topic, 'only-once', { qos: 2 })
  const { got, other, p: m } = await first(a, b)
  assert.equal(m.qos, 2)
  got.destroy() // Session Expiry Interval 0: the session ends with the connection
  await delay(100)
  await other.nothingFor(400)
  // the group still works: the next message reaches the remaining member
  p.publish(topic, 'next', { qos: 1 })
  assert.equal((await other.next(PacketType.PUBLISH, 2000)).payload.toString(), 'next')
})

test('a QoS 2 message whose member leaves before PUBREC, its session kept, is completed with that member when it returns, not sent to another [MQTT-4.8.2-4]', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('spec/shared-back')
  const ids: [string, string] = [uniqueId('spec-a'), uniqueId('spec-b')]
  const keep = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } }
  const a = await tb.connect({ ...keep, clientId: ids[0] })
  const b = await tb.connect({ ...keep, clientId: ids[1] })
  await a.subscribe(`$share/g/${topic}`, 2)
  await b.subscribe(`$share/g/${topic}`, 2)
  const p = await tb.connect({ protocolVersion: 5 })
  p.publish(topic, 'come-back', { qos: 2 })
  const { got, other, p: m } = await first(a, b)
  const gotId = got === a ? ids[0] : ids[1]
  got.destroy()
  await other.nothingFor(400)
  const back = await tb.connect({ ...keep, clientId: gotId })
  assert.equal(back.connack!.sessionPresent, true)
  const again = await back.next(PacketType.PUBLISH, 2000)
  assert.deepEqual(
    [again.payload.toString(), again.qos, again.dup, again.packetId],
    ['come-back', 2, true, m.packetId],
  )
  back.send({ type: PacketType.PUBREC, packetId: again.packetId })
  assert.equal((await back.next(PacketType.PUBREL)).packetId, m.packetId)
  back.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
  await other.nothingFor(200)
})

test('a QoS 1 message in flight to a member that leaves goes to another member (section 4.8.2 SHOULD), QoS 2 does not [MQTT-4.8.2-5]', async (t) => {
  const tb = await startBroker({}, t)
  const topic = uniqueId('spec/shared1')
  const a = await tb.connect({ protocolVersion: 5 })
  const b = await tb.connect({ protocolVersion: 5 })
  await a.subscribe(`$share/g/${topic}`, 2)
  await b.subscribe(`$share/g/${topic}`, 2)
  const p = await tb.connect({ protocolVersion: 5 })
  p.publish(topic, 'q1', { qos: 1 })
  const { got, other } = await first(a, b)
  got.destroy()
  const again = await other.next(PacketType.PUBLISH, 2000)
  assert.deepEqual([again.payload.toString(), again.qos], ['q1', 1])
})

for (const qos of [1, 2] as const) {
  const ack = qos === 1 ? 'PUBACK' : 'PUBREC'
  test(`a member answering ${ack} 0x80: the message is discarded, sent to no other member, even when that member then leaves [MQTT-4.8.2-6]`, async (t) => {
    const tb = await startBroker({}, t)
    const topic = uniqueId('spec/shared-nack')
    const a = await tb.connect({ protocolVersion: 5 })
    const b = await tb.connect({ protocolVersion: 5 })
    await a.subscribe(`$share/g/${topic}`, 2)
    await b.subscribe(`$share/g/${topic}`, 2)
    const p = await tb.connect({ protocolVersion: 5 })
    p.publish(topic, `nack${qos}`, { qos })
    const { got, other, p: m } = await first(a, b)
    assert.equal(m.qos, qos)
    got.send({
      type: qos === 1 ? PacketType.PUBACK : PacketType.PUBREC,
      packetId: m.packetId,
      reasonCode: ReasonCode.UNSPECIFIED_ERROR,
    })
    await other.nothingFor(300)
    await got.nothingFor(0) // no PUBREL after a failed PUBREC, no re-send
    got.destroy()
    await other.nothingFor(300)
  })
}
