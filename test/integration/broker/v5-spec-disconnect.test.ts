/**
 * MQTT 5.0 sections 3.12, 3.14 and 3.15 (PINGREQ, DISCONNECT, AUTH) and 4.13 (errors) on the broker,
 * statement by statement, over TCP with level-5 clients.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AuthAnswer, ClientInfo } from '../../../src/broker/options.js'
import { PacketType, ReasonCode } from '../../../src/protocol/index.js'
import { startBroker, uniqueId } from '../../helpers/raw-client.js'

const METHOD = 'SPEC'

/** Challenges once with a long challenge; accepts the answer 'yes'. */
function hook(
  _c: ClientInfo,
  _u: string | undefined,
  _p: Buffer | undefined,
  auth?: { method: string; data: Buffer | undefined },
): AuthAnswer {
  if (auth === undefined) return true
  if (auth.method !== METHOD) return ReasonCode.BAD_AUTHENTICATION_METHOD
  return {
    challenge: Buffer.from('c'),
    next: (d) => (d?.toString() === 'yes' ? { success: Buffer.from('ok') } : false),
  }
}

const tb = await startBroker({ authenticate: hook })

const DISCONNECT_CODES = new Set([
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97,
  0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
])

test('PINGREQ from a v5 client: PINGRESP, each time [MQTT-3.12.4-1]', async () => {
  const c = await tb.connect({ protocolVersion: 5 })
  for (let i = 0; i < 3; i++) {
    c.sendRaw('c0 00')
    assert.deepEqual(c.raw(await c.next(PacketType.PINGRESP)), Buffer.from([0xd0, 0x00]))
  }
  await c.nothingFor(50)
})

test('DISCONNECT with a reserved flag set: DISCONNECT 0x81 from the broker, then the close [MQTT-3.14.1-1] [MQTT-4.13.1-1]', async () => {
  const c = await tb.connect({ protocolVersion: 5 })
  c.sendRaw('e1 00')
  assert.equal((await c.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.MALFORMED_PACKET)
  await c.closed(1000, false)
})

test('AUTH with a reserved flag set: DISCONNECT 0x81 Malformed Packet [MQTT-3.15.1-1]', async () => {
  const c = await tb.connect({ protocolVersion: 5 })
  c.sendRaw('f1 00')
  assert.equal((await c.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.MALFORMED_PACKET)
  await c.closed(1000, false)
})

test('a session taken over: DISCONNECT 0x8E, then nothing more on that connection, and it is closed [MQTT-3.14.2-1] [MQTT-3.14.4-1] [MQTT-3.14.4-2] [MQTT-3.14.2-2]', async () => {
  const id = uniqueId('spec-takeover')
  const topic = uniqueId('spec/takeover')
  const old = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
  })
  await old.subscribe(topic, 1)
  const p = await tb.connect({ protocolVersion: 5 })
  const fresh = await tb.open()
  fresh.send({
    type: PacketType.CONNECT,
    protocolName: 'MQTT',
    protocolVersion: 5,
    clean: false,
    keepalive: 0,
    clientId: id,
    properties: { sessionExpiryInterval: 60 },
  })
  const d = await old.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.SESSION_TAKEN_OVER)
  assert.ok(DISCONNECT_CODES.has(d.reasonCode!))
  assert.equal(d.properties?.sessionExpiryInterval, undefined)
  p.publish(topic, 'after takeover', { qos: 1 })
  await p.next(PacketType.PUBACK)
  await old.closed(1000, false) // no PUBLISH (or anything) after the DISCONNECT
  assert.equal((await fresh.next(PacketType.CONNACK)).sessionPresent, true)
  assert.equal((await fresh.next(PacketType.PUBLISH)).payload.toString(), 'after takeover')
})

test('a server DISCONNECT to a client with a small Maximum Packet Size carries no Reason String or User Property [MQTT-3.14.2-3] [MQTT-3.14.2-4]', async () => {
  const c = await tb.connect({ protocolVersion: 5, properties: { maximumPacketSize: 6 } })
  c.sendRaw('e1 00')
  const d = await c.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.MALFORMED_PACKET)
  assert.ok(c.raw(d).length <= 6)
  assert.equal(d.properties?.reasonString, undefined)
  assert.equal(d.properties?.userProperties, undefined)
  await c.closed(1000, false)
})

test('a client DISCONNECT with a reason of 0x80 or more: the broker closes the connection and publishes the will, as for any reason but 0x00 [MQTT-4.13.2-1] [MQTT-3.14.4-3]', async () => {
  const topic = uniqueId('spec/will')
  const w = await tb.connect({ protocolVersion: 5 })
  await w.subscribe(topic, 0)
  const c = await tb.connect({
    protocolVersion: 5,
    will: { topic, payload: Buffer.from('gone'), qos: 0, retain: false },
  })
  c.send({ type: PacketType.DISCONNECT, reasonCode: ReasonCode.UNSPECIFIED_ERROR })
  await c.closed(1000, false)
  assert.equal((await w.next(PacketType.PUBLISH)).payload.toString(), 'gone')
})

test('a CONNACK of 0x80 or more closes the connection, with no DISCONNECT before or after it [MQTT-4.13.2-1] [MQTT-3.14.0-1] [MQTT-4.12.0-1]', async () => {
  const c = await tb.open()
  const ack = await c.connect({ protocolVersion: 5, properties: { authenticationMethod: 'NOPE' } })
  assert.equal(ack.returnCode, ReasonCode.BAD_AUTHENTICATION_METHOD)
  await c.closed(1000, false)
})

test('AUTH during an exchange carries reason 0x18 and the method, and no Reason String or User Property past the client Maximum Packet Size [MQTT-4.12.0-2] [MQTT-4.12.0-5] [MQTT-3.15.2-1] [MQTT-3.15.2-2] [MQTT-3.15.2-3]', async () => {
  const c = await tb.open()
  c.send({
    type: PacketType.CONNECT,
    protocolName: 'MQTT',
    protocolVersion: 5,
    clean: true,
    keepalive: 0,
    clientId: uniqueId('spec-auth'),
    properties: { authenticationMethod: METHOD, maximumPacketSize: 16 },
  })
  const a = await c.next(PacketType.AUTH)
  assert.equal(a.reasonCode, ReasonCode.CONTINUE_AUTHENTICATION)
  assert.equal(a.properties?.authenticationMethod, METHOD)
  assert.equal(a.properties?.reasonString, undefined)
  assert.equal(a.properties?.userProperties, undefined)
  assert.ok(c.raw(a).length <= 16)
  c.send({
    type: PacketType.AUTH,
    reasonCode: ReasonCode.CONTINUE_AUTHENTICATION,
    properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('yes') },
  })
  const ack = await c.next(PacketType.CONNACK)
  assert.equal(ack.returnCode, 0)
  assert.equal(ack.properties?.authenticationMethod, METHOD)
})
