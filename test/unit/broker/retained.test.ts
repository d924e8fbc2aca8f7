import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Message } from '../../../src/broker/message.js'
import { RetainedStore } from '../../../src/broker/retained.js'

const msg = (topic: string): Message =>
  new Message(topic, Buffer.from(topic.slice(0, 8)), 0, true, null, true)

test('finds retained messages under filters of 100 000 levels without recursion [MQTT-4.7.1-2] [MQTT-4.7.1-3]', () => {
  const store = new RetainedStore()
  const depth = 100_000
  const topic = '/'.repeat(depth - 1)
  store.set(topic, msg(topic))
  store.set('shallow', msg('shallow'))
  const plusses = Array.from({ length: depth }, () => '+').join('/')
  assert.deepEqual(
    store.match(plusses).map((m) => m.topic),
    [topic],
  )
  assert.deepEqual(
    store
      .match('#')
      .map((m) => m.topic)
      .sort(),
    [topic, 'shallow'].sort(),
  )
  assert.equal(store.match(`${'/'.repeat(depth - 2)}/#`).length, 1)
})

test('visits + children in the order their topics were first retained', () => {
  const store = new RetainedStore()
  for (const t of ['s/1', 's/2', 's/3']) store.set(t, msg(t))
  assert.deepEqual(
    store.match('s/+').map((m) => m.topic),
    ['s/1', 's/2', 's/3'],
  )
})

test('does not match $ topics with a wildcard at the first level [MQTT-4.7.2-1]', () => {
  const store = new RetainedStore()
  store.set('$SYS/x', msg('$SYS/x'))
  store.set('a', msg('a'))
  assert.deepEqual(
    store.match('+').map((m) => m.topic),
    ['a'],
  )
  assert.deepEqual(
    store.match('#').map((m) => m.topic),
    ['a'],
  )
  assert.deepEqual(
    store.match('$SYS/+').map((m) => m.topic),
    ['$SYS/x'],
  )
})

test('an empty retained message deletes, and the trie is pruned [MQTT-3.3.1-10]', () => {
  const store = new RetainedStore()
  store.set('a/b/c', msg('a/b/c'))
  store.set('a/b/c', null)
  assert.equal(store.size, 0)
  assert.deepEqual(store.match('#'), [])
})

test('payloads come back byte for byte: every byte value, small (kept as a string) and large (kept as a Buffer) [MQTT-3.3.1-5]', () => {
  const store = new RetainedStore()
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  const large = Buffer.alloc(10_000)
  for (let i = 0; i < large.length; i++) large[i] = (i * 7) & 0xff
  store.set('bin/small', new Message('bin/small', every, 1, true, null, true))
  store.set('bin/large', new Message('bin/large', large, 2, true, null, true))
  store.set('bin/empty-level//x', new Message('bin/empty-level//x', Buffer.from('e'), 0, true, null, true))
  const got = new Map(store.match('bin/#').map((m) => [m.topic, m]))
  assert.ok(got.get('bin/small')!.payload.equals(every))
  assert.equal(got.get('bin/small')!.qos, 1)
  assert.ok(got.get('bin/large')!.payload.equals(large))
  assert.equal(got.get('bin/large')!.qos, 2)
  assert.equal(got.get('bin/empty-level//x')!.payload.toString(), 'e')
  assert.equal(store.bytes, 256 + 10_000 + 1)
  // each match makes Messages of their own: changing one changes nothing kept
  got.get('bin/small')!.payload[0] = 0xff
  assert.equal(store.match('bin/small')[0]!.payload[0], 0)
})

test('keeps MQTT 5 properties and expiry; a replaced message leaves none of the old behind', () => {
  const store = new RetainedStore()
  const m = new Message('p/1', Buffer.from('a'), 1, true, null, true)
  m.properties = { contentType: 'text/plain', userProperties: [['k', 'v']] }
  m.expiresAt = 123_456
  store.set('p/1', m)
  const [got] = store.match('p/+')
  assert.deepEqual(got!.properties, m.properties)
  assert.equal(got!.expiresAt, 123_456)
  store.set('p/1', new Message('p/1', Buffer.from('b'), 0, true, null, true))
  const [after] = store.match('p/1')
  assert.equal(after!.properties, null)
  assert.equal(after!.expiresAt, 0)
  assert.equal(after!.payload.toString(), 'b')
  assert.equal(store.size, 1)
})

test('matching() may be left and resumed: a message deleted meanwhile is not given', () => {
  const store = new RetainedStore()
  for (let i = 0; i < 10; i++)
    store.set(`w/${i}`, new Message(`w/${i}`, Buffer.from(String(i)), 0, true, null, true))
  const it = store.matching('w/+')
  const first = it.next().value!
  assert.equal(first.topic, 'w/0')
  store.set('w/5', null)
  const rest = [...{ [Symbol.iterator]: () => it }].map((m) => m.topic)
  assert.deepEqual(rest, ['w/1', 'w/2', 'w/3', 'w/4', 'w/6', 'w/7', 'w/8', 'w/9'])
})

test('entries gives every retained message with its parts, $ topics included, and restore takes them back', () => {
  const store = new RetainedStore()
  const big = Buffer.alloc(5000, 1)
  store.set('a/b', msg('a/b'))
  store.set('$app/x', msg('$app/x'))
  store.set('/', msg('/'))
  const v5 = new Message('big', big, 2, true, null, true)
  v5.properties = { contentType: 'text/plain' }
  v5.expiresAt = 1234
  store.set('big', v5)
  const copy = new RetainedStore()
  for (const e of store.entries())
    copy.restore(e.topic, e.payload, e.qos, e.properties ?? null, e.expiresAt ?? 0)
  const seen = (s: RetainedStore): unknown[] =>
    [...s.entries()].map((e) => [
      e.topic,
      typeof e.payload === 'string' ? Buffer.from(e.payload, 'latin1') : e.payload,
      e.qos,
      e.properties,
      e.expiresAt,
    ])
  assert.deepEqual(
    [...store.entries()].map((e) => e.topic),
    ['a/b', '$app/x', '/', 'big'],
  )
  assert.deepEqual(seen(copy), seen(store))
  assert.deepEqual(copy.match('big')[0]!.payload, big)
  assert.equal(copy.bytes, store.bytes)
})

test('restore takes a payload as a latin1 string or as bytes, whatever its size', () => {
  const store = new RetainedStore()
  store.restore('s/small', 'ÿ\u0000a', 1, null, 0)
  store.restore('s/large', 'x'.repeat(5000), 0, null, 0)
  store.restore('b/small', Buffer.from([0xff, 0, 0x61]), 2, null, 0)
  assert.deepEqual(store.match('s/small')[0]!.payload, Buffer.from([0xff, 0, 0x61]))
  assert.deepEqual(store.match('s/large')[0]!.payload, Buffer.alloc(5000, 'x'))
  assert.deepEqual(store.match('b/small')[0]!.payload, Buffer.from([0xff, 0, 0x61]))
  assert.equal(store.bytes, 5006)
})

test('a message set under levels a delete just removed is found', () => {
  const store = new RetainedStore()
  store.set('a/b/c', msg('a/b/c'))
  store.set('a/b/c', null) // prunes a/b and a
  store.set('a/b/d', msg('a/b/d'))
  assert.deepEqual(
    store.match('a/#').map((m) => m.topic),
    ['a/b/d'],
  )
})

test('entries can leave out what is under one first level ($SYS values are not stored)', () => {
  const store = new RetainedStore()
  for (const t of ['$SYS/broker/uptime', '$SYS', '$SYSX/y', 'a', '$SYS/b/c']) store.set(t, msg(t))
  assert.deepEqual([...store.entries('$SYS')].map((e) => e.topic).sort(), ['$SYS', '$SYSX/y', 'a'])
})
