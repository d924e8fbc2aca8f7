/**
 * MQTT 5 topic aliases, against a scripted broker. Outbound: the client assigns
 * aliases by itself within the broker's Topic Alias Maximum, and a mapping never
 * outlives its connection: after a reconnect, re-sent PUBLISHes carry their full
 * topic and aliases start again. Inbound: aliases the broker sets are resolved;
 * a bad one ends the connection with DISCONNECT 0x94 or 0x82.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type Message, PacketType, ReasonCode } from '../../../src/index.js'
import type { PublishPacket } from '../../../src/protocol/index.js'
import { T, until } from './suite.js'
import { v5Rig } from './v5-rig.js'

function publish(topic: string, payload: string, properties?: PublishPacket['properties']): PublishPacket {
  return {
    type: PacketType.PUBLISH,
    topic,
    payload: Buffer.from(payload),
    qos: 0,
    retain: false,
    dup: false,
    packetId: 0,
    properties,
  }
}

describe('MQTT 5 client: outbound topic aliases', () => {
  test(
    'the first PUBLISH of a topic sets an alias, later ones send an empty topic [MQTT-3.3.2-12]',
    T,
    async () => {
      const { client, s } = await v5Rig({}, { topicAliasMaximum: 2 })
      for (const t of ['a/1', 'a/1', 'a/2', 'a/2', 'a/3', 'a/1'])
        void client.publish(t, 'x', { properties: { contentType: 't' } })
      const got: [string, number | undefined][] = []
      for (let i = 0; i < 6; i++) {
        const p = await s.next(PacketType.PUBLISH)
        got.push([p.topic, p.properties?.topicAlias])
        assert.equal(p.properties?.contentType, 't')
      }
      // bounded by the broker's Topic Alias Maximum [MQTT-3.2.2-17] [MQTT-3.3.2-9]; never alias 0 [MQTT-3.3.2-8]
      assert.deepEqual(got, [
        ['a/1', 1],
        ['', 1],
        ['a/2', 2],
        ['', 2],
        ['a/3', undefined],
        ['', 1],
      ])
    },
  )

  test(
    'no aliases when the broker allows none, or when topicAliases is false [MQTT-3.2.2-18]',
    T,
    async () => {
      const a = await v5Rig()
      void a.client.publish('n/1', 'x')
      void a.client.publish('n/1', 'x')
      for (let i = 0; i < 2; i++) {
        const p = await a.s.next(PacketType.PUBLISH)
        assert.equal(p.topic, 'n/1')
        assert.equal(p.properties, undefined)
      }
      const b = await v5Rig({ topicAliases: false }, { topicAliasMaximum: 10 })
      void b.client.publish('n/1', 'x')
      void b.client.publish('n/1', 'x')
      for (let i = 0; i < 2; i++) assert.equal((await b.s.next(PacketType.PUBLISH)).topic, 'n/1')
    },
  )

  test(
    'after a reconnect, unacknowledged PUBLISHes are re-sent with their full topic and aliases start anew [MQTT-3.3.2-7]',
    T,
    async () => {
      const { fb, client, s } = await v5Rig(
        { reconnect: { minDelay: 10, maxDelay: 20 }, clean: false, sessionExpiryInterval: 60 },
        { topicAliasMaximum: 5 },
      )
      const first = [
        client.publish('r/a', '1', { qos: 1 }),
        client.publish('r/a', '2', { qos: 1 }),
        client.publish('r/b', '3', { qos: 2 }),
      ]
      const sent = [
        await s.next(PacketType.PUBLISH),
        await s.next(PacketType.PUBLISH),
        await s.next(PacketType.PUBLISH),
      ]
      assert.deepEqual(
        sent.map((p) => [p.topic, p.properties?.topicAlias]),
        [
          ['r/a', 1],
          ['', 1],
          ['r/b', 2],
        ],
      )
      s.send({ type: PacketType.PUBACK, packetId: sent[0]!.packetId })
      await first[0]
      s.destroy() // the connection drops with two flows unacknowledged
      // The new connection's CONNACK allows fewer aliases: the old map must not leak into it.
      const s2 = await fb.accept()
      assert.equal(s2.connect.clean, false)
      s2.send({
        type: PacketType.CONNACK,
        sessionPresent: true,
        returnCode: 0,
        properties: { topicAliasMaximum: 1 },
      })
      const again = [await s2.next(PacketType.PUBLISH), await s2.next(PacketType.PUBLISH)]
      assert.deepEqual(
        again.map((p) => [p.topic, p.payload.toString(), p.dup, p.properties?.topicAlias, p.packetId]),
        [
          ['r/a', '2', true, undefined, sent[1]!.packetId],
          ['r/b', '3', true, undefined, sent[2]!.packetId],
        ],
      )
      for (const p of again) {
        if (p.qos === 1) s2.send({ type: PacketType.PUBACK, packetId: p.packetId })
        else s2.send({ type: PacketType.PUBREC, packetId: p.packetId })
      }
      s2.send({ type: PacketType.PUBCOMP, packetId: (await s2.next(PacketType.PUBREL)).packetId })
      await Promise.all(first)
      // new publishes: aliases assigned again from 1, within the new maximum
      void client.publish('r/b', '4')
      void client.publish('r/b', '5')
      void client.publish('r/a', '6')
      const next = [
        await s2.next(PacketType.PUBLISH),
        await s2.next(PacketType.PUBLISH),
        await s2.next(PacketType.PUBLISH),
      ]
      assert.deepEqual(
        next.map((p) => [p.topic, p.properties?.topicAlias]),
        [
          ['r/b', 1],
          ['', 1],
          ['r/a', undefined],
        ],
      )
    },
  )
})

describe('MQTT 5 client: inbound topic aliases', () => {
  test(
    'an alias set by the broker stands for its topic in later PUBLISHes, and stays in the properties as received [MQTT-3.3.2-10]',
    T,
    async () => {
      const { client, s } = await v5Rig({ topicAliasMaximum: 3 })
      assert.equal(s.connect.properties?.topicAliasMaximum, 3)
      const got: Message[] = []
      client.on('message', (_t, _p, m) => got.push(m))
      s.send(publish('in/a', '1', { topicAlias: 3 }))
      s.send(publish('', '2', { topicAlias: 3, contentType: 'c' }))
      s.send(publish('in/b', '3', { topicAlias: 3 })) // re-mapped
      s.send(publish('', '4', { topicAlias: 3 }))
      await until(() => got.length === 4, 1000, 'four messages')
      assert.deepEqual(
        got.map((m) => [m.topic, m.payload.toString(), m.properties]),
        [
          ['in/a', '1', { topicAlias: 3 }],
          ['in/a', '2', { topicAlias: 3, contentType: 'c' }],
          ['in/b', '3', { topicAlias: 3 }],
          ['in/b', '4', { topicAlias: 3 }],
        ],
      )
    },
  )

  test(
    'an alias above our Topic Alias Maximum: DISCONNECT 0x94 Topic Alias invalid [MQTT-3.3.2-11]',
    T,
    async () => {
      const { client, s } = await v5Rig({ topicAliasMaximum: 2 })
      s.send(publish('in/a', '1', { topicAlias: 3 }))
      const d = await s.next(PacketType.DISCONNECT)
      assert.equal(d.reasonCode, ReasonCode.TOPIC_ALIAS_INVALID)
      await s.closed()
      await until(() => client.state === 'closed', 1000, 'the client to close')
    },
  )

  test('any alias when we allow none: DISCONNECT 0x94', T, async () => {
    const { s } = await v5Rig()
    s.send(publish('in/a', '1', { topicAlias: 1 }))
    assert.equal((await s.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.TOPIC_ALIAS_INVALID)
  })

  test('an alias never set on this connection: DISCONNECT 0x82 Protocol Error', T, async () => {
    const { s } = await v5Rig({ topicAliasMaximum: 2 })
    s.send(publish('', '1', { topicAlias: 2 }))
    assert.equal((await s.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.PROTOCOL_ERROR)
  })
})
