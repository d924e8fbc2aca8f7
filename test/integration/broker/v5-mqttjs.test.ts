/**
 * MQTT.js at protocolVersion 5 against the broker's connection lifecycle: CONNACK
 * properties, assigned client id, session expiry, Server Keep Alive, enhanced
 * authentication and the server's DISCONNECT.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AuthAnswer } from '../../../src/broker/options.js'
import { connectMqttJs } from '../../helpers/mqttjs.js'
import { startBroker, uniqueId } from '../../helpers/raw-client.js'

function token(
  _c: unknown,
  _u: unknown,
  _p: unknown,
  auth?: { method: string; data: Buffer | undefined },
): AuthAnswer {
  if (auth === undefined) return true
  return auth.method === 'TOKEN' && auth.data?.toString() === 'let-me-in'
    ? { success: Buffer.from('welcome') }
    : false
}

const tb = await startBroker({ maxKeepalive: 60, authenticate: token })

test('MQTT.js v5 reads the CONNACK: Server Keep Alive, limits and the assigned id [MQTT-3.2.2-16] [MQTT-3.2.2-21]', async () => {
  const peer = await connectMqttJs(tb.port, { protocolVersion: 5, clientId: '', keepalive: 600 })
  try {
    const p = peer.connack.properties ?? {}
    assert.equal(peer.connack.reasonCode, 0)
    assert.equal(p.serverKeepAlive, 60)
    assert.equal(p.receiveMaximum, 1024)
    assert.equal(p.topicAliasMaximum, 10)
    assert.ok(p.assignedClientIdentifier)
  } finally {
    await peer.end()
  }
})

test('MQTT.js v5 resumes a session within its Session Expiry Interval [MQTT-3.2.2-3]', async () => {
  const clientId = uniqueId('mqttjs5')
  const opts = {
    protocolVersion: 5 as const,
    clientId,
    clean: false,
    properties: { sessionExpiryInterval: 30 },
  }
  const first = await connectMqttJs(tb.port, { ...opts, clean: true })
  assert.equal(first.connack.sessionPresent, false)
  await first.end()
  const second = await connectMqttJs(tb.port, opts)
  assert.equal(second.connack.sessionPresent, true)
  await second.end()
})

test('MQTT.js v5 is refused with the reason code of a failed authentication', async () => {
  await assert.rejects(
    connectMqttJs(tb.port, {
      protocolVersion: 5,
      properties: { authenticationMethod: 'TOKEN', authenticationData: Buffer.from('guess') },
    }),
    (err: Error & { code?: number }) => err.code === 0x87,
  )
  const ok = await connectMqttJs(tb.port, {
    protocolVersion: 5,
    properties: { authenticationMethod: 'TOKEN', authenticationData: Buffer.from('let-me-in') },
  })
  assert.equal(ok.connack.properties?.authenticationMethod, 'TOKEN')
  assert.equal(ok.connack.properties?.authenticationData?.toString(), 'welcome')
  await ok.end()
})

test('MQTT.js v5 taken over gets DISCONNECT 0x8E [MQTT-3.1.4-3]', async () => {
  const clientId = uniqueId('mqttjs5')
  const first = await connectMqttJs(tb.port, { protocolVersion: 5, clientId })
  const reason = new Promise<number | undefined>((resolve) =>
    first.client.once('disconnect', (packet) => resolve(packet.reasonCode)),
  )
  const second = await connectMqttJs(tb.port, { protocolVersion: 5, clientId })
  assert.equal(await reason, 0x8e)
  first.client.end(true)
  await second.end()
})
