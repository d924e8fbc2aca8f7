/**
 * PublishTemplate's QoS 1/2 copies made from the publisher's own 3.1.1 bytes: each copy has
 * its own first byte and packet id, the first copy is the image itself, and re-stamping one
 * copy (DUP on redelivery) changes no other.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  Decoder,
  encode,
  type Packet,
  PacketType,
  type PublishPacket,
  restampPublish,
} from '../../../src/protocol/index.js'
import { PublishTemplate } from '../../../src/protocol/publish-template.js'

function decodeOne(bytes: Buffer): PublishPacket {
  const got: Packet[] = []
  new Decoder((p) => got.push(p)).push(bytes)
  assert.equal(got.length, 1)
  return got[0] as PublishPacket
}

for (const size of [0, 10, 200, 20_000, 3_000_000]) {
  test(`copies stamped from the publisher's bytes (payload ${size} bytes) decode as the message with their own ids [MQTT-3.3.1-3] [MQTT-2.3.1-1]`, () => {
    const payload = Buffer.alloc(size, 0x5a)
    const topic = 'a/b/ü'
    const wire = encode({
      type: PacketType.PUBLISH,
      topic,
      payload,
      qos: 2,
      retain: true,
      dup: true,
      packetId: 0xabcd,
    })
    const built = new PublishTemplate(topic, payload)
    const tpl = new PublishTemplate(topic, payload, null, null, Buffer.from(wire))
    const first = tpl.qos12(1, 1, false, false)
    const second = tpl.qos12(2, 0x1234, false, true)
    // the same bytes as a template that encodes them itself
    assert.ok(first.equals(built.qos12(1, 1, false, false)))
    assert.ok(second.equals(built.qos12(2, 0x1234, false, true)))
    // redelivering the first copy with DUP changes neither the second nor later copies
    restampPublish(first, true)
    const third = tpl.qos12(1, 7, false, false)
    const a = decodeOne(first)
    const b = decodeOne(second)
    const c = decodeOne(third)
    assert.deepEqual([a.qos, a.packetId, a.dup, a.retain, a.topic], [1, 1, true, false, topic])
    assert.deepEqual([b.qos, b.packetId, b.dup, b.retain, b.topic], [2, 0x1234, false, true, topic])
    assert.deepEqual([c.qos, c.packetId, c.dup, c.retain, c.topic], [1, 7, false, false, topic])
    for (const p of [a, b, c]) assert.ok(p.payload.equals(payload))
  })
}
