/**
 * Will messages: published when the connection ends without DISCONNECT (network
 * loss, protocol violation, takeover), with their QoS and RETAIN; never after DISCONNECT.
 * (Keep-alive expiry is in keepalive.test.ts.)
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type QoS, type Will } from '../../../src/protocol/index.js'
import { type RawClient, startBroker, type TestBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

function will(topic: string, payload: string, qos: QoS = 0, retain = false): Will {
  return { topic, payload: Buffer.from(payload), qos, retain }
}

/** A subscriber to a fresh topic and that topic. */
async function watcher(b: TestBroker, qos: QoS = 2): Promise<{ sub: RawClient; topic: string }> {
  const topic = `will/${uniqueId()}`
  const sub = await b.connect()
  await sub.subscribe(topic, qos)
  return { sub, topic }
}

test('publishes the will when the network connection drops without DISCONNECT [MQTT-3.1.2-8]', async () => {
  const { sub, topic } = await watcher(tb, 0)
  const c = await tb.connect({ will: will(topic, 'gone') })
  c.destroy()
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.topic, topic)
  assert.equal(m.payload.toString(), 'gone')
  assert.equal(m.qos, 0)
  assert.equal(m.retain, false)
})

test('publishes the will when the client half-closes its socket without DISCONNECT [MQTT-3.1.2-8]', async () => {
  const { sub, topic } = await watcher(tb, 0)
  const c = await tb.connect({ will: will(topic, 'fin') })
  c.socket.end()
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'fin')
})

test('publishes the will at its QoS, lowered to the granted QoS [MQTT-3.1.2-14] [MQTT-3.8.4-6]', async () => {
  for (const [willQos, granted, expected] of [
    [1, 2, 1],
    [2, 2, 2],
    [2, 1, 1],
    [1, 0, 0],
  ] as const) {
    const { sub, topic } = await watcher(tb, granted)
    const c = await tb.connect({ will: will(topic, `q${willQos}`, willQos) })
    c.destroy()
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.qos, expected, `will QoS ${willQos}, granted ${granted}`)
    assert.equal(m.dup, false)
    if (expected > 0) assert.ok(m.packetId > 0)
    if (expected === 1) sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
    if (expected === 2) {
      sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
      assert.equal((await sub.next(PacketType.PUBREL)).packetId, m.packetId)
      sub.send({ type: PacketType.PUBCOMP, packetId: m.packetId })
    }
  }
})

test('publishes a will with will retain 1 as a retained message [MQTT-3.1.2-17]', async () => {
  const { sub, topic } = await watcher(tb, 1)
  const c = await tb.connect({ will: will(topic, 'kept', 1, true) })
  c.destroy()
  const live = await sub.next(PacketType.PUBLISH)
  assert.equal(live.retain, false, 'RETAIN 0 to an established subscription [MQTT-3.3.1-9]')
  sub.send({ type: PacketType.PUBACK, packetId: live.packetId })
  const late = await tb.connect()
  await late.subscribe(topic, 2)
  const r = await late.next(PacketType.PUBLISH)
  assert.equal(r.payload.toString(), 'kept')
  assert.equal(r.retain, true)
  assert.equal(r.qos, 1)
})

test('publishes a will with will retain 0 as a non-retained message [MQTT-3.1.2-16]', async () => {
  const { sub, topic } = await watcher(tb, 0)
  const c = await tb.connect({ will: will(topic, 'once', 0, false) })
  c.destroy()
  await sub.next(PacketType.PUBLISH)
  const late = await tb.connect()
  await late.subscribe(topic, 0)
  await late.nothingFor(100)
})

test('does not publish the will after DISCONNECT [MQTT-3.14.4-3] [MQTT-3.1.2-10]', async () => {
  const { sub, topic } = await watcher(tb, 0)
  const c = await tb.connect({ will: will(topic, 'never', 1, true) })
  await c.disconnect()
  await sub.nothingFor(150)
  const late = await tb.connect()
  await late.subscribe(topic, 0)
  await late.nothingFor(50)
})

test('does not publish a will when the will flag is 0 [MQTT-3.1.2-12]', async (t) => {
  const fresh = await startBroker({}, t)
  const sub = await fresh.connect()
  await sub.subscribe('#', 0)
  const c = await fresh.connect()
  c.destroy()
  await sub.nothingFor(150)
})

test('publishes the will when the server closes the connection for a protocol violation [MQTT-3.1.2-8] [MQTT-4.8.0-1]', async () => {
  const violations: [string, string][] = [
    ['second CONNECT', '10 0d 0004 4d515454 04 02 0000 0001 63'],
    ['PUBLISH QoS 3', '36 05 0001 61 0001'],
    ['wildcard in a PUBLISH topic', '30 03 0001 23'],
    ['reserved PUBACK flags', '41 02 0001'],
    ['DISCONNECT with reserved flags [MQTT-3.14.1-1]', 'e1 00'],
    ['CONNACK from a client', '20 02 00 00'],
  ]
  for (const [what, bytes] of violations) {
    const { sub, topic } = await watcher(tb, 0)
    const c = await tb.connect({ will: will(topic, what) })
    c.sendRaw(bytes)
    await c.closed()
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.payload.toString(), what)
  }
})

test('publishes the will of a connection taken over by the same client id [MQTT-3.1.4-2]', async () => {
  const { sub, topic } = await watcher(tb, 0)
  const id = uniqueId()
  const first = await tb.connect({ clientId: id, will: will(topic, 'taken over') })
  const second = await tb.connect({ clientId: id })
  await first.closed()
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'taken over')
  // the new connection has no will: dropping it publishes nothing
  second.destroy()
  await sub.nothingFor(150)
})

test('publishes the will once, however the connection ends', async () => {
  const { sub, topic } = await watcher(tb, 0)
  const c = await tb.connect({ will: will(topic, 'one') })
  c.sendRaw('30 03 0001 2b') // protocol violation, then the socket is destroyed too
  c.destroy()
  await sub.next(PacketType.PUBLISH)
  await sub.nothingFor(150)
})

test('delivers a will to a persistent session that is offline, on its reconnect [MQTT-3.1.2-5]', async () => {
  const topic = `will/${uniqueId()}`
  const id = uniqueId()
  const s = await tb.connect({ clientId: id, clean: false })
  await s.subscribe(topic, 1)
  await s.disconnect()
  const c = await tb.connect({ will: will(topic, 'while away', 1) })
  c.destroy()
  await c.closed()
  const back = await tb.open()
  assert.equal((await back.connect({ clientId: id, clean: false })).sessionPresent, true)
  const m = await back.next(PacketType.PUBLISH)
  assert.equal(m.payload.toString(), 'while away')
  assert.equal(m.qos, 1)
})

test('does not let a will publish into $SYS', async (t) => {
  const fresh = await startBroker({}, t)
  const sub = await fresh.connect()
  await sub.subscribe('$SYS/#', 0)
  const c = await fresh.connect({ will: will('$SYS/broker/fake', 'x', 0, true) })
  c.destroy()
  await sub.nothingFor(100)
  assert.equal(fresh.broker.retainedCount, 0)
})
