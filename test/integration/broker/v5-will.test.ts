/**
 * MQTT 5 wills: the Will Delay Interval (published at the earlier of the delay and the
 * end of the session, not at all if the client comes back in time) and will properties.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, ReasonCode, type Will } from '../../../src/protocol/index.js'
import { delay, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

/** A 3.1.1 subscriber to a fresh will topic. */
async function watcher(): Promise<{ sub: RawClient; topic: string }> {
  const topic = `v5w/${uniqueId()}`
  const sub = await tb.connect()
  await sub.subscribe(topic, 0)
  return { sub, topic }
}

function will(topic: string, willDelayInterval: number): Will {
  return { topic, payload: Buffer.from('late'), qos: 0, retain: false, properties: { willDelayInterval } }
}

test('publishes the will once the Will Delay Interval has passed: the will was stored with the session [MQTT-3.1.2-7] [MQTT-3.1.2-8]', async () => {
  const { sub, topic } = await watcher()
  const c = await tb.connect({
    protocolVersion: 5,
    will: will(topic, 1),
    properties: { sessionExpiryInterval: 30 },
  })
  const closed = Date.now()
  c.destroy()
  await sub.nothingFor(700)
  const m = await sub.next(PacketType.PUBLISH, 1500)
  assert.equal(m.payload.toString(), 'late')
  assert.ok(Date.now() - closed >= 950, 'not before the delay')
})

test('publishes a delayed will when the session ends first [MQTT-3.1.2-8]', async () => {
  const { sub, topic } = await watcher()
  const c = await tb.connect({
    protocolVersion: 5,
    will: will(topic, 30),
    properties: { sessionExpiryInterval: 1 },
  })
  c.destroy()
  await sub.nothingFor(600)
  assert.equal((await sub.next(PacketType.PUBLISH, 1500)).payload.toString(), 'late')
})

test('publishes the will at once when the session ends with the connection', async () => {
  const { sub, topic } = await watcher()
  const c = await tb.connect({ protocolVersion: 5, will: will(topic, 30) })
  c.destroy()
  assert.equal((await sub.next(PacketType.PUBLISH, 500)).payload.toString(), 'late')
})

test('does not publish the will when the client reconnects to its session in time [MQTT-3.1.3-9]', async () => {
  const { sub, topic } = await watcher()
  const id = uniqueId('v5w')
  const c = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    will: will(topic, 1),
    properties: { sessionExpiryInterval: 30 },
  })
  c.destroy()
  await delay(200)
  const back = await tb.connect({ protocolVersion: 5, clientId: id, clean: false })
  assert.equal(back.connack!.sessionPresent, true)
  await sub.nothingFor(1300)
  await back.disconnect(undefined, ReasonCode.NORMAL_DISCONNECTION, { sessionExpiryInterval: 0 })
})

test('a takeover with Clean Start 0 keeps a delayed will back; with Clean Start 1 the session ends and the will goes [MQTT-3.1.4-3]', async () => {
  const { sub, topic } = await watcher()
  const id = uniqueId('v5w')
  const first = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    will: will(topic, 1),
    properties: { sessionExpiryInterval: 30 },
  })
  const second = await tb.connect({
    protocolVersion: 5,
    clientId: id,
    clean: false,
    will: will(topic, 1),
    properties: { sessionExpiryInterval: 30 },
  })
  assert.equal((await first.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.SESSION_TAKEN_OVER)
  await sub.nothingFor(1300)
  const third = await tb.connect({ protocolVersion: 5, clientId: id, clean: true })
  assert.equal((await second.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.SESSION_TAKEN_OVER)
  assert.equal((await sub.next(PacketType.PUBLISH, 500)).payload.toString(), 'late', 'the old session ended')
  await third.disconnect()
})

test('a 3.1.1 will is published at once, as before', async () => {
  const { sub, topic } = await watcher()
  const c = await tb.connect({
    clientId: uniqueId(),
    clean: false,
    will: { topic, payload: Buffer.from('now'), qos: 0, retain: false },
  })
  c.destroy()
  assert.equal((await sub.next(PacketType.PUBLISH, 500)).payload.toString(), 'now')
})

test('a delayed will is not published by a broker that closes', async (t) => {
  const b = await startBroker({}, t)
  const published: string[] = []
  b.broker.on('published', (m) => published.push(m.topic))
  const c = await b.connect({
    protocolVersion: 5,
    will: will('v5w/closing', 1),
    properties: { sessionExpiryInterval: 30 },
  })
  c.destroy()
  await delay(100)
  await b.broker.close()
  await delay(1100)
  assert.deepEqual(published, [])
})

test('the will carries its properties to a v5 subscriber, less the Will Delay Interval, user properties in order [MQTT-3.3.2-4] [MQTT-3.3.2-17] [MQTT-3.1.3-10]', async () => {
  const topic = `v5w/props/${uniqueId()}`
  const sub = await tb.connect({ protocolVersion: 5 })
  await sub.subscribe(topic, 1)
  const c = await tb.connect({
    protocolVersion: 5,
    will: {
      topic,
      payload: Buffer.from('{"gone":true}'),
      qos: 1,
      retain: false,
      properties: {
        payloadFormatIndicator: 1,
        contentType: 'application/json',
        responseTopic: 'r/t',
        correlationData: Buffer.from([1, 2, 3]),
        userProperties: [
          ['a', '1'],
          ['a', '2'],
        ],
        messageExpiryInterval: 60,
      },
    },
  })
  c.destroy()
  const m = await sub.next(PacketType.PUBLISH)
  const p = m.properties ?? {}
  assert.equal(p.payloadFormatIndicator, 1)
  assert.equal(p.contentType, 'application/json')
  assert.equal(p.responseTopic, 'r/t')
  assert.deepEqual([...(p.correlationData ?? [])], [1, 2, 3])
  assert.deepEqual(p.userProperties, [
    ['a', '1'],
    ['a', '2'],
  ])
  assert.ok(p.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 60)
  sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
})
