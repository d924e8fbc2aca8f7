/**
 * MQTT 5 publishing, against a scripted broker: properties on the wire, the
 * acknowledgement's reason code as the publish result or a typed error, and
 * the limits the broker's CONNACK sets (Receive Maximum, Maximum Packet Size,
 * Maximum QoS, Retain Available), refused locally before anything is sent.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  PacketType,
  PetrelError,
  PublishRefusedError,
  ReasonCode,
  ServerLimitError,
} from '../../../src/index.js'
import { T, until } from './suite.js'
import { v5Rig } from './v5-rig.js'

describe('MQTT 5 client: publish', () => {
  test('sends every PUBLISH property given, in a PUBLISH of level 5', T, async () => {
    const { client, s } = await v5Rig({ topicAliases: false })
    const properties = {
      payloadFormatIndicator: 1 as const,
      messageExpiryInterval: 30,
      contentType: 'application/json',
      responseTopic: 'reply/here',
      correlationData: Buffer.from([1, 2, 3]),
      userProperties: [
        ['a', '1'],
        ['a', '2'],
      ] as [string, string][],
    }
    void client.publish('p/props', '{}', { qos: 0, properties })
    const p = await s.next(PacketType.PUBLISH)
    assert.equal(p.topic, 'p/props')
    assert.deepEqual(p.properties, properties) // user properties keep order and repeats [MQTT-3.3.2-18]
  })

  test('a PUBACK 0x10 No matching subscribers resolves, with the code in the result', T, async () => {
    const { client, s } = await v5Rig()
    const done = client.publish('p/none', 'x', { qos: 1 })
    const p = await s.next(PacketType.PUBLISH)
    s.send({ type: PacketType.PUBACK, packetId: p.packetId, reasonCode: ReasonCode.NO_MATCHING_SUBSCRIBERS })
    assert.deepEqual(await done, { reasonCode: 0x10 })
    const ok = client.publish('p/none', 'y', { qos: 1 })
    const q = await s.next(PacketType.PUBLISH)
    s.send({ type: PacketType.PUBACK, packetId: q.packetId })
    assert.deepEqual(await ok, { reasonCode: 0 })
  })

  test(
    'a PUBACK of 0x80 or more rejects with PublishRefusedError carrying code, reason string and user properties',
    T,
    async () => {
      const { client, s } = await v5Rig()
      const done = client.publish('p/no', 'x', { qos: 1 })
      const p = await s.next(PacketType.PUBLISH)
      s.send({
        type: PacketType.PUBACK,
        packetId: p.packetId,
        reasonCode: ReasonCode.NOT_AUTHORIZED,
        properties: { reasonString: 'no publishing here', userProperties: [['why', 'acl']] },
      })
      const err = await done.then(
        () => null,
        (e: unknown) => e,
      )
      assert.ok(err instanceof PublishRefusedError, String(err))
      assert.equal(err.code, 'PETREL_PUBLISH_REFUSED')
      assert.equal(err.reasonCode, 0x87)
      assert.equal(err.reasonString, 'no publishing here')
      assert.deepEqual(err.userProperties, [['why', 'acl']])
      assert.equal(client.inflight, 0)
    },
  )

  test('a PUBREC of 0x80 or more ends the QoS 2 flow: rejected, no PUBREL [MQTT-4.3.3-4]', T, async () => {
    const { client, s } = await v5Rig()
    const done = client.publish('p/q2', 'x', { qos: 2 })
    const p = await s.next(PacketType.PUBLISH)
    s.send({ type: PacketType.PUBREC, packetId: p.packetId, reasonCode: ReasonCode.QUOTA_EXCEEDED })
    await assert.rejects(done, (e: unknown) => e instanceof PublishRefusedError && e.reasonCode === 0x97)
    await s.nothingFor(100)
    assert.equal(client.inflight, 0)
    // a good flow still completes through PUBREL/PUBCOMP
    const ok = client.publish('p/q2', 'y', { qos: 2 })
    const q = await s.next(PacketType.PUBLISH)
    s.send({ type: PacketType.PUBREC, packetId: q.packetId })
    const rel = await s.next(PacketType.PUBREL)
    assert.equal(rel.packetId, q.packetId)
    s.send({ type: PacketType.PUBCOMP, packetId: q.packetId })
    assert.deepEqual(await ok, { reasonCode: 0 })
  })

  test(
    "never more unacknowledged QoS 1/2 PUBLISHes than the broker's Receive Maximum; other packets still flow at a zero quota [MQTT-3.3.4-7] [MQTT-4.9.0-1] [MQTT-4.9.0-2] [MQTT-4.9.0-3]",
    T,
    async () => {
      const { client, s } = await v5Rig({}, { receiveMaximum: 2 })
      const all = [1, 2, 3, 4, 5].map((i) => client.publish('p/rm', String(i), { qos: i % 2 === 0 ? 2 : 1 }))
      const settled = Promise.allSettled(all)
      const a = await s.next(PacketType.PUBLISH)
      const b = await s.next(PacketType.PUBLISH)
      await s.nothingFor(100)
      assert.equal(client.inflight, 2)
      assert.equal(client.queued, 3)
      // other packets are not held back by the full window [MQTT-3.3.4-8]
      void client.subscribe('p/other').catch(() => {})
      assert.equal((await s.next(PacketType.SUBSCRIBE)).subscriptions[0]!.topic, 'p/other')
      s.send({ type: PacketType.PUBACK, packetId: a.packetId })
      const c = await s.next(PacketType.PUBLISH)
      assert.equal(c.payload.toString(), '3')
      await s.nothingFor(50)
      // a PUBREC with a failure code gives the quota back too [MQTT-4.9.0-2]
      s.send({ type: PacketType.PUBREC, packetId: b.packetId, reasonCode: ReasonCode.UNSPECIFIED_ERROR })
      const d = await s.next(PacketType.PUBLISH)
      assert.equal(d.payload.toString(), '4')
      s.send({ type: PacketType.PUBACK, packetId: c.packetId })
      const e = await s.next(PacketType.PUBLISH)
      assert.equal(e.payload.toString(), '5')
      s.send({ type: PacketType.PUBREC, packetId: d.packetId })
      await s.next(PacketType.PUBREL)
      s.send({ type: PacketType.PUBCOMP, packetId: d.packetId })
      s.send({ type: PacketType.PUBACK, packetId: e.packetId })
      const results = await settled
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'],
      )
    },
  )

  test(
    "a PUBLISH over the broker's Maximum Packet Size is refused locally with ServerLimitError [MQTT-3.2.2-15]",
    T,
    async () => {
      const { client, s } = await v5Rig({}, { maximumPacketSize: 100 })
      const err = await client.publish('p/big', Buffer.alloc(200), { qos: 1 }).then(
        () => null,
        (e: unknown) => e,
      )
      assert.ok(err instanceof ServerLimitError, String(err))
      assert.equal(err.limit, 'maximumPacketSize')
      assert.equal(err.reasonCode, ReasonCode.PACKET_TOO_LARGE)
      await assert.rejects(client.publish('p/big', Buffer.alloc(200)), ServerLimitError)
      assert.equal(client.inflight, 0)
      // what fits still goes, and the refused one took no alias
      await client.publish('p/big', Buffer.alloc(10))
      const p = await s.next(PacketType.PUBLISH)
      assert.equal(p.topic, 'p/big')
      assert.ok(s.raw(p).length <= 100)
    },
  )

  test(
    "QoS above the broker's Maximum QoS, or RETAIN when Retain Available is 0, is refused locally [MQTT-3.2.2-11] [MQTT-3.2.2-14]",
    T,
    async () => {
      const { client, s } = await v5Rig({}, { maximumQoS: 1, retainAvailable: false })
      await assert.rejects(
        client.publish('p/q', 'x', { qos: 2 }),
        (e: unknown) => e instanceof ServerLimitError && e.limit === 'maximumQoS' && e.reasonCode === 0x9b,
      )
      await assert.rejects(
        client.publish('p/q', 'x', { retain: true }),
        (e: unknown) =>
          e instanceof ServerLimitError && e.limit === 'retainAvailable' && e.reasonCode === 0x9a,
      )
      const ok = client.publish('p/q', 'fine', { qos: 1 })
      const p = await s.next(PacketType.PUBLISH)
      assert.equal(p.payload.toString(), 'fine')
      s.send({ type: PacketType.PUBACK, packetId: p.packetId })
      await ok
    },
  )

  test(
    'a topic alias or subscription identifier among the publish properties is refused [MQTT-3.3.4-6]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      await assert.rejects(
        client.publish('p/x', 'x', { properties: { topicAlias: 1 } }),
        (e: unknown) => e instanceof PetrelError && e.code === 'PETREL_INVALID_PROPERTY',
      )
      await assert.rejects(
        client.publish('p/x', 'x', { properties: { subscriptionIdentifiers: [1] } }),
        (e: unknown) => e instanceof PetrelError && e.code === 'PETREL_INVALID_PROPERTY',
      )
      await s.nothingFor(50)
    },
  )

  test('received messages expose their properties, subscription identifiers included', T, async () => {
    const { client, s } = await v5Rig()
    const got: unknown[] = []
    client.on('message', (_t, _p, m) => got.push(m.properties))
    s.send({
      type: PacketType.PUBLISH,
      topic: 'in/x',
      payload: Buffer.from('hi'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 9,
      properties: {
        subscriptionIdentifiers: [3, 70_000],
        contentType: 'text/plain',
        userProperties: [['k', 'v']],
        messageExpiryInterval: 12,
      },
    })
    const ack = await s.next(PacketType.PUBACK)
    assert.equal(ack.packetId, 9)
    await until(() => got.length === 1, 1000, 'the message')
    assert.deepEqual(got[0], {
      subscriptionIdentifiers: [3, 70_000],
      contentType: 'text/plain',
      userProperties: [['k', 'v']],
      messageExpiryInterval: 12,
    })
  })

  test(
    'the broker going over our Receive Maximum with QoS 2 flows: DISCONNECT 0x93 [MQTT-3.3.4-9]',
    T,
    async () => {
      const { s } = await v5Rig({ receiveMaximum: 1 })
      assert.equal(s.connect.properties?.receiveMaximum, 1)
      const q2 = (packetId: number) =>
        s.send({
          type: PacketType.PUBLISH,
          topic: 'q',
          payload: Buffer.from('x'),
          qos: 2,
          retain: false,
          dup: false,
          packetId,
        })
      q2(1)
      assert.equal((await s.next(PacketType.PUBREC)).packetId, 1)
      q2(1) // a re-send of the same flow is fine
      assert.equal((await s.next(PacketType.PUBREC)).packetId, 1)
      q2(2) // a second flow before PUBREL of the first is one too many
      assert.equal((await s.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.RECEIVE_MAXIMUM_EXCEEDED)
    },
  )

  test('a packet over our Maximum Packet Size: DISCONNECT 0x95 Packet too large', T, async () => {
    const { s } = await v5Rig({ maximumPacketSize: 64 })
    assert.equal(s.connect.properties?.maximumPacketSize, 64)
    s.send({
      type: PacketType.PUBLISH,
      topic: 'q',
      payload: Buffer.alloc(100),
      qos: 0,
      retain: false,
      dup: false,
      packetId: 0,
    })
    assert.equal((await s.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.PACKET_TOO_LARGE)
  })
})
