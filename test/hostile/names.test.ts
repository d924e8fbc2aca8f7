import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, ReasonCode, SUBACK_FAILURE } from '../../src/protocol/index.js'
import { assertBelow, MB, Probe, peakGrowth } from '../helpers/hostile.js'
import { connectPacket, hex, startBroker } from '../helpers/raw-client.js'

/**
 * Names a client chooses: topics and filters of 65 000 levels, empty topics, `$` topics,
 * and the names of Object.prototype's properties (`__proto__`, `constructor`, `toString`)
 * as client ids, user names, topics, filters and share names (Aedes' GHSA-52qw-whmv-87c5).
 * Each is refused with the protocol's answer or handled like any other name; the broker
 * keeps serving everyone else.
 */

const deep = (n: number): string => '/'.repeat(n - 1)
const PROTO_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']

test('65 000-level filters are refused (SUBACK 0x80, MQTT 5 0x8F) and 65 000-level topics closed (MQTT 5: PUBACK 0x90), counted; others served', async (t) => {
  const tb = await startBroker({}, t)
  const probe = await Probe.start(tb, t)
  const grown = await peakGrowth(async () => {
    for (let round = 0; round < 20; round++) {
      const c = await tb.connect()
      assert.deepEqual(
        (
          await c.subscribe([
            { topic: deep(65_000), qos: 0 },
            { topic: 'ok', qos: 0 },
          ])
        ).granted,
        [SUBACK_FAILURE, 0],
      )
      // UNSUBSCRIBE of the same: answered, nothing removed
      c.send({
        type: PacketType.UNSUBSCRIBE,
        packetId: c.packetId(),
        topics: [deep(65_000), `${'+/'.repeat(32_000)}#`],
      })
      await c.next(PacketType.UNSUBACK)
      c.publish(deep(65_000), 'deep')
      await c.closed(1000)
      const v5 = await tb.connect({ protocolVersion: 5 })
      const ack = await v5.subscribe([
        { topic: `${'+/'.repeat(32_000)}#`, qos: 1 },
        { topic: `$share/g/${deep(65_000)}`, qos: 1 },
      ])
      assert.deepEqual(ack.granted, [ReasonCode.TOPIC_FILTER_INVALID, ReasonCode.TOPIC_FILTER_INVALID])
      const id = v5.publish(deep(65_000), 'deep', { qos: 1 })
      const puback = await v5.next(PacketType.PUBACK)
      assert.equal(puback.packetId, id)
      assert.equal(puback.reasonCode, ReasonCode.TOPIC_NAME_INVALID)
      v5.destroy()
    }
  })
  assertBelow(grown, 16 * MB, 'memory grew')
  assert.ok(tb.broker.stats.limits['topic-levels'] >= 80)
  await probe.stop('65 000-level topics and filters')
})

test('a will topic of 65 000 levels is refused at CONNECT (3.1.1: closed; MQTT 5: CONNACK 0x90)', async (t) => {
  const tb = await startBroker({}, t)
  const will = { topic: deep(65_000), payload: Buffer.from('w'), qos: 0 as const, retain: false }
  const c = await tb.open()
  c.send(connectPacket({ will }))
  await c.closed(1000, false)
  const v5 = await tb.open()
  v5.send(connectPacket({ protocolVersion: 5, will }))
  assert.equal((await v5.next(PacketType.CONNACK)).returnCode, ReasonCode.TOPIC_NAME_INVALID)
  await v5.closed()
})

test('zero-length topics: a PUBLISH to "" is closed as malformed (MQTT 5 without an alias: a Protocol Error); a "" filter is refused', async (t) => {
  const tb = await startBroker({}, t)
  const sub = await tb.connect()
  await sub.subscribe('#', 0)
  const c = await tb.connect()
  assert.deepEqual((await c.subscribe('', 0)).granted, [SUBACK_FAILURE])
  // PUBLISH QoS 0, topic length 0, payload 'x' [MQTT-4.7.3-1]
  c.sendRaw('30 03 00 00 78')
  await c.closed(1000)
  const v5 = await tb.connect({ protocolVersion: 5 })
  assert.deepEqual((await v5.subscribe('', 0)).granted, [ReasonCode.TOPIC_FILTER_INVALID])
  // MQTT 5: topic length 0, property length 0, payload 'x': no Topic Alias to stand for it [MQTT-3.3.4-... ]
  v5.sendRaw('30 04 00 00 00 78')
  const d = await v5.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.PROTOCOL_ERROR)
  await v5.closed()
  await sub.nothingFor(100)
})

test('$ topics: a client may not publish into $SYS; other $ topics go only to filters that name the $ level [MQTT-4.7.2-1]', async (t) => {
  const tb = await startBroker({}, t)
  const all = await tb.connect()
  await all.subscribe([
    { topic: '#', qos: 0 },
    { topic: '+/x', qos: 0 },
  ])
  const dollar = await tb.connect()
  await dollar.subscribe([
    { topic: '$foo/#', qos: 0 },
    { topic: '$SYS/#', qos: 0 },
    { topic: '$', qos: 0 },
  ])
  const c = await tb.connect()
  for (const topic of ['$SYS/broker/uptime', '$foo/x', '$', '$/x', '$$']) c.publish(topic, topic, { qos: 1 })
  for (let i = 0; i < 5; i++) await c.next(PacketType.PUBACK)
  const got = [(await dollar.next(PacketType.PUBLISH)).topic, (await dollar.next(PacketType.PUBLISH)).topic]
  assert.deepEqual(got.sort(), ['$', '$foo/x'])
  await dollar.nothingFor(100)
  await all.nothingFor(100)
  // the broker still works
  c.publish('plain/x', 'p')
  assert.equal((await all.next(PacketType.PUBLISH)).topic, 'plain/x')
})

for (const version of [4, 5] as const) {
  test(`names of Object.prototype's properties as client ids, user names, topics, filters and share names (MQTT ${version === 4 ? '3.1.1' : '5'}, GHSA-52qw-whmv-87c5)`, async (t) => {
    const tb = await startBroker({ authenticate: () => true }, t)
    // an MQTT 5 session outlives its connection only with a Session Expiry Interval
    const keep = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}
    for (const name of PROTO_NAMES) {
      // a persistent session under that id, subscribed to that name and below it, shared too
      const sub = await tb.connect({
        clientId: name,
        username: name,
        clean: false,
        protocolVersion: version,
        ...keep,
      })
      const granted = (
        await sub.subscribe([
          { topic: name, qos: 1 },
          { topic: `${name}/#`, qos: 0 },
          { topic: `$share/${name}/${name}/s`, qos: 0 },
        ])
      ).granted
      assert.deepEqual(granted, [1, 0, 0], name)
      const pub = await tb.connect({ clientId: `pub-${name}`, protocolVersion: version })
      pub.publish(name, `to ${name}`, { qos: 1, retain: true })
      await pub.next(PacketType.PUBACK)
      pub.publish(`${name}/s`, 'shared')
      const a = await sub.next(PacketType.PUBLISH)
      assert.equal(a.payload.toString(), `to ${name}`)
      sub.send({ type: PacketType.PUBACK, packetId: a.packetId })
      const b = [await sub.next(PacketType.PUBLISH), await sub.next(PacketType.PUBLISH)]
      assert.deepEqual(
        b.map((p) => p.payload.toString()),
        ['shared', 'shared'],
      )
      // the session is found again by that id, its subscription kept
      sub.destroy()
      const again = await tb.connect({ clientId: name, clean: false, protocolVersion: version, ...keep })
      assert.equal(again.connack?.sessionPresent, true, `${name}: session kept`)
      pub.publish(name, 'again', { qos: 1 })
      assert.equal((await again.next(PacketType.PUBLISH)).payload.toString(), 'again')
      // the retained message is found by that name
      const late = await tb.connect({ protocolVersion: version })
      await late.subscribe(name, 0)
      const r = await late.next(PacketType.PUBLISH)
      assert.equal(r.retain, true)
      assert.equal(r.payload.toString(), `to ${name}`)
      for (const c of [again, late]) {
        c.send({ type: PacketType.UNSUBSCRIBE, packetId: c.packetId(), topics: [name, `${name}/#`] })
        await c.next(PacketType.UNSUBACK)
      }
      await again.disconnect()
      // a clean start ends the session: a client with that id starts afresh
      const fresh = await tb.connect({ clientId: name, clean: true, protocolVersion: version })
      assert.equal(fresh.connack?.sessionPresent, false)
      await fresh.disconnect()
      pub.destroy()
      late.destroy()
    }
    // nothing leaked onto Object.prototype
    const proto = Object.prototype as Record<string, unknown>
    for (const key of ['s', 'x', '0', 'qos', 'retain']) assert.equal(proto[key], undefined, key)
    assert.equal(typeof ({} as { toString: unknown }).toString, 'function')
  })
}

test('MQTT 5 user properties named __proto__ and constructor are passed on as they came', async (t) => {
  const tb = await startBroker({}, t)
  const sub = await tb.connect({ protocolVersion: 5 })
  await sub.subscribe('props/t', 0)
  const pub = await tb.connect({
    protocolVersion: 5,
    properties: { userProperties: [['__proto__', 'x']] },
  })
  pub.publish('props/t', 'p', {
    properties: {
      userProperties: [
        ['__proto__', '{"polluted":1}'],
        ['constructor', 'c'],
        ['toString', 't'],
      ],
    },
  })
  const got = await sub.next(PacketType.PUBLISH)
  assert.deepEqual(got.properties?.userProperties, [
    ['__proto__', '{"polluted":1}'],
    ['constructor', 'c'],
    ['toString', 't'],
  ])
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined)
})

test('a client id of 60 000 bytes (within maxConnectSize), and ids of odd UTF-8, are served like any other', async (t) => {
  const tb = await startBroker({}, t)
  for (const clientId of ['i'.repeat(60_000), '\u{1F600}/+#$', ' ', '\u0000x'.slice(1)]) {
    const c = await tb.connect({ clientId })
    await c.subscribe('odd/t', 0)
    c.publish('odd/t', 'x')
    await c.next(PacketType.PUBLISH)
    await c.disconnect()
  }
  // a client id with U+0000 is malformed [MQTT-1.5.4-2]: closed
  const bad = await tb.open()
  bad.sendRaw(hex('10 0f 00 04 4d 51 54 54 04 02 00 00 00 03 61 00 62'))
  await bad.closed(1000)
})
