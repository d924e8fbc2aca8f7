/**
 * MQTT 5 sessions on the broker: Clean Start and Session Expiry Interval (the session
 * outlives its connection by exactly that long), a DISCONNECT changing it, and the
 * `sessionExpiry` option as its ceiling.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, ReasonCode, SESSION_NEVER_EXPIRES } from '../../../src/protocol/index.js'
import { delay, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

/** Connects `id` at v5 and returns whether the session was present. */
async function present(id: string, clean: boolean, expiry?: number): Promise<boolean> {
  const c = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    clean,
    ...(expiry === undefined ? {} : { properties: { sessionExpiryInterval: expiry } }),
  })
  const p = c.connack!.sessionPresent
  await c.disconnect()
  return p
}

test('a session with no Session Expiry Interval ends with its connection [MQTT-3.1.2-23] [MQTT-3.2.2-3]', async () => {
  const id = uniqueId('v5s')
  const before = tb.broker.sessionCount
  assert.equal(await present(id, true), false)
  assert.equal(await present(id, false), false, 'nothing to resume')
  assert.equal(tb.broker.sessionCount, before)
})

test('a session outlives its connection by its Session Expiry Interval, then ends [MQTT-3.1.2-5] [MQTT-4.1.0-2]', async () => {
  const id = uniqueId('v5s')
  assert.equal(await present(id, true, 1), false, 'Clean Start 1: session present 0 [MQTT-3.2.2-2]')
  assert.equal(await present(id, false, 1), true, 'resumed in time [MQTT-3.2.2-3]')
  await delay(1300)
  assert.equal(await present(id, false, 1), false, 'gone after 1 s away [MQTT-3.1.2-6]')
})

test('keeps the subscriptions of a resumed session and starts anew on Clean Start 1 [MQTT-3.1.2-4]', async () => {
  const id = uniqueId('v5s')
  const topic = `v5s/${id}`
  const c = await tb.connect({ protocolVersion: 5, clientId: id, properties: { sessionExpiryInterval: 60 } })
  await c.subscribe(topic, 1)
  await c.disconnect()
  const pub = await tb.connect()
  pub.publish(topic, 'queued', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  const back = await tb.connect({ protocolVersion: 5, clientId: id, clean: false })
  assert.equal(back.connack!.sessionPresent, true)
  const m = await back.next(PacketType.PUBLISH)
  assert.equal(m.payload.toString(), 'queued')
  back.send({ type: PacketType.PUBACK, packetId: m.packetId })
  await back.disconnect()
  const fresh = await tb.connect({ protocolVersion: 5, clientId: id, clean: true })
  assert.equal(fresh.connack!.sessionPresent, false)
  await fresh.disconnect()
})

test('a DISCONNECT may shorten the Session Expiry Interval to 0: the session ends', async () => {
  const id = uniqueId('v5s')
  const c = await tb.connect({ protocolVersion: 5, clientId: id, properties: { sessionExpiryInterval: 60 } })
  await c.disconnect(undefined, ReasonCode.NORMAL_DISCONNECTION, { sessionExpiryInterval: 0 })
  assert.equal(await present(id, false), false)
})

test('a DISCONNECT may lengthen a non-zero Session Expiry Interval', async () => {
  const id = uniqueId('v5s')
  const c = await tb.connect({ protocolVersion: 5, clientId: id, properties: { sessionExpiryInterval: 1 } })
  await c.disconnect(undefined, ReasonCode.NORMAL_DISCONNECTION, { sessionExpiryInterval: 60 })
  await delay(1300)
  assert.equal(await present(id, false, 1), true)
})

test('a DISCONNECT raising the Session Expiry Interval from 0 is a Protocol Error: DISCONNECT 0x82, will published (3.14.2.2.2)', async () => {
  const topic = `v5s/will/${uniqueId()}`
  const sub = await tb.connect()
  await sub.subscribe(topic, 0)
  const c = await tb.connect({
    protocolVersion: 5,
    will: { topic, payload: Buffer.from('bye'), qos: 0, retain: false },
  })
  c.send({ type: PacketType.DISCONNECT, properties: { sessionExpiryInterval: 30 } })
  const d = await c.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.PROTOCOL_ERROR)
  await c.closed()
  const w = await sub.next(PacketType.PUBLISH)
  assert.equal(w.payload.toString(), 'bye', 'not a valid DISCONNECT: the will is published')
})

test('lowers a Session Expiry Interval above sessionExpiry and says so in CONNACK', async (t) => {
  const b = await startBroker({ sessionExpiry: 100 }, t)
  for (const asked of [3600, SESSION_NEVER_EXPIRES]) {
    const c = await b.connect({ protocolVersion: 5, properties: { sessionExpiryInterval: asked } })
    assert.equal(c.connack!.properties?.sessionExpiryInterval, 100, `asked ${asked}`)
  }
  const within = await b.connect({ protocolVersion: 5, properties: { sessionExpiryInterval: 50 } })
  assert.equal(within.connack!.properties?.sessionExpiryInterval, undefined, 'kept as asked')
})

test('a never-expiring session survives expireSessions', async (t) => {
  const b = await startBroker({ sessionExpiry: 0 }, t)
  const id = uniqueId('v5s')
  const c = await b.connect({
    protocolVersion: 5,
    clientId: id,
    properties: { sessionExpiryInterval: SESSION_NEVER_EXPIRES },
  })
  await c.disconnect()
  b.broker.expireSessions(Date.now() + 10 * 365 * 24 * 3600 * 1000)
  assert.equal(b.broker.sessionCount, 1)
  const short = uniqueId('v5s')
  const d = await b.connect({ protocolVersion: 5, clientId: short, properties: { sessionExpiryInterval: 5 } })
  await d.disconnect()
  b.broker.expireSessions(Date.now() + 6000)
  assert.equal(b.broker.sessionCount, 1, 'the 5 s one ended')
})

test('3.1.1 sessions keep their behaviour: clean session 0 persists, 1 ends with the connection', async (t) => {
  const tb = await startBroker({}, t)
  const id = uniqueId('v3s')
  const a = await tb.connect({ clientId: id, clean: false })
  await a.disconnect()
  const b = await tb.connect({ clientId: id, clean: false })
  assert.equal(b.connack!.sessionPresent, true)
  await b.disconnect()
  const c = await tb.connect({ clientId: id, clean: true })
  assert.equal(c.connack!.sessionPresent, false)
  await c.disconnect()
  assert.equal(tb.broker.sessionCount, 0)
})

test('a v5 session taken over by a new connection: the old one gets DISCONNECT 0x8E [MQTT-3.1.4-3] [MQTT-3.14.2-2]', async () => {
  const id = uniqueId('v5s')
  const first = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    properties: { sessionExpiryInterval: 30 },
  })
  const second = await tb.connect({ protocolVersion: 5, clientId: id, clean: false })
  assert.equal(second.connack!.sessionPresent, true)
  const d = await first.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.SESSION_TAKEN_OVER)
  assert.equal(d.properties?.sessionExpiryInterval, undefined, 'never from the server [MQTT-3.14.2-2]')
  await first.closed()
  await second.disconnect(undefined, ReasonCode.NORMAL_DISCONNECTION, { sessionExpiryInterval: 0 })
})

test('a 3.1.1 connection taken over is closed without DISCONNECT', async () => {
  const id = uniqueId('v3s')
  const first = await tb.connect({ clientId: id })
  await tb.connect({ clientId: id })
  await first.closed(1000, false)
})

test('broker.close() sends v5 clients DISCONNECT 0x8B (server shutting down)', async (t) => {
  const b = await startBroker({}, t)
  const v5 = await b.connect({ protocolVersion: 5 })
  const v3 = await b.connect()
  await b.broker.close()
  const d = await v5.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.SERVER_SHUTTING_DOWN)
  await v5.closed()
  await v3.closed(1000, false)
})
