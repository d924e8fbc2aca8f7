/** Property tests of the codec: generated packets through encoder, decoder and PublishTemplate. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { ProtocolError } from '../../../src/errors.js'
import {
  ErrorCode,
  encode,
  type Packet,
  PacketType,
  type PublishPacket,
  PublishTemplate,
  type QoS,
  restampPublish,
} from '../../../src/protocol/index.js'
import * as arb from '../../helpers/arbitraries.js'
import { cutAt, decodeChunks } from '../../helpers/decode.js'

function decodeOne(bytes: Buffer): Packet {
  const r = decodeChunks([bytes])
  if (r.error !== undefined) throw r.error
  assert.equal(r.packets.length, 1)
  return r.packets[0]!
}

const TYPES: Record<string, fc.Arbitrary<Packet>> = {
  CONNECT: arb.connect,
  CONNACK: arb.connack,
  PUBLISH: arb.publish,
  SUBSCRIBE: arb.subscribe,
  SUBACK: arb.suback,
  UNSUBSCRIBE: arb.unsubscribe,
  'any type': arb.packet,
}

describe('encode then decode', () => {
  for (const [name, a] of Object.entries(TYPES)) {
    test(`gives back an equal ${name} packet, and decode then encode gives back the bytes`, () => {
      fc.assert(
        fc.property(a, (p) => {
          const bytes = encode(p)
          const back = decodeOne(bytes)
          assert.deepEqual(back, p)
          assert.ok(encode(back).equals(bytes))
        }),
        { numRuns: name === 'any type' ? 3000 : 500 },
      )
    })
  }

  test('a stream of generated packets cut into random chunks decodes to the same packets', () => {
    fc.assert(
      fc.property(
        fc.array(arb.packet, { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 1 << 20 }), { maxLength: 30 }),
        (packets, rawCuts) => {
          const stream = Buffer.concat(packets.map((p) => encode(p)))
          const cuts = [...new Set(rawCuts.map((c) => c % stream.length))]
            .filter((c) => c > 0)
            .sort((a, b) => a - b)
          const r = decodeChunks(cutAt(stream, cuts))
          if (r.error !== undefined) throw r.error
          assert.deepEqual(r.packets, packets)
          assert.equal(r.buffered, 0)
        },
      ),
      { numRuns: 500 },
    )
  })

  test('every prefix of a stream leaves exactly the packets wholly inside it delivered', () => {
    fc.assert(
      fc.property(fc.array(arb.packet, { minLength: 1, maxLength: 6 }), fc.nat(), (packets, n) => {
        const encoded = packets.map((p) => encode(p))
        const stream = Buffer.concat(encoded)
        const at = n % (stream.length + 1)
        let whole = 0
        for (let end = 0; whole < encoded.length && end + encoded[whole]!.length <= at; whole++) {
          end += encoded[whole]!.length
        }
        const r = decodeChunks([stream.subarray(0, at)])
        if (r.error !== undefined) throw r.error
        assert.deepEqual(r.packets, packets.slice(0, whole))
      }),
      { numRuns: 500 },
    )
  })
})

describe('PublishTemplate', () => {
  interface Delivery {
    qos: QoS
    packetId: number
    dup: boolean
    retain: boolean
  }
  const delivery: fc.Arbitrary<Delivery> = fc.record({
    qos: arb.qos,
    packetId: arb.packetId,
    dup: fc.boolean(),
    retain: fc.boolean(),
  })

  function expected(topic: string, payload: Buffer, d: Delivery): Buffer {
    const p: PublishPacket = {
      type: PacketType.PUBLISH,
      topic,
      payload,
      qos: d.qos,
      retain: d.retain,
      dup: d.qos > 0 && d.dup,
      packetId: d.qos > 0 ? d.packetId : 0,
    }
    return encode(p)
  }

  test('bytes() equals encode() of the same PUBLISH for every delivery, in any order of calls', () => {
    fc.assert(
      fc.property(
        arb.topicName(),
        arb.payload,
        fc.array(delivery, { minLength: 1, maxLength: 10 }),
        (t, pl, ds) => {
          const template = new PublishTemplate(t, pl)
          const outs = ds.map((d) => {
            const out = template.bytes(d.qos, d.packetId, d.dup, d.retain)
            assert.ok(out.equals(expected(t, pl, d)), `qos ${d.qos} retain ${d.retain}`)
            return Buffer.from(out)
          })
          // later calls never change what earlier calls returned
          ds.forEach((d, i) => {
            assert.ok(outs[i]!.equals(expected(t, pl, d)))
          })
        },
      ),
      { numRuns: 500 },
    )
  })

  test('qos12() returns a buffer of its own for each delivery', () => {
    fc.assert(
      fc.property(arb.topicName(), arb.payload, arb.packetId, arb.packetId, (t, pl, id1, id2) => {
        const template = new PublishTemplate(t, pl)
        const a = template.qos12(1, id1, false, false)
        const b = template.qos12(2, id2, true, true)
        assert.notEqual(a.buffer === b.buffer && a.byteOffset === b.byteOffset, true)
        assert.ok(a.equals(expected(t, pl, { qos: 1, packetId: id1, dup: false, retain: false })))
        assert.ok(b.equals(expected(t, pl, { qos: 2, packetId: id2, dup: true, retain: true })))
      }),
      { numRuns: 200 },
    )
  })

  test('qos0() shares one buffer per RETAIN value and forwards the bytes it was given unchanged', () => {
    fc.assert(
      fc.property(arb.topicName(), arb.payload, (t, pl) => {
        const wire = expected(t, pl, { qos: 0, packetId: 1, dup: false, retain: false })
        const template = new PublishTemplate(t, pl, wire)
        assert.equal(template.qos0(false), wire)
        assert.equal(template.qos0(true), template.qos0(true))
        assert.ok(
          template.qos0(true).equals(expected(t, pl, { qos: 0, packetId: 1, dup: false, retain: true })),
        )
      }),
      { numRuns: 200 },
    )
  })

  test('qos12() refuses packet ids outside 1..65535 [MQTT-2.3.1-1]', () => {
    const template = new PublishTemplate('a', Buffer.alloc(0))
    for (const id of [0, -1, 65_536]) {
      assert.throws(
        () => template.qos12(1, id, false, false),
        (e) => e instanceof ProtocolError && e.code === ErrorCode.ZERO_PACKET_ID,
      )
    }
  })
})

describe('restampPublish', () => {
  const qos12 = arb.publish.filter((p) => p.qos > 0)

  test('setting DUP and a new packet id equals encoding the changed packet [MQTT-3.3.1-1]', () => {
    fc.assert(
      fc.property(qos12, fc.boolean(), fc.option(arb.packetId, { nil: undefined }), (p, dup, id) => {
        const buf = encode(p)
        restampPublish(buf, dup, id)
        assert.ok(buf.equals(encode({ ...p, dup, packetId: id ?? p.packetId })))
        assert.deepEqual(decodeOne(buf), { ...p, dup, packetId: id ?? p.packetId })
      }),
      { numRuns: 500 },
    )
  })

  test('re-stamps the buffers of a PublishTemplate', () => {
    fc.assert(
      fc.property(qos12, arb.packetId, (p, id) => {
        const buf = new PublishTemplate(p.topic, p.payload).qos12(p.qos, p.packetId, p.dup, p.retain)
        restampPublish(buf, true, id)
        assert.ok(buf.equals(encode({ ...p, dup: true, packetId: id })))
      }),
      { numRuns: 200 },
    )
  })
})

describe('encoder limits', () => {
  test('never sets DUP on a QoS 0 PUBLISH, even when asked [MQTT-3.3.1-2]', () => {
    fc.assert(
      fc.property(arb.publish, (p) => {
        const q0: PublishPacket = { ...p, qos: 0, packetId: 0, dup: true }
        const bytes = encode(q0)
        assert.equal(bytes[0]! & 0x08, 0)
        assert.deepEqual(decodeOne(bytes), { ...q0, dup: false })
      }),
      { numRuns: 200 },
    )
  })

  test('refuses packet ids outside 1..65535 where one is required [MQTT-2.3.1-1]', () => {
    const bad: Packet[] = [
      {
        type: PacketType.PUBLISH,
        topic: 'a',
        payload: Buffer.alloc(0),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 0,
      },
      { type: PacketType.PUBACK, packetId: 65_536 },
      { type: PacketType.PUBREL, packetId: 0 },
      { type: PacketType.SUBSCRIBE, packetId: 0, subscriptions: [{ topic: 'a', qos: 0 }] },
      { type: PacketType.UNSUBSCRIBE, packetId: 1.5, topics: ['a'] },
      { type: PacketType.SUBACK, packetId: 0, granted: [0] },
      { type: PacketType.UNSUBACK, packetId: -1 },
    ]
    for (const p of bad) {
      assert.throws(
        () => encode(p),
        (e) => e instanceof ProtocolError && e.code === ErrorCode.ZERO_PACKET_ID,
        JSON.stringify(p),
      )
    }
  })

  test('refuses strings longer than 65535 bytes [MQTT-1.5.3]', () => {
    const long = 'é'.repeat(32_768) // 65536 bytes in UTF-8
    const bad: Packet[] = [
      {
        type: PacketType.PUBLISH,
        topic: long,
        payload: Buffer.alloc(0),
        qos: 0,
        retain: false,
        dup: false,
        packetId: 0,
      },
      { type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: long, qos: 0 }] },
      { type: PacketType.UNSUBSCRIBE, packetId: 1, topics: [long] },
      {
        type: PacketType.CONNECT,
        protocolName: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
        clientId: long,
      },
    ]
    for (const p of bad) {
      assert.throws(
        () => encode(p),
        (e) => e instanceof ProtocolError && e.code === ErrorCode.INVALID_PACKET,
      )
    }
    assert.throws(() => new PublishTemplate(long, Buffer.alloc(0)), ProtocolError)
  })

  test('a topic of exactly 65535 bytes round-trips', () => {
    const topic = 'x'.repeat(65_535)
    const p: Packet = {
      type: PacketType.PUBLISH,
      topic,
      payload: Buffer.from('hi'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 9,
    }
    assert.deepEqual(decodeOne(encode(p)), p)
  })
})
