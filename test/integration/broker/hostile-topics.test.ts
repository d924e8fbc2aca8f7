import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, SUBACK_FAILURE } from '../../../src/protocol/index.js'
import { connectPacket, startBroker } from '../../helpers/raw-client.js'

/**
 * Topic depth: names and filters deeper than maxTopicLevels (128 by default) are refused,
 * and whatever depth is allowed, routing and retained matching use no recursion (a deep
 * topic once overflowed the stack, as Mosquitto's CVE-2019-11779 did).
 */

const levels = (n: number, level = 'a'): string => Array.from({ length: n }, () => level).join('/')

test('refuses a filter of more than maxTopicLevels levels with SUBACK 0x80 and grants one of exactly that many [MQTT-3.8.4-5]', async (t) => {
  const tb = await startBroker({}, t)
  const c = await tb.connect()
  const ack = await c.subscribe([
    { topic: levels(128), qos: 1 },
    { topic: levels(129), qos: 1 },
    { topic: `${levels(128)}/#`, qos: 0 },
    { topic: '/'.repeat(64_999), qos: 0 }, // 65 000 empty levels
  ])
  assert.deepEqual(ack.granted, [1, SUBACK_FAILURE, SUBACK_FAILURE, SUBACK_FAILURE])
  // and the granted one works
  const pub = await tb.connect()
  pub.publish(levels(128), 'deep enough')
  assert.equal((await c.next(PacketType.PUBLISH)).payload.toString(), 'deep enough')
})

test('closes a client that publishes to a topic of more than maxTopicLevels levels, delivering nothing [MQTT-3.3.5-2]', async (t) => {
  const tb = await startBroker({}, t)
  const sub = await tb.connect()
  await sub.subscribe('#', 0)
  const pub = await tb.connect()
  pub.publish(levels(129), 'too deep', { qos: 1 })
  await pub.closed(500, false)
  await sub.nothingFor(100)
})

test('closes a CONNECT whose will topic has more than maxTopicLevels levels, without CONNACK', async (t) => {
  const tb = await startBroker({}, t)
  const c = await tb.open()
  c.send(
    connectPacket({
      clientId: 'deep-will',
      will: { topic: levels(129), payload: Buffer.from('w'), qos: 0, retain: false },
    }),
  )
  await c.closed(500, false)
})

test('maxTopicLevels is an option: 3 refuses a 4-level filter and closes a 4-level PUBLISH', async (t) => {
  const tb = await startBroker({ maxTopicLevels: 3 }, t)
  const c = await tb.connect()
  assert.deepEqual(
    (
      await c.subscribe([
        { topic: 'a/b/c', qos: 0 },
        { topic: 'a/b/c/d', qos: 0 },
      ])
    ).granted,
    [0, 128],
  )
  c.publish('a/b/c/d', 'x')
  await c.closed(500)
})

test('routes and keeps retained messages on topics of 32 768 levels when maxTopicLevels allows it: no stack overflow', async (t) => {
  const tb = await startBroker({ maxTopicLevels: 65_536 }, t)
  const deep = '/'.repeat(32_767) // 32 768 empty levels
  const plusses = levels(32_768, '+') // 65 535 characters: the longest filter there is
  const sub = await tb.connect()
  assert.deepEqual((await sub.subscribe([{ topic: plusses, qos: 0 }])).granted, [0])
  const pub = await tb.connect()
  pub.publish(deep, 'deep', { retain: true, qos: 1 })
  await pub.next(PacketType.PUBACK)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'deep')
  // the retained message, found by a '+' filter that deep and by '#'
  const late = await tb.connect()
  await late.subscribe(plusses, 0)
  const r = await late.next(PacketType.PUBLISH)
  assert.equal(r.retain, true)
  assert.equal(r.topic, deep)
  await late.subscribe('#', 0)
  assert.equal((await late.next(PacketType.PUBLISH)).topic, deep)
  // the broker still answers
  sub.send({ type: PacketType.PINGREQ })
  await sub.next(PacketType.PINGRESP)
})
