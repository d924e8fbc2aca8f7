/**
 * POST /api/v1/clients/{clientId}/kick with real clients: MQTT.js at MQTT 5 sees DISCONNECT
 * 0x98 (Administrative action) on the wire, a 3.1.1 client is closed, and either way the will
 * is published, the operator's action is logged and told as a notable event.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IDisconnectPacket } from 'mqtt'
import type { ClientSummary, Page } from '../../../src/broker/admin.js'
import { ReasonCode } from '../../../src/protocol/constants.js'
import { connectMqttJs } from '../../helpers/mqttjs.js'
import { adminRig, until } from './admin-rig.js'

test('kicks an MQTT 5 client with DISCONNECT 0x98 Administrative action, and publishes its will [MQTT-3.1.2-8]', async (t) => {
  const rig = await adminRig(t)
  const watcher = await rig.client({ clientId: 'watcher' })
  const wills: string[] = []
  watcher.on('message', (topic, payload) => wills.push(`${topic}=${payload.toString()}`))
  await watcher.subscribe('wills/#', { qos: 1 })
  const peer = await connectMqttJs(rig.port, {
    protocolVersion: 5,
    clientId: 'kick me/5',
    will: { topic: 'wills/k5', payload: Buffer.from('gone'), qos: 1, retain: false },
  })
  t.after(() => peer.client.end(true))
  const disconnect = new Promise<IDisconnectPacket>((resolve) => peer.client.once('disconnect', resolve))

  const r = await rig.call('POST', `/api/v1/clients/${encodeURIComponent('kick me/5')}/kick`)
  assert.equal(r.status, 200)
  assert.deepEqual(r.body, { kicked: true })
  assert.equal((await disconnect).reasonCode, ReasonCode.ADMINISTRATIVE_ACTION)
  await until(() => wills.length === 1, 'the will')
  assert.deepEqual(wills, ['wills/k5=gone'])
  // a clean session ends with its connection: the client is gone from the list
  const gone = await rig.get('/api/v1/clients/kick%20me%2F5')
  assert.equal(gone.status, 404)
  assert.deepEqual(
    rig.notable.filter((e) => e.kind === 'kicked').map((e) => [e.clientId, e.remoteAddress]),
    [['kick me/5', '127.0.0.1']],
  )
  const line = rig.infoLines.find((l) => l.msg.includes('kicked'))
  assert.ok(line, 'an info line for the kick')
  assert.equal((line.obj as { clientId?: string }).clientId, 'kick me/5')
})

test('kicks an MQTT 3.1.1 client by closing it; its persistent session stays, and a second kick is a 404', async (t) => {
  const rig = await adminRig(t)
  const watcher = await rig.client({ clientId: 'watcher' })
  const wills: string[] = []
  watcher.on('message', (topic) => wills.push(topic))
  await watcher.subscribe('wills/#', { qos: 1 })
  const old = await rig.client({
    clientId: 'k3',
    clean: false,
    will: { topic: 'wills/k3', payload: 'x', qos: 1 },
  })
  const closed = new Promise<void>((resolve) => old.once('close', () => resolve()))

  const r = await rig.call('POST', '/api/v1/clients/k3/kick')
  assert.equal(r.status, 200)
  await closed
  await until(() => wills.length === 1, 'the will')
  const list = await rig.get<Page<ClientSummary>>('/api/v1/clients?search=k3')
  assert.equal(list.body.items[0]?.connected, false)
  assert.equal(list.body.items[0]?.protocolVersion, 4)
  const again = await rig.call('POST', '/api/v1/clients/k3/kick')
  assert.equal(again.status, 404)
  assert.deepEqual(again.body, { error: { code: 'not-found', message: "client 'k3' is not connected" } })
  const nobody = await rig.call('POST', '/api/v1/clients/nobody/kick')
  assert.equal(nobody.status, 404)
})

test('the kick path takes POST only', async (t) => {
  const rig = await adminRig(t)
  await rig.client({ clientId: 'stay' })
  const r = await rig.call('GET', '/api/v1/clients/stay/kick')
  assert.equal(r.status, 405)
  assert.equal(r.headers.get('allow'), 'POST')
  assert.equal(rig.broker.connectedCount, 1)
})
