/**
 * MQTT 5 Session Expiry Interval across kill -9 (SQLite store): a session keeps its own
 * interval through a restart, and its clock keeps running from when its client left.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RawClient } from '../../helpers/raw-client.js'
import { BrokerProcess, sleep } from './harness.js'

/** Generous waits: the box may be loaded, and a restarted broker is cold. */
const WAIT = 5000

async function connect5(port: number, clientId: string, expiry: number): Promise<RawClient> {
  const c = await RawClient.open(port, undefined, WAIT)
  const ack = await c.connect(
    { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: expiry } },
    WAIT,
  )
  assert.equal(ack.returnCode, 0)
  return c
}

test('a v5 session keeps its Session Expiry Interval across kill -9: the short one ends, the long one stays [MQTT-3.1.2-23] [MQTT-4.1.0-2]', {
  timeout: 30_000,
}, async (t) => {
  const broker = await BrokerProcess.start(t)
  for (const [id, expiry] of [
    ['v5-expiry-short', 2],
    ['v5-expiry-long', 3600],
  ] as const) {
    const c = await connect5(broker.port, id, expiry)
    await c.subscribe(`expiry/${id}`, 1, WAIT)
    await c.disconnect(WAIT)
  }
  await broker.kill()
  await broker.restart()
  await sleep(2500)
  const short = await connect5(broker.port, 'v5-expiry-short', 0)
  assert.equal(short.connack?.sessionPresent, false, 'ended 2 s after its client left, across the restart')
  await short.disconnect(WAIT)
  const long = await connect5(broker.port, 'v5-expiry-long', 0)
  assert.equal(long.connack?.sessionPresent, true)
  await long.disconnect(WAIT)
})
