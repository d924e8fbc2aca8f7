/**
 * MQTT 5 over WebSocket: the same listener serves MQTT 5 clients; the subprotocol, the
 * binary-frames rule and frame boundaries hold for them as for 3.1.1 (section 6).
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { LOOPBACK } from '../../helpers/net.js'
import { connectPacket } from '../../helpers/raw-client.js'
import { upgrade, WsMqtt } from './helpers.js'

const broker = new Broker({ sysInterval: 0 })
after(() => broker.close())

async function open(): Promise<WsMqtt> {
  const l = await broker.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
  const u = await upgrade(`ws://${LOOPBACK}:${l.port}/mqtt`, ['mqtt'])
  assert.ok(u.ok)
  assert.equal(u.protocol, 'mqtt', 'the server selects "mqtt" [MQTT-6.0.0-4]')
  return new WsMqtt(u.ws, 5)
}

test('an MQTT 5 CONNECT one byte per frame, then SUBSCRIBE, PUBLISH and PINGREQ in one frame, are all answered [MQTT-6.0.0-2]', async () => {
  const c = await open()
  const connect = encode(
    connectPacket({ protocolVersion: 5, clientId: 'v5-ws', properties: { sessionExpiryInterval: 0 } }),
    5,
  )
  for (let i = 0; i < connect.length; i++) c.ws.send(connect.subarray(i, i + 1))
  const sub = encode(
    { type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'v5/ws', qos: 1 }] },
    5,
  )
  const pub = encode(
    {
      type: PacketType.PUBLISH,
      topic: 'v5/ws',
      payload: Buffer.from('m'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 2,
      properties: { contentType: 'text/plain' },
    },
    5,
  )
  c.ws.send(Buffer.concat([sub, pub, encode({ type: PacketType.PINGREQ }, 5)]))
  const got = await c.waitPackets(5)
  assert.deepEqual(
    got.map((p) => p.type).sort(),
    [
      PacketType.CONNACK,
      PacketType.PUBLISH,
      PacketType.PUBACK,
      PacketType.SUBACK,
      PacketType.PINGRESP,
    ].sort(),
  )
  const m = got.find((p) => p.type === PacketType.PUBLISH)
  assert.equal(m?.type === PacketType.PUBLISH && m.properties?.contentType, 'text/plain')
  c.ws.close()
})

test('an MQTT 5 client that sends a text frame is disconnected (close 1003) [MQTT-6.0.0-1]', async () => {
  const c = await open()
  c.send(connectPacket({ protocolVersion: 5, clientId: 'v5-text' }), 5)
  await c.waitPackets(1)
  c.ws.send('not binary')
  assert.equal(await c.whenClosed(), 1003)
})
