/**
 * Keep-alive over TCP with sub-second precision: keep-alive 1 s means the server
 * closes after 1.5 s of silence [MQTT-3.1.2-24], and any packet restarts the count.
 * The tests run concurrently (each has its own connections) so the file stays short.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { PacketType } from '../../../src/protocol/index.js'
import { delay, type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

/** Milliseconds from `start` until `c` is closed by the server (fails after `max`). */
async function closedAfter(c: RawClient, start: number, max: number): Promise<number> {
  await c.closed(max - (performance.now() - start))
  return performance.now() - start
}

const tb = await startBroker()

describe('keep-alive', { concurrency: true }, () => {
  test('closes a silent connection between 1.5 s and 2 s after CONNECT with keep-alive 1 s [MQTT-3.1.2-24]', async () => {
    const c = await tb.open()
    await c.connect({ keepalive: 1 })
    const start = performance.now()
    await delay(1300)
    assert.equal(c.ended, false, 'still open at 1.3 s')
    const at = await closedAfter(c, start, 2100)
    assert.ok(at >= 1400 && at < 2000, `closed after ${at.toFixed(0)} ms`)
  })

  test('does not close at 1.2 s when a PINGREQ came at 0.9 s, and closes 1.5 s after that PINGREQ [MQTT-3.1.2-24] [MQTT-3.12.4-1]', async () => {
    const c = await tb.open()
    await c.connect({ keepalive: 1 })
    const start = performance.now()
    await delay(900)
    c.send({ type: PacketType.PINGREQ })
    await c.next(PacketType.PINGRESP)
    const pingAt = performance.now()
    await delay(2000 - (pingAt - start))
    assert.equal(c.ended, false, 'still open 2.0 s after CONNECT (1.1 s after the PINGREQ)')
    const at = await closedAfter(c, pingAt, 2100)
    assert.ok(at >= 1400 && at < 2000, `closed ${at.toFixed(0)} ms after the PINGREQ`)
  })

  test('counts any control packet, not only PINGREQ, as activity', async () => {
    const c = await tb.open()
    await c.connect({ keepalive: 1 })
    for (let i = 0; i < 4; i++) {
      await delay(700)
      c.publish('ka/activity', 'x') // QoS 0: no answer
    }
    assert.equal(c.ended, false, 'open after 2.8 s of publishing every 0.7 s')
    const last = performance.now()
    const at = await closedAfter(c, last, 2100)
    assert.ok(at >= 1400 && at < 2000, `closed ${at.toFixed(0)} ms after the last packet`)
  })

  test('never closes a silent connection with keep-alive 0', async () => {
    const c = await tb.open()
    await c.connect({ keepalive: 0 })
    await delay(2500)
    assert.equal(c.ended, false)
    c.send({ type: PacketType.PINGREQ })
    await c.next(PacketType.PINGRESP)
  })

  test('publishes the will when keep-alive expires [MQTT-3.1.2-8] [MQTT-3.1.2-24]', async () => {
    const topic = `ka/will/${uniqueId()}`
    const sub = await tb.connect()
    await sub.subscribe(topic, 1)
    const c = await tb.open()
    await c.connect({ keepalive: 1, will: { topic, payload: Buffer.from('expired'), qos: 1, retain: false } })
    const start = performance.now()
    const will = await sub.next(PacketType.PUBLISH, 2100)
    const at = performance.now() - start
    assert.equal(will.payload.toString(), 'expired')
    assert.equal(will.qos, 1)
    assert.ok(at >= 1400 && at < 2000, `will after ${at.toFixed(0)} ms`)
    await c.closed()
  })
})
