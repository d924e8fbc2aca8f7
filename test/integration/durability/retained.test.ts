/**
 * Retained messages across kill -9: an acknowledged retained message, replacement
 * or deletion (empty payload) is what a new subscriber finds after the restart.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { RawClient } from '../../helpers/raw-client.js'
import { BrokerProcess, Random, settle } from './harness.js'
import { WirePublisher, WireSubscriber } from './peers.js'

/** Generous waits: the box may be loaded, and a restarted broker is cold. */
const WAIT = 5000

async function connect(port: number, clientId: string, clean = true): Promise<RawClient> {
  const c = await RawClient.open(port, undefined, WAIT)
  const ack = await c.connect({ clientId, clean }, WAIT)
  assert.equal(ack.returnCode, 0)
  return c
}

async function publishQos1(c: RawClient, topic: string, payload: string): Promise<void> {
  const id = c.publish(topic, payload, { qos: 1, retain: true })
  assert.equal((await c.next(PacketType.PUBACK, WAIT)).packetId, id)
}

test('keeps acknowledged retained messages, replacements and deletions across kill -9 [MQTT-3.3.1-5] [MQTT-3.3.1-10]', {
  timeout: 30_000,
}, async (t) => {
  const broker = await BrokerProcess.start(t)
  const p = await connect(broker.port, 'retained-publisher', false)
  await publishQos1(p, 'ret/keep', 'kept')
  await publishQos1(p, 'ret/replaced', 'old')
  await publishQos1(p, 'ret/replaced', 'new')
  await publishQos1(p, 'ret/deleted', 'soon gone')
  await publishQos1(p, 'ret/deleted', '') // [MQTT-3.3.1-10] an empty retained message deletes
  // QoS 2: acknowledged at PUBREC; the broker dies before the PUBREL.
  const id = p.publish('ret/qos2', 'two', { qos: 2, retain: true })
  assert.equal((await p.next(PacketType.PUBREC, WAIT)).packetId, id)
  broker.killNow()
  await broker.kill()
  await broker.restart()

  // The publisher's QoS 2 flow completes after the restart (its session was kept).
  const p2 = await connect(broker.port, 'retained-publisher', false)
  assert.equal(p2.connack?.sessionPresent, true)
  p2.send({ type: PacketType.PUBREL, packetId: id })
  assert.equal((await p2.next(PacketType.PUBCOMP, WAIT)).packetId, id)

  const s = await connect(broker.port, 'retained-reader')
  assert.deepEqual((await s.subscribe('ret/#', 2, WAIT)).granted, [2])
  const got: PublishPacket[] = []
  for (let i = 0; i < 3; i++) got.push(await s.next(PacketType.PUBLISH, WAIT))
  await s.nothingFor(300)
  got.sort((a, b) => a.topic.localeCompare(b.topic))
  assert.deepEqual(
    got.map((m) => [m.topic, m.payload.toString(), m.qos, m.retain]),
    [
      ['ret/keep', 'kept', 1, true],
      ['ret/qos2', 'two', 2, true],
      ['ret/replaced', 'new', 1, true],
    ],
  )
  await s.disconnect()
  await p2.disconnect()
})

test('after kill -9 during a stream of retained updates, each topic keeps its last acknowledged value or a later one', {
  timeout: 30_000,
}, async (t) => {
  const rnd = new Random()
  const total = 600
  const topics = 40
  const killAt = rnd.int(1, total - 1)
  const broker = await BrokerProcess.start(t)
  let killed = false
  const publisher = new WirePublisher({
    clientId: 'retained-stream',
    clean: true,
    qos: 1,
    topic: 'stream',
    topics,
    retain: true,
    total,
    window: 16,
    onAck: (acked) => {
      if (killed || acked < killAt) return false
      killed = true
      broker.killNow()
      return true
    },
  })
  await publisher.run(broker.port) // 'closed' by the kill, or 'done' when the last PUBACK triggered it
  assert.ok(killed)
  await broker.kill()
  await broker.restart()
  const why = `seed ${rnd.seed} (replay with PETREL_CRASH_SEED=${rnd.seed}), killed after ${publisher.acked.size} acks\n${broker.log}`

  // The highest acknowledged message index per topic.
  const lastAcked = new Map<string, number>()
  for (const i of publisher.acked) {
    const topic = publisher.topicOf(i)
    if ((lastAcked.get(topic) ?? -1) < i) lastAcked.set(topic, i)
  }
  const reader = new WireSubscriber('retained-stream-reader')
  await reader.connect(broker.port, true)
  assert.deepEqual(await reader.subscribe('stream/#', 1), [1])
  await settle(
    () => reader.packets,
    () => reader.deliveries.length >= lastAcked.size,
    300,
    2000,
    Date.now() + 10_000,
  )
  const byTopic = new Map<string, number>()
  for (const d of reader.deliveries) {
    assert.equal(d.retain, true, `${d.topic}: RETAIN 1 on a retained message [MQTT-3.3.1-8]\n${why}`)
    assert.ok(!byTopic.has(d.topic), `${d.topic}: one retained message per topic\n${why}`)
    const i = publisher.indexOf(d.payload)
    assert.equal(
      publisher.topicOf(i),
      d.topic,
      `${d.topic}: carries '${d.payload}', published elsewhere\n${why}`,
    )
    assert.equal(publisher.payload(i), d.payload, `${d.topic}: '${d.payload}' was never published\n${why}`)
    byTopic.set(d.topic, i)
  }
  for (const [topic, i] of lastAcked) {
    const kept = byTopic.get(topic)
    assert.ok(
      kept !== undefined && kept >= i,
      `${topic}: retained message #${kept} after the restart, but #${i} was acknowledged\n${why}`,
    )
  }
  assert.deepEqual(reader.violations, [])
  await reader.disconnect()
})
