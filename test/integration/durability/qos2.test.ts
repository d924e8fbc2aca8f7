/**
 * kill -9 during a QoS 2 stream: exactly once across restarts. A message whose
 * PUBREC the publisher received counts as acknowledged. The publisher keeps a
 * persistent session and, after each restart, re-sends PUBLISH (DUP 1, same
 * packet id) for flows without PUBREC and PUBREL for the others.
 *
 * At the application level exactly once means: each subscriber (a correct QoS 2
 * receiver that treats a PUBLISH whose packet id awaits PUBREL as a re-send) is
 * handed every published payload once, never twice, and every flow it took part
 * in ends with PUBREL/PUBCOMP. The broker may re-send a PUBLISH with DUP and the
 * same packet id before PUBREL; it may never hand over the same message again
 * under a new packet id, nor re-use an id before the flow completed.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { assertDelivered, runCrashScenario } from './scenario.js'

test('hands every QoS 2 message to each subscriber exactly once, across two kill -9 restarts', {
  timeout: 60_000,
}, async (t) => {
  const r = await runCrashScenario(t, { qos: 2, total: 600, window: 32, kills: 2 })
  assert.ok(r.ackedBeforeFirstKill.size > 0)
  for (const s of r.subscribers) {
    assertDelivered(s, r, r.ackedBeforeFirstKill)
    assertDelivered(s, r, r.published)
    const twice = [...s.counts()].filter(([, n]) => n > 1).map(([p, n]) => `${p} x${n}`)
    assert.deepEqual(twice.slice(0, 20), [], `${s.clientId}: handed over more than once\n${r.describe()}`)
    assert.equal(s.pendingQos2, 0, `${s.clientId}: every PUBREC answered with PUBREL\n${r.describe()}`)
    for (const d of s.deliveries) assert.equal(d.qos, 2, `${s.clientId}: delivered at the granted QoS`)
  }
})
