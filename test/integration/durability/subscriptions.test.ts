/**
 * Subscriptions of persistent sessions across kill -9: a SUBACK or UNSUBACK
 * received before the kill holds after the restart, the session is present, and
 * messages published after the restart are queued for it and delivered.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishPacket, type QoS } from '../../../src/protocol/index.js'
import { delay, RawClient, show } from '../../helpers/raw-client.js'
import { BrokerProcess } from './harness.js'

/** Generous waits: the box may be loaded, and a restarted broker is cold. */
const WAIT = 5000

async function connect(port: number, clientId: string, clean: boolean): Promise<RawClient> {
  const c = await RawClient.open(port, undefined, WAIT)
  const ack = await c.connect({ clientId, clean }, WAIT)
  assert.equal(ack.returnCode, 0)
  return c
}

/** Publishes and waits for PUBACK, or PUBREC then PUBCOMP. */
async function publish(c: RawClient, topic: string, payload: string, qos: 1 | 2): Promise<void> {
  const id = c.publish(topic, payload, { qos })
  if (qos === 1) {
    assert.equal((await c.next(PacketType.PUBACK, WAIT)).packetId, id)
    return
  }
  assert.equal((await c.next(PacketType.PUBREC, WAIT)).packetId, id)
  c.send({ type: PacketType.PUBREL, packetId: id })
  assert.equal((await c.next(PacketType.PUBCOMP, WAIT)).packetId, id)
}

/** Takes `n` PUBLISHes, acknowledging each as a subscriber does. */
async function receive(c: RawClient, n: number): Promise<[string, string, QoS][]> {
  const got: [string, string, QoS][] = []
  while (got.length < n) {
    const p = await c.next(undefined, WAIT)
    if (p.type === PacketType.PUBREL) {
      c.send({ type: PacketType.PUBCOMP, packetId: p.packetId })
      continue
    }
    assert.equal(p.type, PacketType.PUBLISH)
    const m = p as PublishPacket
    got.push([m.topic, m.payload.toString(), m.qos])
    if (m.qos === 1) c.send({ type: PacketType.PUBACK, packetId: m.packetId })
    if (m.qos === 2) c.send({ type: PacketType.PUBREC, packetId: m.packetId })
  }
  return got.sort((a, b) => a[0].localeCompare(b[0]))
}

/** Asserts that for `ms` nothing but PUBRELs of flows already under way arrives (they are completed). */
async function nothingNewFor(c: RawClient, ms: number): Promise<void> {
  await delay(ms)
  while (c.received.length > 0) {
    const p = await c.next(undefined, WAIT)
    assert.equal(p.type, PacketType.PUBREL, `nothing more is delivered, got ${show(p)}`)
    c.send({ type: PacketType.PUBCOMP, packetId: p.packetId })
  }
}

test('keeps subscriptions acknowledged before kill -9: session present, messages queued and delivered [MQTT-3.1.2-4]', {
  timeout: 30_000,
}, async (t) => {
  const broker = await BrokerProcess.start(t)
  const sub = await connect(broker.port, 'subs-persistent', false)
  assert.equal(sub.connack?.sessionPresent, false)
  assert.deepEqual(
    (
      await sub.subscribe(
        [
          { topic: 'subs/a', qos: 1 },
          { topic: 'subs/b/#', qos: 2 },
          { topic: 'subs/low', qos: 0 },
          { topic: 'subs/gone', qos: 1 },
        ],
        0,
        WAIT,
      )
    ).granted,
    [1, 2, 0, 1],
  )
  sub.send({ type: PacketType.UNSUBSCRIBE, packetId: 99, topics: ['subs/gone'] })
  assert.equal((await sub.next(PacketType.UNSUBACK, WAIT)).packetId, 99)
  // Killed right after the UNSUBACK, with the subscriber still connected.
  broker.killNow()
  await broker.kill()
  await broker.restart()

  // Published while the subscriber is away: queued for its session.
  const pub = await connect(broker.port, 'subs-publisher', true)
  await publish(pub, 'subs/a', 'a1', 1)
  await publish(pub, 'subs/b/x', 'b1', 2)
  await publish(pub, 'subs/gone', 'not for it', 1)
  await publish(pub, 'subs/low', 'qos 0 is not queued', 1)

  const back = await connect(broker.port, 'subs-persistent', false)
  assert.equal(back.connack?.sessionPresent, true, 'CONNACK session present after kill -9 [MQTT-3.2.2-2]')
  assert.deepEqual(await receive(back, 2), [
    ['subs/a', 'a1', 1],
    ['subs/b/x', 'b1', 2],
  ])
  // Connected: delivered at once, at the granted QoS.
  await publish(pub, 'subs/low', 'low', 2)
  await publish(pub, 'subs/b/y/z', 'b2', 2)
  await publish(pub, 'subs/gone', 'still not for it', 1)
  assert.deepEqual(await receive(back, 2), [
    ['subs/b/y/z', 'b2', 2],
    ['subs/low', 'low', 0],
  ])
  await nothingNewFor(back, 300)
  await back.disconnect()
  await pub.disconnect()
})

test('a session ended before kill -9 stays ended; a clean session leaves nothing behind [MQTT-3.1.2-6]', {
  timeout: 30_000,
}, async (t) => {
  const broker = await BrokerProcess.start(t)
  // A persistent session, then discarded by a clean-session connection with the same id.
  const a = await connect(broker.port, 'subs-ended', false)
  await a.subscribe('ended/t', 1, WAIT)
  await a.disconnect()
  const a2 = await connect(broker.port, 'subs-ended', true)
  assert.equal(a2.connack?.sessionPresent, false)
  await a2.disconnect()
  // A clean session's subscription, still connected at the kill.
  const c = await connect(broker.port, 'subs-clean', true)
  await c.subscribe('ended/t', 1, WAIT)
  broker.killNow()
  await broker.kill()
  await broker.restart()

  const pub = await connect(broker.port, 'subs-ended-publisher', true)
  await publish(pub, 'ended/t', 'to nobody', 1)
  for (const id of ['subs-ended', 'subs-clean']) {
    const back = await connect(broker.port, id, false)
    assert.equal(back.connack?.sessionPresent, false, `${id}: no session after the restart`)
    await back.nothingFor(200)
    await back.disconnect()
  }
  await pub.disconnect()
})
