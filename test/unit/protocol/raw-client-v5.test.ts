/**
 * The raw test client speaks MQTT 5 after a level-5 CONNECT: checked against a
 * scripted server over TCP on 127.0.0.1 that reads with our decoder (switched to
 * version 5 after the CONNECT, as a broker does) and answers in MQTT 5.
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { after, test } from 'node:test'
import { Decoder, encode, type Packet, PacketType } from '../../../src/protocol/index.js'
import { RawClient } from '../../helpers/raw-client.js'

/** A server that answers each packet with what `reply` returns, in MQTT 5 once CONNECT said so. */
async function scriptedServer(reply: (p: Packet) => Packet[]): Promise<{ port: number; got: Packet[] }> {
  const got: Packet[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    let version: 4 | 5 = 4
    const decoder: Decoder = new Decoder((p) => {
      got.push(p)
      if (p.type === PacketType.CONNECT && p.protocolVersion === 5) version = decoder.protocolVersion = 5
      for (const r of reply(p)) socket.write(encode(r, version))
    })
    socket.on('data', (chunk) => decoder.push(chunk))
    socket.on('error', () => {})
  })
  after(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  assert.ok(address !== null && typeof address === 'object')
  return { port: address.port, got }
}

test('a level-5 CONNECT switches the raw client to MQTT 5 for the CONNACK and everything after', async () => {
  const { port, got } = await scriptedServer((p) => {
    switch (p.type) {
      case PacketType.CONNECT:
        return [
          {
            type: PacketType.CONNACK,
            sessionPresent: false,
            returnCode: 0,
            properties: { topicAliasMaximum: 5, assignedClientIdentifier: 'x' },
          },
        ]
      case PacketType.SUBSCRIBE:
        return [
          { type: PacketType.SUBACK, packetId: p.packetId, granted: [1], properties: { reasonString: 'ok' } },
        ]
      case PacketType.PUBLISH:
        return [{ ...p, topic: '', properties: { ...p.properties, topicAlias: 1 } }]
      default:
        return []
    }
  })
  const c = await RawClient.open(port)
  assert.equal(c.protocolVersion, 4)
  const ack = await c.connect({ protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  assert.equal(c.protocolVersion, 5)
  assert.deepEqual(ack.properties, { topicAliasMaximum: 5, assignedClientIdentifier: 'x' })

  const suback = await c.subscribe(
    [{ topic: 'a/#', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 2 }],
    0,
    undefined,
    { subscriptionIdentifier: 9 },
  )
  assert.deepEqual(suback.properties, { reasonString: 'ok' })

  c.publish('a/b', 'hi', { qos: 1, properties: { contentType: 'text/plain' } })
  const echo = await c.next(PacketType.PUBLISH)
  assert.equal(echo.topic, '')
  assert.deepEqual(echo.properties, { contentType: 'text/plain', topicAlias: 1 })
  // its wire bytes: the empty topic name, then packet id 2 (SUBSCRIBE took 1)
  assert.equal(c.raw(echo).subarray(2, 6).toString('hex'), '00000002')

  await c.disconnect(1000, 0x04, { reasonString: 'bye' })
  const last = got.at(-1)
  assert.deepEqual(last, {
    type: PacketType.DISCONNECT,
    reasonCode: 0x04,
    properties: { reasonString: 'bye' },
  })
  assert.deepEqual(
    (got[1] as { properties?: unknown }).properties,
    { subscriptionIdentifier: 9 },
    'SUBSCRIBE carried its properties',
  )
})

test('a raw client that never sends a level-5 CONNECT keeps speaking 3.1.1', async () => {
  const { port, got } = await scriptedServer((p) =>
    p.type === PacketType.CONNECT ? [{ type: PacketType.CONNACK, sessionPresent: false, returnCode: 0 }] : [],
  )
  const c = await RawClient.open(port)
  const ack = await c.connect()
  assert.equal(c.protocolVersion, 4)
  assert.deepEqual(ack, { type: PacketType.CONNACK, sessionPresent: false, returnCode: 0 })
  assert.equal(c.raw(ack).toString('hex'), '20020000')
  await c.disconnect()
  assert.deepEqual(got.at(-1), { type: PacketType.DISCONNECT })
})
