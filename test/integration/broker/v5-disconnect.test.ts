/**
 * DISCONNECT both ways in MQTT 5: the broker tells a v5 client why it closes the
 * connection (protocol error, malformed packet, packet too large, Receive Maximum
 * exceeded); the client's DISCONNECT reason decides its will.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type DisconnectPacket, PacketType, ReasonCode } from '../../../src/protocol/index.js'
import { type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker({ maxPacketSize: 1024, receiveMaximum: 2 })

async function disconnected(c: RawClient): Promise<DisconnectPacket> {
  const d = await c.next(PacketType.DISCONNECT)
  await c.closed()
  assert.equal(d.properties?.sessionExpiryInterval, undefined, 'never from the server [MQTT-3.14.2-2]')
  return d
}

test('a second CONNECT is a Protocol Error: DISCONNECT 0x82 [MQTT-3.1.0-2] [MQTT-4.13.1-1]', async () => {
  const c = await tb.connect({ protocolVersion: 5 })
  c.send({
    type: PacketType.CONNECT,
    protocolName: 'MQTT',
    protocolVersion: 5,
    clean: true,
    keepalive: 0,
    clientId: 'x',
  })
  const d = await disconnected(c)
  assert.equal(d.reasonCode, ReasonCode.PROTOCOL_ERROR)
  assert.ok(d.properties?.reasonString, 'says why')
})

test('a malformed packet: DISCONNECT 0x81 [MQTT-4.13.1-1]', async () => {
  const c = await tb.connect({ protocolVersion: 5 })
  c.sendRaw('36 00') // PUBLISH QoS 3 [MQTT-3.3.1-4]
  assert.equal((await disconnected(c)).reasonCode, ReasonCode.MALFORMED_PACKET)
})

test('a packet over the Maximum Packet Size in CONNACK: DISCONNECT 0x95', async () => {
  const c = await tb.connect({ protocolVersion: 5 })
  assert.equal(c.connack!.properties?.maximumPacketSize, 1024)
  c.publish('big', Buffer.alloc(2000))
  assert.equal((await disconnected(c)).reasonCode, ReasonCode.PACKET_TOO_LARGE)
})

test('more unacknowledged QoS 2 PUBLISHes than the Receive Maximum in CONNACK: DISCONNECT 0x93 [MQTT-3.3.4-7]', async () => {
  const c = await tb.connect({ protocolVersion: 5 })
  assert.equal(c.connack!.properties?.receiveMaximum, 2)
  const first = c.publish('rm', 'a', { qos: 2 })
  await c.next(PacketType.PUBREC)
  c.publish('rm', 'b', { qos: 2 })
  await c.next(PacketType.PUBREC)
  // sent again before PUBREL: still the same two
  c.publish('rm', 'a', { qos: 2, dup: true, packetId: first })
  await c.next(PacketType.PUBREC)
  c.publish('rm', 'c', { qos: 2 })
  assert.equal((await disconnected(c)).reasonCode, ReasonCode.RECEIVE_MAXIMUM_EXCEEDED)
})

test('completed QoS 2 flows do not count against the Receive Maximum', async () => {
  const c = await tb.connect({ protocolVersion: 5 })
  for (let i = 0; i < 5; i++) {
    const id = c.publish('rm/ok', String(i), { qos: 2 })
    await c.next(PacketType.PUBREC)
    c.send({ type: PacketType.PUBREL, packetId: id })
    await c.next(PacketType.PUBCOMP)
  }
  for (let i = 0; i < 5; i++) {
    c.publish('rm/ok', String(i), { qos: 1 })
    await c.next(PacketType.PUBACK)
  }
  await c.nothingFor(50)
})

test('a 3.1.1 client breaking a rule is closed without DISCONNECT', async () => {
  const c = await tb.connect()
  c.sendRaw('36 00')
  await c.closed(1000, false)
})

test('AUTH from a client that did not use enhanced authentication: DISCONNECT 0x82 [MQTT-4.12.0-7]', async () => {
  const c = await tb.connect({ protocolVersion: 5 })
  c.send({
    type: PacketType.AUTH,
    reasonCode: ReasonCode.RE_AUTHENTICATE,
    properties: { authenticationMethod: 'X' },
  })
  assert.equal((await disconnected(c)).reasonCode, ReasonCode.PROTOCOL_ERROR)
})

/** A subscriber (3.1.1) to a fresh will topic, and a v5 client with a will to it. */
async function willPair(): Promise<{ sub: RawClient; c: RawClient }> {
  const topic = `v5d/will/${uniqueId()}`
  const sub = await tb.connect()
  await sub.subscribe(topic, 0)
  const c = await tb.connect({
    protocolVersion: 5,
    will: { topic, payload: Buffer.from('will'), qos: 0, retain: false },
  })
  return { sub, c }
}

test('DISCONNECT 0x00 discards the will [MQTT-3.14.4-3] [MQTT-3.1.2-10]', async () => {
  const { sub, c } = await willPair()
  await c.disconnect(undefined, ReasonCode.NORMAL_DISCONNECTION)
  await sub.nothingFor(200)
})

test('DISCONNECT 0x04 (disconnect with will message) publishes the will [MQTT-3.1.2-8]', async () => {
  const { sub, c } = await willPair()
  await c.disconnect(undefined, ReasonCode.DISCONNECT_WITH_WILL_MESSAGE)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'will')
})

test('a DISCONNECT with an error reason from the client publishes the will: only 0x00 deletes it [MQTT-3.1.2-8] [MQTT-3.14.4-3]', async () => {
  const { sub, c } = await willPair()
  await c.disconnect(undefined, ReasonCode.UNSPECIFIED_ERROR)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'will')
})

test('a server-sent DISCONNECT goes without its Reason String when that would pass the client Maximum Packet Size [MQTT-3.14.2-3]', async () => {
  const c = await tb.connect({ protocolVersion: 5, properties: { maximumPacketSize: 8 } })
  c.sendRaw('36 00')
  const d = await disconnected(c)
  assert.equal(d.reasonCode, ReasonCode.MALFORMED_PACKET)
  assert.equal(d.properties?.reasonString, undefined)
})

test('QoS 1 PUBLISHes waiting for an authorizePublish hook count against the Receive Maximum [MQTT-3.3.4-7]', async (t) => {
  let open!: () => void
  const gate = new Promise<void>((r) => (open = r))
  const b = await startBroker({ receiveMaximum: 2, authorizePublish: () => gate.then(() => true) }, t)
  const c = await b.connect({ protocolVersion: 5 })
  c.publish('rm/hook', 'a', { qos: 1 }) // waits for the hook
  c.publish('rm/hook', 'b', { qos: 1 }) // held behind it
  await c.nothingFor(100)
  c.publish('rm/hook', 'c', { qos: 1 }) // a third unacknowledged one
  const d = await c.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.RECEIVE_MAXIMUM_EXCEEDED)
  open()
  await c.closed()
})

test('QoS 1 PUBLISHes answered at once never count against the Receive Maximum', async (t) => {
  const b = await startBroker({ receiveMaximum: 1 }, t)
  const c = await b.connect({ protocolVersion: 5 })
  for (let i = 0; i < 20; i++) c.publish('rm/fast', String(i), { qos: 1 })
  for (let i = 0; i < 20; i++) await c.next(PacketType.PUBACK)
})
