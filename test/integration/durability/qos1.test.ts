/**
 * kill -9 during a QoS 1 stream: a PUBACK means the message is durable. Every
 * message whose PUBACK the publisher received reaches each persistent
 * subscriber (duplicates allowed at QoS 1) and nothing is invented.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { assertDelivered, runCrashScenario } from './scenario.js'

test('delivers every QoS 1 message whose PUBACK was received, across two kill -9 restarts', {
  timeout: 60_000,
}, async (t) => {
  const r = await runCrashScenario(t, { qos: 1, total: 800, window: 32, kills: 2 })
  assert.ok(r.ackedBeforeFirstKill.size > 0)
  for (const s of r.subscribers) {
    // Acknowledged before the first kill: the strict durability claim ...
    assertDelivered(s, r, r.ackedBeforeFirstKill)
    // ... and in the end every message, as the publisher went on until each had its PUBACK.
    assertDelivered(s, r, r.published)
    for (const d of s.deliveries) assert.equal(d.qos, 1, `${s.clientId}: delivered at the granted QoS`)
  }
})
