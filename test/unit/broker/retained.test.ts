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
