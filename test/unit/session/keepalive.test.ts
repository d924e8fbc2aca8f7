import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { KeepAlive } from '../../../src/session/keepalive.js'

describe('client keep-alive', () => {
  test('sends PINGREQ once nothing was sent for a keep-alive period', () => {
    const k = new KeepAlive(1000, 500)
    k.reset(0)
    assert.equal(k.check(999), 'none')
    assert.equal(k.next, 1)
    assert.equal(k.check(1000), 'ping')
    assert.equal(k.next, 500)
  })

  test('traffic in both directions postpones the ping', () => {
    const k = new KeepAlive(1000, 500)
    k.reset(0)
    k.sent(800)
    k.received(900)
    assert.equal(k.check(1000), 'none')
    assert.equal(k.next, 800)
    assert.equal(k.check(1800), 'ping')
  })

  test('a subscriber that only receives still pings: sending is what keeps the session alive', () => {
    const k = new KeepAlive(1000, 500)
    k.reset(0)
    for (let t = 100; t <= 1000; t += 100) k.received(t)
    assert.equal(k.check(1000), 'ping')
  })

  test('detects a dead connection when nothing answers the PINGREQ within pingTimeout', () => {
    const k = new KeepAlive(1000, 500)
    k.reset(0)
    assert.equal(k.check(1000), 'ping')
    assert.equal(k.check(1499), 'none')
    assert.equal(k.next, 1)
    assert.equal(k.check(1500), 'dead')
  })

  test('any packet from the broker answers the outstanding ping', () => {
    const k = new KeepAlive(1000, 500)
    k.reset(0)
    k.check(1000)
    k.received(1200)
    assert.equal(k.check(1500), 'none')
  })

  test('while the client is not reading, a missing answer is not held against the broker', () => {
    const k = new KeepAlive(1000, 500)
    k.reset(0)
    k.check(1000)
    assert.equal(k.check(1600, true), 'ping')
  })
})
