/**
 * Real peers on Petrel's TLS and WebSocket listeners: mosquitto_pub / mosquitto_sub over TLS
 * (--cafile; --cert/--key to a listener that requires client certificates), Debian's
 * python3-paho-mqtt over ws:// and wss:// (test/interop/paho/ws_client.py, run with
 * /usr/bin/python3), and MQTT.js over wss://. A missing peer skips with the reason shown
 * locally and fails under CI=true.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Broker } from '../../src/broker/broker.js'
import { makePki, opensslSkip, type Pki } from '../helpers/certs.js'
import {
  inCI,
  mosquittoClientsSkip,
  mosquittoPub,
  mosquittoSub,
  runTool,
  startMosquittoSub,
} from '../helpers/mosquitto.js'
import { connectMqttJs } from '../helpers/mqttjs.js'
import { LOOPBACK } from '../helpers/net.js'

const PYTHON = '/usr/bin/python3'
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../../test/interop/paho/ws_client.py')

function pahoSkip(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' })
  if (r.status === 0) return false
  const reason = `${PYTHON} cannot import paho.mqtt (Debian: apt-get install python3-paho-mqtt)`
  if (inCI()) throw new Error(`${reason}; CI=true, so interop tests must not be skipped`)
  return reason
}

/** Resolves once `topic` has a subscriber on `broker` (mosquitto_sub gives no sign of it). */
function subscribed(broker: Broker, topic: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (subs: { topic: string }[]): void => {
      if (subs.some((s) => s.topic === topic)) {
        broker.off('subscribed', on)
        resolve()
      }
    }
    broker.on('subscribed', on)
  })
}

describe('real peers on TLS and WebSocket listeners', { skip: opensslSkip() }, () => {
  let pki: Pki
  let broker: Broker
  const port: Record<'mqtts' | 'mtls' | 'ws' | 'wss', number> = { mqtts: 0, mtls: 0, ws: 0, wss: 0 }
  const users: (string | undefined)[] = []

  before(async () => {
    pki = await makePki()
    broker = new Broker({
      sysInterval: 0,
      authenticate: (client) => {
        users.push(client.username)
        return true
      },
    })
    const tls = { port: 0, host: LOOPBACK, cert: pki.serverCert, key: pki.serverKey }
    port.mqtts = (await broker.listen({ protocol: 'mqtts', ...tls })).port
    port.mtls = (
      await broker.listen({
        protocol: 'mqtts',
        ...tls,
        ca: pki.ca,
        requireCertificate: true,
        useIdentityAsUsername: true,
      })
    ).port
    port.ws = (await broker.listen({ protocol: 'ws', port: 0, host: LOOPBACK })).port
    port.wss = (await broker.listen({ protocol: 'wss', ...tls })).port
  })
  after(async () => {
    await broker?.close()
    await pki?.remove()
  })

  describe('mosquitto_pub / mosquitto_sub over TLS', { skip: mosquittoClientsSkip() }, () => {
    test('with --cafile: a QoS 1 message from mosquitto_pub reaches mosquitto_sub', async () => {
      const tls = ['--cafile', pki.files.ca]
      const { done } = await startMosquittoSub(
        port.mqtts,
        { topics: ['tls/mosq'], count: 1, qos: 1, args: [...tls, '-v'] },
        () => subscribed(broker, 'tls/mosq'),
      )
      await mosquittoPub(port.mqtts, [...tls, '-t', 'tls/mosq', '-m', 'hello over tls', '-q', '1'])
      assert.deepEqual((await done).lines, ['tls/mosq hello over tls'])
    })

    test('mosquitto_pub refuses a server its --cafile does not vouch for', async () => {
      const r = await mosquittoPub(port.mqtts, ['--cafile', pki.files.rogueCa, '-t', 't', '-m', 'x'], {
        allowFailure: true,
      })
      assert.notEqual(r.code, 0)
    })

    test('with --cert/--key to a requireCertificate listener: in, as user alice (the CN); without a certificate or with a rogue one: refused', async () => {
      const tls = ['--cafile', pki.files.ca]
      const alice = ['--cert', pki.files.clientCert, '--key', pki.files.clientKey]
      users.length = 0
      const { done } = await startMosquittoSub(
        port.mtls,
        { topics: ['tls/mtls'], count: 1, qos: 1, args: [...tls, ...alice] },
        () => subscribed(broker, 'tls/mtls'),
      )
      await mosquittoPub(port.mtls, [
        ...tls,
        ...alice,
        '-u',
        'someone-else',
        '-t',
        'tls/mtls',
        '-m',
        'mutual',
      ])
      assert.deepEqual((await done).lines, ['mutual'])
      assert.deepEqual(users, ['alice', 'alice'])

      const none = await mosquittoPub(port.mtls, [...tls, '-t', 'tls/mtls', '-m', 'x'], {
        allowFailure: true,
      })
      assert.notEqual(none.code, 0, 'no client certificate')
      const rogue = await mosquittoPub(
        port.mtls,
        [...tls, '--cert', pki.files.rogueCert, '--key', pki.files.rogueKey, '-t', 'tls/mtls', '-m', 'x'],
        { allowFailure: true },
      )
      assert.notEqual(rogue.code, 0, 'a certificate from another CA')
      const sub = await mosquittoSub(port.mtls, {
        topics: ['tls/none'],
        count: 1,
        waitSeconds: 1,
        args: tls,
        allowFailure: true,
      })
      assert.notEqual(sub.code, 0)
    })
  })

  describe('Paho Python over WebSocket', { skip: pahoSkip() }, () => {
    for (const scheme of ['ws', 'wss'] as const) {
      test(`paho over ${scheme}:// subscribes, publishes and gets its message back; an MQTT.js client on TCP sees it too`, async () => {
        const tcp = await broker.listen({ port: 0, host: LOOPBACK })
        const watcher = await connectMqttJs(tcp.port)
        await watcher.client.subscribeAsync(`paho/${scheme}`, { qos: 1 })
        const args = [SCRIPT, scheme, LOOPBACK, String(port[scheme]), '/mqtt', `paho/${scheme}`]
        if (scheme === 'wss') args.push(pki.files.ca)
        const r = await runTool(PYTHON, args, { timeoutMs: 15_000 })
        const line = JSON.parse(r.stdout.trim()) as { topic: string; payload: string; qos: number }
        assert.deepEqual(line, { topic: `paho/${scheme}`, payload: `paho over ${scheme}`, qos: 1 })
        const m = await watcher.inbox.next()
        assert.equal(m.payload.toString(), `paho over ${scheme}`)
        await watcher.end()
        await tcp.close()
      })
    }
  })

  test('MQTT.js over wss:// (MQTT 5): subscribe, publish, receive', async () => {
    const c = await connectMqttJs(port.wss, {
      protocol: 'wss',
      path: '/mqtt',
      protocolVersion: 5,
      ca: pki.ca,
      servername: 'localhost',
    })
    await c.client.subscribeAsync('mqttjs/wss', { qos: 1 })
    await c.client.publishAsync('mqttjs/wss', 'secure websocket', { qos: 1 })
    const m = await c.inbox.next()
    assert.equal(m.payload.toString(), 'secure websocket')
    await c.end()
  })
})
