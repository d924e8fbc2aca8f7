/**
 * The QoS 1 crash test again, with an independent client implementation:
 * MQTT.js publishes and subscribes (persistent sessions) while the broker gets
 * kill -9. Every message whose PUBACK MQTT.js reported (its publish callback) is
 * delivered to each subscriber after the restart, and nothing is invented.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectMqttJs, type MqttJsPeer, type Received } from '../../helpers/mqttjs.js'
import { BrokerProcess, Random, settle } from './harness.js'

const TOPIC = 'mqttjs/crash'

/** Publishes `total` QoS 1 messages, `window` at a time, until done or the connection drops. */
function publishAll(
  peer: MqttJsPeer,
  total: number,
  window: number,
  onAck: (acked: Set<number>) => void,
): Promise<Set<number>> {
  const acked = new Set<number>()
  return new Promise((resolve) => {
    let next = 0
    let inflight = 0
    peer.client.once('close', () => resolve(acked))
    const fill = (): void => {
      while (inflight < window && next < total && peer.client.connected) {
        const i = next++
        inflight++
        peer.client.publish(TOPIC, `m#${i}`, { qos: 1 }, (err) => {
          inflight--
          if (err) return // the connection is gone: not acknowledged
          acked.add(i)
          onAck(acked)
          if (acked.size === total) resolve(acked)
          else fill()
        })
      }
    }
    fill()
  })
}

test('MQTT.js: every QoS 1 message whose PUBACK MQTT.js reported survives kill -9', {
  timeout: 60_000,
}, async (t) => {
  const rnd = new Random()
  const total = 800
  const killAt = rnd.int(1, total - 1)
  const broker = await BrokerProcess.start(t)
  const peers: MqttJsPeer[] = []
  t.after(() => {
    for (const p of peers) p.client.end(true)
  })
  const join = async (clientId: string): Promise<MqttJsPeer> => {
    const p = await connectMqttJs(broker.port, { clientId, clean: false })
    peers.push(p)
    return p
  }

  // `away` subscribes and leaves; `live` stays connected through the kill.
  const away = await join('mqttjs-crash-away')
  assert.equal(away.connack.sessionPresent, false)
  await away.client.subscribeAsync(TOPIC, { qos: 1 })
  await away.end()
  const live = await join('mqttjs-crash-live')
  await live.client.subscribeAsync(TOPIC, { qos: 1 })
  const liveBefore = live.inbox

  const publisher = await connectMqttJs(broker.port, { clientId: 'mqttjs-crash-pub', clean: true })
  peers.push(publisher)
  let killed = false
  const acked = await publishAll(publisher, total, 32, (a) => {
    if (!killed && a.size >= killAt) {
      killed = true
      broker.killNow()
    }
  })
  assert.ok(killed)
  await broker.kill()
  publisher.client.end(true)
  await broker.restart()
  const why = `seed ${rnd.seed} (replay with PETREL_CRASH_SEED=${rnd.seed}), killed after ${acked.size} PUBACKs\n${broker.log}`

  const awayBack = await join('mqttjs-crash-away')
  const liveBack = await join('mqttjs-crash-live')
  assert.equal(awayBack.connack.sessionPresent, true, `session present after kill -9\n${why}`)
  assert.equal(liveBack.connack.sessionPresent, true, `session present after kill -9\n${why}`)

  const expected = [...acked].map((i) => `m#${i}`)
  const received = (inboxes: MqttJsPeer['inbox'][]): Received[] => inboxes.flatMap((b) => b.wire)
  const subscribers: [string, MqttJsPeer['inbox'][]][] = [
    ['away', [awayBack.inbox]],
    ['live', [liveBefore, liveBack.inbox]],
  ]
  const deadline = Date.now() + 20_000
  for (const [, inboxes] of subscribers) {
    await settle(
      () => received(inboxes).length,
      () => {
        const got = new Set(received(inboxes).map((m) => m.payload.toString()))
        return expected.every((p) => got.has(p))
      },
      400,
      3000,
      deadline,
    )
  }
  for (const [name, inboxes] of subscribers) {
    const msgs = received(inboxes)
    const got = new Set(msgs.map((m) => m.payload.toString()))
    const missing = expected.filter((p) => !got.has(p))
    assert.deepEqual(
      missing.slice(0, 20),
      [],
      `${name}: ${missing.length} acknowledged message(s) lost\n${why}`,
    )
    for (const m of msgs) {
      assert.equal(m.topic, TOPIC)
      assert.equal(m.qos, 1, `${name}: delivered at QoS 1`)
      const i = Number(m.payload.toString().slice(2))
      assert.ok(
        m.payload.toString() === `m#${i}` && i >= 0 && i < total,
        `${name}: '${m.payload}' was never published\n${why}`,
      )
    }
  }
  await awayBack.end()
  await liveBack.end()
})
