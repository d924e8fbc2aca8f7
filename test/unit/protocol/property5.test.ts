/** Property tests of the MQTT 5 codec: generated v5 packets through encoder, decoder and PublishTemplate. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { ProtocolError } from '../../../src/errors.js'
import {
  ErrorCode,
  encode,
  type Packet,
  PacketType,
  type PublishExtra,
  type PublishPacket,
  type PublishProperties,
  PublishTemplate,
  type QoS,
  restampPublish,
} from '../../../src/protocol/index.js'
import * as arb from '../../helpers/arbitraries.js'
import * as arb5 from '../../helpers/arbitraries5.js'
import { cutAt, decodeChunks } from '../../helpers/decode.js'

const V5 = { protocolVersion: 5 } as const

function decodeOne(bytes: Buffer): Packet {
  const r = decodeChunks([bytes], V5)
  if (r.error !== undefined) throw r.error
  assert.equal(r.packets.length, 1)
  return r.packets[0]!
}

const TYPES: Record<string, fc.Arbitrary<Packet>> = {
  CONNECT: arb5.connect5,
  CONNACK: arb5.connack5,
  PUBLISH: arb5.publish5,
  'PUBACK, PUBREC, PUBREL, PUBCOMP': arb5.ack5,
  SUBSCRIBE: arb5.subscribe5,
  SUBACK: arb5.suback5,
  UNSUBSCRIBE: arb5.unsubscribe5,
  UNSUBACK: arb5.unsuback5,
  DISCONNECT: arb5.disconnect5,
  AUTH: arb5.auth5,
  'any type': arb5.packet5,
}

describe('MQTT 5: encode then decode', () => {
  for (const [name, a] of Object.entries(TYPES)) {
    test(`gives back an equal ${name} packet, and decode then encode gives back the bytes`, () => {
      fc.assert(
        fc.property(a, (p) => {
          const bytes = encode(p, 5)
          const back = decodeOne(bytes)
          assert.deepEqual(back, p)
          assert.ok(encode(back, 5).equals(bytes))
        }),
        { numRuns: name === 'any type' ? 3000 : 300 },
      )
    })
  }

  test('a stream of generated v5 packets cut into random chunks decodes to the same packets', () => {
    fc.assert(
      fc.property(
        fc.array(arb5.packet5, { minLength: 1, maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 1 << 20 }), { maxLength: 30 }),
        (packets, rawCuts) => {
          const stream = Buffer.concat(packets.map((p) => encode(p, 5)))
          const cuts = [...new Set(rawCuts.map((c) => c % stream.length))]
            .filter((c) => c > 0)
            .sort((a, b) => a - b)
          const r = decodeChunks(cutAt(stream, cuts), V5)
          if (r.error !== undefined) throw r.error
          assert.deepEqual(r.packets, packets)
          assert.equal(r.buffered, 0)
        },
      ),
      { numRuns: 300 },
    )
  })

  test('a level-5 CONNECT decodes the same whatever version the decoder speaks; the rest of the stream follows it', () => {
    fc.assert(
      fc.property(arb5.connect5, fc.array(arb5.packet5, { maxLength: 4 }), (c, rest) => {
        assert.deepEqual(decodeChunks([encode(c, 4)], { protocolVersion: 4 }).packets, [c])
        const stream = Buffer.concat([encode(c, 4), ...rest.map((p) => encode(p, 5))])
        assert.deepEqual(decodeChunks([stream], V5).packets, [c, ...rest])
      }),
      { numRuns: 200 },
    )
  })
})

describe('MQTT 5: PublishTemplate', () => {
  /** Message properties as a broker keeps them: no Topic Alias, expiry or Subscription Identifiers. */
  const messageProperties: fc.Arbitrary<PublishProperties | null> = arb5.publishProperties.map((p) => {
    if (p === undefined) return null
    const { topicAlias: _a, subscriptionIdentifiers: _s, messageExpiryInterval: _m, ...rest } = p
    return Object.keys(rest).length === 0 ? null : rest
  })
  const extra: fc.Arbitrary<PublishExtra | null> = fc.option(
    fc
      .record({
        subscriptionIds: fc.option(fc.array(fc.integer({ min: 1, max: 268_435_455 }), { maxLength: 3 }), {
          nil: null,
        }),
        topicAlias: fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }),
        omitTopic: fc.boolean(),
        messageExpiry: fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: undefined }),
      })
      .map((e) => ({ ...e, omitTopic: e.omitTopic && e.topicAlias !== undefined })),
    { nil: null },
  )
  const delivery = fc.record({
    qos: arb.qos,
    packetId: arb.packetId,
    dup: fc.boolean(),
    retain: fc.boolean(),
  })

  /** The packet a subscriber should decode from one delivery. */
  function expected(
    topic: string,
    payload: Buffer,
    props: PublishProperties | null,
    d: { qos: QoS; packetId: number; dup: boolean; retain: boolean },
    e: PublishExtra | null,
  ): PublishPacket {
    const properties: PublishProperties = { ...props }
    if (e?.messageExpiry !== undefined) properties.messageExpiryInterval = e.messageExpiry
    if (e?.topicAlias !== undefined) properties.topicAlias = e.topicAlias
    if (e?.subscriptionIds && e.subscriptionIds.length > 0)
      properties.subscriptionIdentifiers = e.subscriptionIds
    const p: PublishPacket = {
      type: PacketType.PUBLISH,
      topic: e?.omitTopic ? '' : topic,
      payload,
      qos: d.qos,
      retain: d.retain,
      dup: d.qos > 0 && d.dup,
      packetId: d.qos > 0 ? d.packetId : 0,
    }
    if (Object.keys(properties).length > 0) p.properties = properties
    return p
  }

  test('v5() decodes to the message with its properties and the delivery extras, and v5Size() is its length', () => {
    fc.assert(
      fc.property(
        arb.topicName(),
        arb.payload,
        messageProperties,
        fc.array(fc.tuple(delivery, extra), { minLength: 1, maxLength: 8 }),
        (topic, payload, props, ds) => {
          const tpl = new PublishTemplate(topic, payload, null, props)
          const outs = ds.map(([d, e]) => {
            const out = tpl.v5(d.qos, d.packetId, d.dup, d.retain, e)
            assert.equal(out.length, tpl.v5Size(d.qos, e))
            assert.deepEqual(decodeOne(out), expected(topic, payload, props, d, e))
            return Buffer.from(out)
          })
          // later deliveries never change what earlier ones returned
          ds.forEach(([d, e], i) => {
            assert.deepEqual(decodeOne(outs[i]!), expected(topic, payload, props, d, e))
          })
          assert.equal(tpl.size(1), tpl.qos12(1, 1, false, false).length)
        },
      ),
      { numRuns: 300 },
    )
  })

  test('with no extras a QoS 0 delivery is one shared buffer per RETAIN value; QoS 1/2 ones are buffers of their own', () => {
    const tpl = new PublishTemplate('a/b', Buffer.from('x'), null, { contentType: 't' })
    assert.equal(tpl.v5(0, 0, false, false, null), tpl.v5(0, 0, false, false, null))
    assert.equal(tpl.v5(0, 0, false, true, null), tpl.v5(0, 0, false, true, null))
    assert.notEqual(tpl.v5(0, 0, false, true, null), tpl.v5(0, 0, false, false, null))
    const a = tpl.v5(1, 1, false, false, null)
    const b = tpl.v5(1, 2, false, false, null)
    assert.notEqual(a.buffer === b.buffer && a.byteOffset === b.byteOffset, true)
  })

  test('restampPublish() re-stamps DUP and the packet id of a v5 delivery [MQTT-3.3.1-1]', () => {
    fc.assert(
      fc.property(
        arb.topicName(),
        arb.payload,
        messageProperties,
        extra,
        arb.packetId,
        (t, pl, props, e, id) => {
          const tpl = new PublishTemplate(t, pl, null, props)
          const buf = tpl.v5(1, 7, false, false, e)
          restampPublish(buf, true, id)
          assert.deepEqual(
            decodeOne(buf),
            expected(t, pl, props, { qos: 1, packetId: id, dup: true, retain: false }, e),
          )
        },
      ),
      { numRuns: 200 },
    )
  })

  test('refuses Topic Alias 0 [MQTT-3.3.2-8], an omitted topic without an alias [3.3.2.1], bad identifiers and expiries', () => {
    const tpl = new PublishTemplate('a', Buffer.alloc(0))
    assert.throws(
      () => tpl.v5(0, 0, false, false, { topicAlias: 0 }),
      (e) => e instanceof ProtocolError && e.code === ErrorCode.TOPIC_ALIAS_INVALID,
    )
    assert.throws(
      () => tpl.v5(0, 0, false, false, { omitTopic: true }),
      (e) => e instanceof ProtocolError && e.code === ErrorCode.MALFORMED_TOPIC,
    )
    for (const extra of [{ subscriptionIds: [0] }, { messageExpiry: -1 }, { messageExpiry: 1.5 }]) {
      assert.throws(
        () => tpl.v5(0, 0, false, false, extra),
        (e) => e instanceof ProtocolError && e.code === ErrorCode.INVALID_PROPERTY_VALUE,
        JSON.stringify(extra),
      )
    }
  })
})
