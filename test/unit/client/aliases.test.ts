import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InboundAliases, OutboundAliases } from '../../../src/client/aliases.js'
import { PacketType, ProtocolError, type PublishPacket } from '../../../src/protocol/index.js'

const pub = (topic: string, topicAlias?: number): PublishPacket => ({
  type: PacketType.PUBLISH,
  topic,
  payload: Buffer.alloc(0),
  qos: 0,
  retain: false,
  dup: false,
  packetId: 0,
  properties: topicAlias === undefined ? undefined : { topicAlias },
})

describe('topic aliases', () => {
  test('outbound: aliases 1..max in order of first use, none past the maximum, all gone at reset [MQTT-3.3.2-7]', () => {
    const a = new OutboundAliases()
    assert.equal(a.assign('x'), 0) // no maximum yet: no aliases
    a.reset(2)
    assert.equal(a.get('x'), 0)
    assert.equal(a.assign('x'), 1)
    assert.equal(a.get('x'), 1)
    assert.equal(a.assign('y'), 2)
    assert.equal(a.assign('z'), 0)
    a.forget('y')
    assert.equal(a.assign('z'), 2)
    a.reset(1)
    assert.equal(a.get('x'), 0)
    assert.equal(a.assign('z'), 1)
  })

  test('inbound: set, used, re-mapped; out of range is 0x94, unknown is 0x82 [MQTT-3.3.2-10]', () => {
    const a = new InboundAliases(2)
    const p1 = pub('t/1', 2)
    a.resolve(p1)
    assert.deepEqual(p1.properties, { topicAlias: 2 }, 'the alias is kept as received')
    const p2 = pub('', 2)
    a.resolve(p2)
    assert.equal(p2.topic, 't/1')
    assert.deepEqual(p2.properties, { topicAlias: 2 })
    assert.throws(
      () => a.resolve(pub('t', 3)),
      (e: unknown) => e instanceof ProtocolError && e.reasonCode === 0x94,
    )
    assert.throws(
      () => a.resolve(pub('', 1)),
      (e: unknown) => e instanceof ProtocolError && e.reasonCode === 0x82,
    )
    a.reset()
    assert.throws(() => a.resolve(pub('', 2)), ProtocolError)
  })
})
