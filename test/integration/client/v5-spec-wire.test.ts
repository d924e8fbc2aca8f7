/**
 * Petrel's client at MQTT 5 on the wire, against a scripted broker: the form of what
 * it sends (flags, identifiers, lengths, property lengths, the CONNECT payload), what
 * it refuses to send, and how it answers malformed packets from the broker.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { connect, PacketType, ReasonCode } from '../../../src/index.js'
import type { Packet } from '../../../src/protocol/index.js'
import { hex } from '../../helpers/raw-client.js'
import { type FakeSession, startFakeBroker } from './fake-broker.js'
import { T, until } from './suite.js'
import { track, v5Rig } from './v5-rig.js'

const quiet = (p: Promise<unknown>): void => void p.catch(() => {})

/** Rejects with an Error, and sends nothing for it. */
async function refusedLocally(s: FakeSession, what: string, attempt: () => Promise<unknown>): Promise<void> {
  const r = await Promise.resolve()
    .then(attempt)
    .then(
      () => null,
      (e: unknown) => e,
    )
  assert.ok(r instanceof Error, `${what}: rejected`)
  await s.nothingFor(50)
}

describe('MQTT 5 client on the wire: normative statements', () => {
  test(
    'CONNECT: payload in order client id, will properties, will topic, will payload, user name, password; flags agree [MQTT-3.1.3-1] [MQTT-3.1.3-3] [MQTT-3.1.2-9] [MQTT-3.1.2-17] [MQTT-3.1.2-19]',
    T,
    async () => {
      const fb = await startFakeBroker()
      const pending = connect(fb.url, {
        protocolVersion: 5,
        reconnect: false,
        keepalive: 0,
        clientId: 'cid',
        username: 'u',
        password: 'p',
        will: { topic: 'w', payload: 'wp', qos: 1, retain: true, properties: { contentType: 'ct' } },
      })
      const s = await fb.acceptWith()
      track(await pending)
      const raw = s.raw(s.connect)
      // flags: user name, password, will retain, will QoS 1, will, clean start
      assert.equal(raw[9], 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02)
      const expected = hex('0003 636964 05 03 0002 6374 0001 77 0002 7770 0001 75 0001 70')
      assert.deepEqual(raw.subarray(raw.length - expected.length), expected)
    },
  )

  test(
    'CONNECT without will, user name or password: those flags, Will QoS and Will Retain are 0, and the fields absent [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-16] [MQTT-3.1.2-18] [MQTT-3.1.3-4] [MQTT-3.1.2-4]',
    T,
    async () => {
      const fb = await startFakeBroker()
      const pending = connect(fb.url, {
        protocolVersion: 5,
        reconnect: false,
        keepalive: 0,
        clientId: 'é',
        clean: true,
      })
      const s = await fb.acceptWith()
      track(await pending)
      const raw = s.raw(s.connect)
      assert.equal(raw[9], 0x02, 'only Clean Start')
      assert.deepEqual(
        raw.subarray(raw.length - 4),
        hex('0002 c3a9'),
        'the client id, UTF-8, and nothing after it',
      )
    },
  )

  test(
    'QoS 0 PUBLISH: no packet id, DUP 0, Property Length 0; QoS 1: a non-zero id, DUP 0 [MQTT-2.2.1-2] [MQTT-2.2.2-1] [MQTT-3.3.1-2] [MQTT-4.3.1-1] [MQTT-4.3.2-1] [MQTT-4.3.2-2] [MQTT-1.5.5-1]',
    T,
    async () => {
      const { client, s } = await v5Rig({ topicAliases: false })
      quiet(client.publish('t', 'x', { qos: 0 }))
      const p0 = await s.next(PacketType.PUBLISH)
      assert.deepEqual(s.raw(p0), hex('30 05 0001 74 00 78'))
      quiet(client.publish('t', Buffer.alloc(200), { qos: 1 }))
      const p1 = await s.next(PacketType.PUBLISH)
      const raw = s.raw(p1)
      assert.equal(raw[0], 0x32)
      // topic (3) + packet id (2) + property length (1) + payload (200) = 206, in two bytes
      assert.deepEqual(raw.subarray(1, 3), Buffer.from([(206 & 0x7f) | 0x80, 1]))
      assert.ok(p1.packetId > 0)
    },
  )

  test('reserved flags: SUBSCRIBE, UNSUBSCRIBE and PUBREL go out with 0010 [MQTT-2.1.3-1]', T, async () => {
    const { client, s } = await v5Rig()
    quiet(client.subscribe('f/s', { qos: 1 }))
    assert.equal(s.raw(await s.next(PacketType.SUBSCRIBE))[0], 0x82)
    quiet(client.unsubscribe('f/s'))
    assert.equal(s.raw(await s.next(PacketType.UNSUBSCRIBE))[0], 0xa2)
    quiet(client.publish('f/p', 'x', { qos: 2 }))
    const p = await s.next(PacketType.PUBLISH)
    s.send({ type: PacketType.PUBREC, packetId: p.packetId })
    assert.equal(s.raw(await s.next(PacketType.PUBREL))[0], 0x62)
  })

  test(
    'topics and filters the spec forbids are refused locally, before anything is sent [MQTT-3.3.2-2] [MQTT-4.7.0-1] [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.3-1] [MQTT-4.7.3-2] [MQTT-4.7.3-3] [MQTT-3.3.2-14]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      for (const topic of ['a/+', 'a/#', '', 'a\u0000b', 'x'.repeat(65_536)]) {
        await refusedLocally(s, `publish ${topic.slice(0, 8)}`, () => client.publish(topic, 'x'))
      }
      for (const filter of ['a/#/b', 'a#', 'a+', '', 'a\u0000']) {
        await refusedLocally(s, `subscribe ${filter}`, () => client.subscribe(filter))
      }
      await refusedLocally(s, 'response topic r/#', () =>
        client.publish('ok', 'x', { properties: { responseTopic: 'r/#' } }),
      )
    },
  )

  test(
    'PUBACK, PUBREC and PUBCOMP from the client: the success code, no properties, within a small Maximum Packet Size [MQTT-3.4.2-1] [MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-1] [MQTT-3.5.2-2] [MQTT-3.5.2-3] [MQTT-3.7.2-1] [MQTT-3.7.2-2] [MQTT-3.7.2-3] [MQTT-3.6.2-1] [MQTT-3.6.2-2] [MQTT-3.6.2-3]',
    T,
    async () => {
      const { client, s } = await v5Rig({}, { maximumPacketSize: 16 })
      s.send({
        type: PacketType.PUBLISH,
        topic: 'a',
        payload: Buffer.from('x'),
        qos: 1,
        retain: false,
        dup: false,
        packetId: 1,
      })
      s.send({
        type: PacketType.PUBLISH,
        topic: 'a',
        payload: Buffer.from('x'),
        qos: 2,
        retain: false,
        dup: false,
        packetId: 2,
      })
      const acks: Packet[] = [await s.next(PacketType.PUBACK), await s.next(PacketType.PUBREC)]
      s.send({ type: PacketType.PUBREL, packetId: 2 })
      acks.push(await s.next(PacketType.PUBCOMP))
      quiet(client.publish('a', 'x', { qos: 2 }))
      const p = await s.next(PacketType.PUBLISH)
      s.send({ type: PacketType.PUBREC, packetId: p.packetId })
      acks.push(await s.next(PacketType.PUBREL))
      for (const a of acks) {
        assert.equal((a as { reasonCode?: number }).reasonCode ?? 0, 0)
        assert.ok(s.raw(a).length <= 5, 'no properties')
      }
    },
  )

  test(
    'a topic with a zero width no-break space reaches the application unchanged [MQTT-1.5.4-3]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      const got: string[] = []
      client.on('message', (topic) => got.push(topic))
      s.send({
        type: PacketType.PUBLISH,
        topic: '\uFEFFbom',
        payload: Buffer.from('x'),
        qos: 0,
        retain: false,
        dup: false,
        packetId: 0,
      })
      await until(() => got.length === 1, 2000, 'the message')
      assert.equal(got[0], '\uFEFFbom')
    },
  )

  const malformed: [string, string][] = [
    ['a topic with a surrogate [MQTT-1.5.4-1] [MQTT-3.3.2-1]', '30 07 00 04 61 ed a0 80 00'],
    ['a topic holding U+0000 [MQTT-1.5.4-2] [MQTT-4.7.3-2]', '30 05 00 02 61 00 00'],
    ['a user property name that is not UTF-8 [MQTT-1.5.7-1]', '30 0b 00 01 61 07 26 00 01 ff 00 01 61'],
    ['a Response Topic that is not UTF-8 [MQTT-3.3.2-13]', '30 08 00 01 61 04 08 00 01 ff'],
    ['a Content Type that is not UTF-8 [MQTT-3.3.2-19]', '30 08 00 01 61 04 03 00 01 ff'],
    ['a PUBLISH of QoS 3 [MQTT-3.3.1-4]', '36 06 00 01 61 00 01 00'],
    ['a PUBLISH topic with a wildcard [MQTT-3.3.2-2] [MQTT-4.7.0-1]', '30 06 00 03 61 2f 23 00'],
    ['a PUBREL with flags 0000 [MQTT-2.1.3-1]', '60 02 00 01'],
  ]
  for (const [what, bytes] of malformed) {
    test(`the broker sending ${what} gets DISCONNECT 0x81 or 0x82 and a close`, T, async () => {
      const { s } = await v5Rig()
      s.socket.write(hex(bytes))
      const d = await s.next(PacketType.DISCONNECT)
      assert.ok(
        ([ReasonCode.MALFORMED_PACKET, ReasonCode.PROTOCOL_ERROR] as number[]).includes(d.reasonCode ?? 0),
        `0x${(d.reasonCode ?? 0).toString(16)}`,
      )
      await s.closed()
    })
  }

  test('QoS 2 received: PUBCOMP comes after the message expired [MQTT-4.3.3-13]', T, async () => {
    const { s } = await v5Rig()
    s.send({
      type: PacketType.PUBLISH,
      topic: 'exp',
      payload: Buffer.from('x'),
      qos: 2,
      retain: false,
      dup: false,
      packetId: 9,
      properties: { messageExpiryInterval: 1 },
    })
    await s.next(PacketType.PUBREC)
    await new Promise((r) => setTimeout(r, 1200))
    s.send({ type: PacketType.PUBREL, packetId: 9 })
    const comp = await s.next(PacketType.PUBCOMP)
    assert.deepEqual([comp.packetId, comp.reasonCode ?? 0], [9, 0])
  })
})
