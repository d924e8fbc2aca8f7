/**
 * MQTT 3.1.1 and MQTT 5 clients on one broker: each gets its own version's packets,
 * checked byte for byte with the raw client. A v5 message's properties reach v5
 * subscribers and are left out for 3.1.1 ones (3.1.1 has no place for them); a 3.1.1
 * message reaches a v5 subscriber as a v5 PUBLISH with an empty property list.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { PacketType, type PublishPacket } from '../../src/protocol/index.js'
import { hex, type RawClient, startBroker, type TestBroker } from '../helpers/raw-client.js'

const T = { timeout: 10_000 }

/** A 3.1.1 and a v5 subscriber of `filter` at `qos`. */
async function subscribers(
  tb: TestBroker,
  filter: string,
  qos: 0 | 1 | 2,
): Promise<{ v4: RawClient; v5: RawClient }> {
  const v4 = await tb.connect({ protocolVersion: 4 })
  const v5 = await tb.connect({ protocolVersion: 5 })
  assert.deepEqual((await v4.subscribe(filter, qos)).granted, [qos])
  assert.deepEqual((await v5.subscribe(filter, qos)).granted, [qos])
  return { v4, v5 }
}

/** The bytes of a PUBLISH of `topic` and `payload`: fixed header, topic, packet id, (v5: properties,) payload. */
function publishBytes(
  first: number,
  topic: string,
  packetId: number,
  props: Buffer | null,
  payload: string,
): Buffer {
  const t = Buffer.from(topic)
  const body = Buffer.concat([
    Buffer.from([t.length >> 8, t.length & 0xff]),
    t,
    packetId > 0 ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0),
    props ?? Buffer.alloc(0),
    Buffer.from(payload),
  ])
  assert.ok(body.length < 128)
  return Buffer.concat([Buffer.from([first, body.length]), body])
}

describe('3.1.1 and MQTT 5 clients on one broker', () => {
  test(
    'CONNACK: 3.1.1 gets the 4-byte form; v5 gets its properties after the reason code (3.2.2.3)',
    T,
    async () => {
      const tb = await startBroker()
      const v4 = await tb.open()
      await v4.connect({ protocolVersion: 4 })
      assert.deepEqual(v4.raw(v4.connack!), hex('20 02 00 00'))
      const v5 = await tb.open()
      const ack = await v5.connect({ protocolVersion: 5 })
      const raw = v5.raw(ack)
      assert.equal(raw[0], 0x20)
      assert.equal(raw[2], 0x00, 'session present 0')
      assert.equal(raw[3], 0x00, 'reason code 0 Success')
      assert.ok(raw.length > 4, 'a property length follows the reason code')
    },
  )

  test(
    'a v5 PUBLISH with properties: the v5 subscriber gets them in order, the 3.1.1 subscriber a plain 3.1.1 PUBLISH [MQTT-3.3.2-17] [MQTT-3.3.2-18]',
    T,
    async () => {
      const tb = await startBroker()
      const { v4, v5 } = await subscribers(tb, 'mix/#', 0)
      const pub = await tb.connect({ protocolVersion: 5 })
      pub.publish('mix/a', 'hi', {
        properties: {
          contentType: 'text/plain',
          userProperties: [
            ['k', '1'],
            ['j', '2'],
            ['k', '3'],
          ],
        },
      })
      const old = await v4.next(PacketType.PUBLISH)
      assert.deepEqual(v4.raw(old), publishBytes(0x30, 'mix/a', 0, null, 'hi'))
      const got = await v5.next(PacketType.PUBLISH)
      assert.equal(got.topic, 'mix/a')
      assert.equal(got.payload.toString(), 'hi')
      assert.equal(got.properties?.contentType, 'text/plain')
      assert.deepEqual(got.properties?.userProperties, [
        ['k', '1'],
        ['j', '2'],
        ['k', '3'],
      ])
    },
  )

  test(
    'a 3.1.1 QoS 1 PUBLISH reaches a v5 subscriber with an empty property list, and a 3.1.1 one unchanged (3.3.2.3)',
    T,
    async () => {
      const tb = await startBroker()
      const { v4, v5 } = await subscribers(tb, 'mix/#', 1)
      const pub = await tb.connect({ protocolVersion: 4 })
      const id = pub.publish('mix/b', 'hi', { qos: 1 })
      const ack = await pub.next(PacketType.PUBACK)
      assert.deepEqual(pub.raw(ack), Buffer.from([0x40, 0x02, id >> 8, id & 0xff]), '3.1.1 PUBACK: 2 bytes')
      const a = (await v4.next(PacketType.PUBLISH)) as PublishPacket
      assert.deepEqual(v4.raw(a), publishBytes(0x32, 'mix/b', a.packetId, null, 'hi'))
      const b = (await v5.next(PacketType.PUBLISH)) as PublishPacket
      assert.deepEqual(v5.raw(b), publishBytes(0x32, 'mix/b', b.packetId, hex('00'), 'hi'))
    },
  )

  test(
    'a retained v5 message keeps its properties for a later v5 subscriber and none for a 3.1.1 one [MQTT-3.3.1-5]',
    T,
    async () => {
      const tb = await startBroker()
      const pub = await tb.connect({ protocolVersion: 5 })
      pub.publish('mix/r', 'kept', { retain: true, properties: { responseTopic: 'mix/reply' } })
      await pub.disconnect()
      const v4 = await tb.connect({ protocolVersion: 4 })
      await v4.subscribe('mix/r', 0)
      const old = await v4.next(PacketType.PUBLISH)
      assert.deepEqual(v4.raw(old), publishBytes(0x31, 'mix/r', 0, null, 'kept'))
      const v5 = await tb.connect({ protocolVersion: 5 })
      await v5.subscribe('mix/r', 0)
      const got = await v5.next(PacketType.PUBLISH)
      assert.equal(got.retain, true)
      assert.equal(got.properties?.responseTopic, 'mix/reply')
    },
  )

  test(
    'SUBACK and UNSUBACK: 3.1.1 has no reason codes for UNSUBSCRIBE; v5 has one per filter (3.11.3)',
    T,
    async () => {
      const tb = await startBroker()
      const v4 = await tb.connect({ protocolVersion: 4 })
      const s4 = await v4.subscribe('mix/s', 1)
      assert.deepEqual(v4.raw(s4), hex(`90 03 ${s4.packetId.toString(16).padStart(4, '0')} 01`))
      v4.send({ type: PacketType.UNSUBSCRIBE, packetId: 7, topics: ['mix/s'] })
      const u4 = await v4.next(PacketType.UNSUBACK)
      assert.deepEqual(v4.raw(u4), hex('b0 02 00 07'))

      const v5 = await tb.connect({ protocolVersion: 5 })
      const s5 = await v5.subscribe('mix/s', 1)
      assert.deepEqual(v5.raw(s5), hex(`90 04 ${s5.packetId.toString(16).padStart(4, '0')} 00 01`))
      v5.send({ type: PacketType.UNSUBSCRIBE, packetId: 8, topics: ['mix/s', 'mix/none'] })
      const u5 = await v5.next(PacketType.UNSUBACK)
      assert.deepEqual(v5.raw(u5), hex('b0 05 00 08 00 00 11'), '0x00 Success, 0x11 No subscription existed')
    },
  )

  test(
    "a v5 client's will with properties reaches a 3.1.1 subscriber as a plain PUBLISH and a v5 one with its properties [MQTT-3.1.3-10]",
    T,
    async () => {
      const tb = await startBroker()
      const { v4, v5 } = await subscribers(tb, 'mix/will', 0)
      const dying = await tb.connect({
        protocolVersion: 5,
        will: {
          topic: 'mix/will',
          payload: Buffer.from('gone'),
          qos: 0,
          retain: false,
          properties: { contentType: 'text/plain', userProperties: [['why', 'test']] },
        },
      })
      dying.destroy()
      const old = await v4.next(PacketType.PUBLISH, 3000)
      assert.deepEqual(v4.raw(old), publishBytes(0x30, 'mix/will', 0, null, 'gone'))
      const got = await v5.next(PacketType.PUBLISH, 3000)
      assert.equal(got.properties?.contentType, 'text/plain')
      assert.deepEqual(got.properties?.userProperties, [['why', 'test']])
    },
  )
})
