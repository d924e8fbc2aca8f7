/**
 * MQTT 5 messages across kill -9 (SQLite store): queued and in-flight deliveries and
 * retained messages keep their properties and their expiry; what expired while the
 * broker was down is not sent.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishProperties } from '../../../src/protocol/index.js'
import { RawClient } from '../../helpers/raw-client.js'
import { BrokerProcess, sleep } from './harness.js'

/** Generous waits: the box may be loaded, and a restarted broker is cold. */
const WAIT = 5000

async function connect5(port: number, clientId: string, clean = true): Promise<RawClient> {
  const c = await RawClient.open(port, undefined, WAIT)
  // a session outlives its MQTT 5 connection only with a Session Expiry Interval [MQTT-3.1.2-23]
  const ack = await c.connect(
    { protocolVersion: 5, clientId, clean, properties: { sessionExpiryInterval: 3600 } },
    WAIT,
  )
  assert.equal(ack.returnCode, 0)
  return c
}

async function publish1(
  c: RawClient,
  topic: string,
  payload: string,
  properties: PublishProperties,
  retain = false,
): Promise<void> {
  const id = c.publish(topic, payload, { qos: 1, retain, properties })
  assert.equal((await c.next(PacketType.PUBACK, WAIT)).packetId, id)
}

const PROPS: PublishProperties = {
  payloadFormatIndicator: 1,
  contentType: 'application/json',
  responseTopic: 'answers/here',
  correlationData: Buffer.from([9, 8, 7]),
  userProperties: [
    ['b', '1'],
    ['a', '2'],
  ],
}

test('keeps the properties and expiry of queued, in-flight and retained MQTT 5 messages across kill -9 [MQTT-3.3.2-5] [MQTT-3.3.2-6]', {
  timeout: 30_000,
}, async (t) => {
  const broker = await BrokerProcess.start(t)
  // subscriber of a persistent session: one message in flight (received, not acknowledged), the rest queued
  const sub = await connect5(broker.port, 'v5-durable-sub', false)
  await sub.subscribe('d5/#', 1, WAIT)
  const pub = await connect5(broker.port, 'v5-durable-pub')
  await publish1(pub, 'd5/inflight', '{"n":1}', { ...PROPS, messageExpiryInterval: 600 })
  const first = await sub.next(PacketType.PUBLISH, WAIT)
  assert.equal(first.payload.toString(), '{"n":1}')
  sub.destroy()
  await sleep(100)
  await publish1(pub, 'd5/queued', '{"n":2}', PROPS)
  await publish1(pub, 'd5/expires', '{"n":3}', { messageExpiryInterval: 1 })
  await publish1(pub, 'r5/kept', 'retained', { contentType: 'text/plain', messageExpiryInterval: 600 }, true)
  await publish1(pub, 'r5/gone', 'retained briefly', { messageExpiryInterval: 1 }, true)
  broker.killNow()
  await broker.kill()
  await sleep(1100) // the short-lived messages expire while the broker is down
  await broker.restart()

  const again = await connect5(broker.port, 'v5-durable-sub', false)
  assert.equal(again.connack?.sessionPresent, true)
  const resent = await again.next(PacketType.PUBLISH, WAIT)
  assert.deepEqual([resent.topic, resent.dup, resent.payload.toString()], ['d5/inflight', true, '{"n":1}'])
  const { messageExpiryInterval: left, ...rest } = resent.properties ?? {}
  assert.deepEqual(rest, PROPS)
  assert.ok(left !== undefined && left <= 600 && left > 590, `expiry left ${left}`)
  again.send({ type: PacketType.PUBACK, packetId: resent.packetId })
  const queued = await again.next(PacketType.PUBLISH, WAIT)
  assert.deepEqual([queued.topic, queued.dup, queued.properties], ['d5/queued', false, PROPS])
  again.send({ type: PacketType.PUBACK, packetId: queued.packetId })
  await again.nothingFor(300) // d5/expires expired while the broker was down

  const reader = await connect5(broker.port, 'v5-retained-reader')
  await reader.subscribe('r5/#', 1, WAIT)
  const r = await reader.next(PacketType.PUBLISH, WAIT)
  assert.deepEqual(
    [r.topic, r.retain, r.payload.toString(), r.properties?.contentType],
    ['r5/kept', true, 'retained', 'text/plain'],
  )
  assert.ok((r.properties?.messageExpiryInterval ?? 0) > 590)
  await reader.nothingFor(300) // r5/gone expired
})
