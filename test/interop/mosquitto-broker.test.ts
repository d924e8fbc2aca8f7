/**
 * Sanity checks of the test helpers that start reference brokers (a real
 * Mosquitto, an in-memory Aedes): MQTT.js can publish and subscribe through
 * them, so client-library suites can rely on them as known-good peers.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type AedesBroker, startAedes } from '../helpers/aedes.js'
import { type MosquittoBroker, mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js'
import { connectMqttJs, type MqttJsPeer, type QoS } from '../helpers/mqttjs.js'

/** Every test is bounded, so a broker that stops answering fails the test instead of hanging the run. */
const T = { timeout: 10_000 }

/** Subscribe, publish at every QoS, and check each arrives once at the publish QoS. */
async function pubSubRoundTrip(port: number, topic: string): Promise<void> {
  const peers: MqttJsPeer[] = []
  try {
    const sub = await connectMqttJs(port)
    peers.push(sub)
    const pub = await connectMqttJs(port)
    peers.push(pub)
    await sub.client.subscribeAsync(topic, { qos: 2 })
    for (const qos of [0, 1, 2] as QoS[]) await pub.client.publishAsync(topic, `qos ${qos}`, { qos })
    const got = await sub.inbox.take(3)
    assert.deepEqual(
      got.map((m) => [m.payload.toString(), m.qos]),
      [
        ['qos 0', 0],
        ['qos 1', 1],
        ['qos 2', 2],
      ],
    )
    await pub.client.publishAsync(`${topic}/kept`, 'retained', { qos: 1, retain: true })
    const late = await connectMqttJs(port)
    peers.push(late)
    await late.client.subscribeAsync(`${topic}/kept`, { qos: 1 })
    const r = await late.inbox.next()
    assert.equal(r.retain, true)
    assert.equal(r.payload.toString(), 'retained')
    await Promise.all(peers.map((p) => p.end()))
  } finally {
    for (const p of peers) p.client.end(true)
  }
}

describe('the startMosquitto helper', { skip: mosquittoSkip() }, () => {
  let m: MosquittoBroker
  before(async () => {
    m = await startMosquitto({ config: ['max_keepalive 120'] })
  })
  after(() => m?.stop())

  test('starts a Mosquitto that MQTT.js can publish and subscribe through at every QoS', T, async () => {
    assert.ok(m.port > 0)
    await pubSubRoundTrip(m.port, 'helper/mosquitto')
    assert.match(m.log(), /mosquitto version \S+ running/)
  })

  test('stop() ends the process and frees its port; a second stop() is harmless', T, async () => {
    const other = await startMosquitto()
    await other.stop()
    await other.stop()
    await assert.rejects(connectMqttJs(other.port, { connectTimeout: 1000 }))
  })
})

describe('the startAedes helper', () => {
  let a: AedesBroker
  before(async () => {
    a = await startAedes()
  })
  after(() => a?.close())

  test('starts an Aedes that MQTT.js can publish and subscribe through at every QoS', T, async () => {
    await pubSubRoundTrip(a.port, 'helper/aedes')
  })
})
