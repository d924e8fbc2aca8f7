import assert from 'node:assert/strict'
import { test } from 'node:test'
import { OutboundAliases } from '../../../src/broker/topic-aliases.js'

test('gives topics aliases 1..max, then reuses the alias of the topic used least recently [MQTT-3.3.2-11]', () => {
  const a = new OutboundAliases(2)
  assert.equal(a.known('a'), 0)
  assert.equal(a.assign('a'), 1)
  assert.equal(a.assign('b'), 2)
  assert.equal(a.known('a'), 1) // 'a' is now the most recently used
  assert.equal(a.assign('c'), 2) // 'b' goes
  assert.equal(a.known('b'), 0)
  assert.equal(a.known('c'), 2)
  assert.equal(a.assign('d'), 1) // 'a' goes
  assert.deepEqual([a.known('a'), a.known('c'), a.known('d')], [0, 2, 1])
})

test('never hands out an alias above the maximum [MQTT-3.3.2-11]', () => {
  const a = new OutboundAliases(3)
  for (let i = 0; i < 100; i++) {
    const alias = a.assign(`t/${i}`)
    assert.ok(alias >= 1 && alias <= 3, `alias ${alias}`)
  }
})
