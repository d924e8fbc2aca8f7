/**
 * MQTT.js with protocolVersion 5 against Petrel: CONNACK properties, every PUBLISH property,
 * subscription options and identifiers, SUBACK reason codes, shared subscriptions, session
 * expiry and the will on DISCONNECT 0x04. (Topic aliases and request/response through MQTT.js
 * are in test/integration/broker/v5-publish-mqttjs.test.ts.)
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { IClientOptions } from 'mqtt'
import { Broker } from '../../src/broker/broker.js'
import { connectMqttJs, type MqttJsPeer } from '../helpers/mqttjs.js'
import { LOOPBACK } from '../helpers/net.js'

const T = { timeout: 15_000 }
const DENIED = 'mqttjs5/denied'

describe('MQTT.js (MQTT 5) against Petrel', () => {
  let broker: Broker
  let port: number
  const peers: MqttJsPeer[] = []
  let n = 0
  const topic = (what: string): string => `mqttjs5/${++n}/${what}`
  const v5 = async (options: IClientOptions = {}): Promise<MqttJsPeer> => {
    const p = await connectMqttJs(port, { protocolVersion: 5, ...options })
    peers.push(p)
    return p
  }

  before(async () => {
    broker = new Broker({ sysInterval: 0, authorizeSubscribe: (_c, filter) => filter !== DENIED })
    ;({ port } = await broker.listen({ port: 0, host: LOOPBACK }))
  })
  after(async () => {
    for (const p of peers) p.client.end(true)
    await broker.close()
  })

  test(
    'CONNACK: reason code 0, an Assigned Client Identifier for an empty id, and what the broker supports [MQTT-3.2.2-16]',
    T,
    async () => {
      const p = await v5({ clientId: '' })
      assert.equal(p.connack.reasonCode ?? p.connack.returnCode, 0)
      const props = p.connack.properties ?? {}
      assert.ok(typeof props.assignedClientIdentifier === 'string' && props.assignedClientIdentifier !== '')
      // Absent means "available": Petrel supports wildcards, subscription identifiers and shared subscriptions.
      assert.notEqual(props.wildcardSubscriptionAvailable, false)
      assert.notEqual(props.subscriptionIdentifiersAvailable, false)
      assert.notEqual(props.sharedSubscriptionAvailable, false)
      assert.notEqual(props.retainAvailable, false)
    },
  )

  test(
    'every PUBLISH property arrives unaltered at QoS 0, 1 and 2 [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-20]',
    T,
    async () => {
      const t = topic('props')
      const sub = await v5()
      await sub.client.subscribeAsync(t, { qos: 2 })
      const pub = await v5()
      const properties = {
        payloadFormatIndicator: true,
        messageExpiryInterval: 300,
        contentType: 'application/json',
        responseTopic: `${t}/reply`,
        correlationData: Buffer.from([0, 1, 2, 255]),
        userProperties: { a: '1', b: ['2', '3'] },
      }
      for (const qos of [0, 1, 2] as const)
        await pub.client.publishAsync(t, `{"q":${qos}}`, { qos, properties })
      const got = await sub.inbox.take(3)
      assert.deepEqual(got.map((m) => m.qos).sort(), [0, 1, 2])
      for (const m of got) {
        const p = m.properties ?? {}
        assert.equal(p.payloadFormatIndicator, true)
        assert.ok(
          p.messageExpiryInterval !== undefined &&
            p.messageExpiryInterval <= 300 &&
            p.messageExpiryInterval >= 299,
        )
        assert.equal(p.contentType, 'application/json')
        assert.equal(p.responseTopic, `${t}/reply`)
        assert.deepEqual(p.correlationData, Buffer.from([0, 1, 2, 255]))
        assert.deepEqual({ ...p.userProperties }, { a: '1', b: ['2', '3'] })
      }
    },
  )

  test(
    'a refused subscription gets reason code 0x80 (3.1.1 and v5 "Unspecified error") in SUBACK, the others their QoS (3.9.3)',
    T,
    async () => {
      const p = await v5()
      // MQTT.js rejects a subscribe with any failure code, so the SUBACK is read off the wire.
      const suback = new Promise<number[]>((resolve) => {
        p.client.on('packetreceive', (packet) => {
          if (packet.cmd === 'suback') resolve(packet.granted as number[])
        })
      })
      p.client.subscribe({ [DENIED]: { qos: 1 }, [topic('ok')]: { qos: 1 } }, () => {})
      assert.deepEqual(await suback, [0x80, 1])
    },
  )

  test(
    'Subscription Identifiers: each matching subscription gives its own, in one message [MQTT-3.3.4-3] [MQTT-3.3.4-4]',
    T,
    async () => {
      const t = topic('ids')
      const sub = await v5()
      await sub.client.subscribeAsync(t, { qos: 1, properties: { subscriptionIdentifier: 11 } })
      await sub.client.subscribeAsync(`${t.split('/').slice(0, 2).join('/')}/#`, {
        qos: 1,
        properties: { subscriptionIdentifier: 12 },
      })
      const pub = await v5()
      await pub.client.publishAsync(t, 'x', { qos: 1 })
      const [m] = await sub.inbox.take(1)
      const ids = m!.properties?.subscriptionIdentifier
      assert.deepEqual([ids].flat().sort(), [11, 12])
      await sleep(200)
      assert.equal(sub.inbox.size, 0, 'one message, not one per subscription')
    },
  )

  test(
    'No Local, Retain As Published and Retain Handling 2 [MQTT-3.8.3-3] [MQTT-3.3.1-12] [MQTT-3.3.1-13] [MQTT-3.3.1-11]',
    T,
    async () => {
      const t = topic('options')
      const p = await v5()
      await p.client.subscribeAsync(t, { qos: 1, nl: true })
      const other = await v5()
      await other.client.subscribeAsync(t, { qos: 1, rap: true })
      await p.client.publishAsync(t, 'kept', { qos: 1, retain: true })
      const [m] = await other.inbox.take(1)
      assert.equal(m!.retain, true, 'Retain As Published keeps the RETAIN flag')
      await sleep(200)
      assert.equal(p.inbox.size, 0, 'No Local: nothing back to the publisher')

      const late = await v5()
      await late.client.subscribeAsync(t, { qos: 1, rh: 2 })
      await sleep(200)
      assert.equal(late.inbox.size, 0, 'Retain Handling 2: no retained message at subscribe')
      const plain = await v5()
      await plain.client.subscribeAsync(t, { qos: 1 })
      const [r] = await plain.inbox.take(1)
      assert.equal(r!.retain, true)
      await p.client.publishAsync(t, '', { qos: 1, retain: true })
    },
  )

  test('a shared subscription delivers each message to one member of the group (4.8.2)', T, async () => {
    const t = topic('shared')
    const a = await v5()
    const b = await v5()
    await a.client.subscribeAsync(`$share/g/${t}`, { qos: 1 })
    await b.client.subscribeAsync(`$share/g/${t}`, { qos: 1 })
    const pub = await v5()
    for (let i = 0; i < 10; i++) await pub.client.publishAsync(t, String(i), { qos: 1 })
    const deadline = Date.now() + 5000
    while (a.inbox.size + b.inbox.size < 10 && Date.now() < deadline) await sleep(20)
    await sleep(200)
    const all = [...a.inbox.drain(), ...b.inbox.drain()]
      .map((m) => m.payload.toString())
      .sort((x, y) => Number(x) - Number(y))
    assert.deepEqual(all, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
  })

  test(
    'a session with a Session Expiry Interval gets the QoS 1 messages published while it was away [MQTT-3.1.2-23]',
    T,
    async () => {
      const t = topic('session')
      const clientId = `mqttjs5-session-${process.pid}`
      const first = await v5({ clientId, clean: false, properties: { sessionExpiryInterval: 60 } })
      await first.client.subscribeAsync(t, { qos: 1 })
      await first.end()
      const pub = await v5()
      await pub.client.publishAsync(t, 'queued', { qos: 1 })
      const again = await v5({ clientId, clean: false, properties: { sessionExpiryInterval: 0 } })
      assert.equal(again.connack.sessionPresent, true)
      const [m] = await again.inbox.take(1)
      assert.equal(m!.payload.toString(), 'queued')
    },
  )

  test(
    'DISCONNECT with reason code 0x04 publishes the will; 0x00 does not [MQTT-3.14.4-3] (3.14.2.1)',
    T,
    async () => {
      const t = topic('will')
      const watcher = await v5()
      await watcher.client.subscribeAsync(t, { qos: 1 })
      const will = { topic: t, payload: Buffer.from('with will'), qos: 1 as const, retain: false }
      const withWill = await v5({ will })
      await new Promise<void>((resolve) => withWill.client.end(false, { reasonCode: 0x04 }, () => resolve()))
      const [m] = await watcher.inbox.take(1)
      assert.equal(m!.payload.toString(), 'with will')
      const clean = await v5({ will: { ...will, payload: Buffer.from('never') } })
      await new Promise<void>((resolve) => clean.client.end(false, { reasonCode: 0 }, () => resolve()))
      await sleep(300)
      assert.equal(watcher.inbox.size, 0, 'a normal DISCONNECT discards the will [MQTT-3.1.2-10]')
    },
  )
})
