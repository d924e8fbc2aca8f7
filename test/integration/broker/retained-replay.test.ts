/**
 * A new subscription matching many retained messages gets every one of them, paced by what
 * its client reads (RetainedReplays): at QoS 0 none is dropped for the output limit, at
 * QoS 1 no more than the in-flight window is outstanding, and other clients are served
 * while the replay goes on.
 */
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import { Decoder, encode, type Packet, PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { startBroker, uniqueId } from '../../helpers/raw-client.js'

const COUNT = 40_000

/**
 * A raw subscriber that counts PUBLISHes as they come, acknowledging QoS 1 ones, and resolves
 * once `count` arrived (or rejects after `ms`).
 */
function subscribeAndCount(
  port: number,
  filter: string,
  qos: 0 | 1,
  count: number,
  ms: number,
): Promise<{ publishes: PublishPacket[]; maxOutstanding: number }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    const publishes: PublishPacket[] = []
    let outstanding = 0
    let maxOutstanding = 0
    const timer = setTimeout(() => {
      s.destroy()
      reject(new Error(`${publishes.length} of ${count} retained messages within ${ms} ms`))
    }, ms)
    const acks: Buffer[] = []
    const d = new Decoder((p: Packet) => {
      if (p.type !== PacketType.PUBLISH) return
      publishes.push(p)
      if (p.qos === 1) {
        outstanding++
        maxOutstanding = Math.max(maxOutstanding, outstanding)
        acks.push(encode({ type: PacketType.PUBACK, packetId: p.packetId }))
      }
      if (publishes.length === count) {
        clearTimeout(timer)
        s.destroy()
        resolve({ publishes, maxOutstanding })
      }
    })
    s.on('data', (chunk) => {
      d.push(chunk)
      // acknowledged after each read, as a client that reads and answers would
      if (acks.length > 0) {
        s.write(Buffer.concat(acks))
        outstanding -= acks.length
        acks.length = 0
      }
    })
    s.on('error', reject)
    s.write(
      encode({
        type: PacketType.CONNECT,
        protocolName: 'MQTT',
        protocolVersion: 4,
        clientId: uniqueId(),
        clean: true,
        keepalive: 0,
      }),
    )
    s.write(encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: filter, qos }] }))
  })
}

test(`a '#' subscriber at QoS 0 gets all ${COUNT} retained messages, none dropped for the output limit, each once with RETAIN 1 [MQTT-3.3.1-6]`, async (t) => {
  // a small output limit: sending them all at once would drop most past it
  const tb = await startBroker({ maxOutputBuffer: 65_536 }, t)
  const prefix = `r/${uniqueId()}`
  for (let i = 0; i < COUNT; i++)
    tb.broker.publish({ topic: `${prefix}/${i % 100}/${i}`, payload: `v${i}`, retain: true })
  // meanwhile another client pings and is answered promptly
  const other = await tb.connect()
  const pings: number[] = []
  let replaying = true
  const pinger = (async () => {
    while (replaying) {
      const t0 = performance.now()
      other.send({ type: PacketType.PINGREQ })
      await other.next(PacketType.PINGRESP, 2000)
      pings.push(performance.now() - t0)
      await new Promise((r) => setTimeout(r, 5))
    }
  })()
  const { publishes } = await subscribeAndCount(tb.port, `${prefix}/#`, 0, COUNT, 20_000)
  replaying = false
  await pinger
  const topics = new Set(publishes.map((p) => p.topic))
  assert.equal(topics.size, COUNT, 'each retained message once')
  for (const p of publishes) {
    assert.equal(p.retain, true)
    assert.equal(p.payload.toString(), `v${p.topic.slice(p.topic.lastIndexOf('/') + 1)}`)
  }
  assert.equal(tb.broker.stats.drops.qos0Budget, 0, 'none dropped')
  assert.ok(pings.length > 0)
})

test('a QoS 1 replay keeps within the in-flight window and delivers every retained message [MQTT-3.3.4-9]', async (t) => {
  const tb = await startBroker({ maxInflight: 50 }, t)
  const prefix = `q/${uniqueId()}`
  const n = 5_000
  for (let i = 0; i < n; i++)
    tb.broker.publish({ topic: `${prefix}/${i}`, payload: 'x', qos: 1, retain: true })
  const { publishes, maxOutstanding } = await subscribeAndCount(tb.port, `${prefix}/+`, 1, n, 20_000)
  assert.equal(new Set(publishes.map((p) => p.topic)).size, n)
  assert.ok(publishes.every((p) => p.qos === 1 && p.retain))
  assert.ok(maxOutstanding <= 50, `at most the window outstanding; saw ${maxOutstanding}`)
})

test('a retained message deleted while the replay is under way is not sent; one published meanwhile reaches the subscriber [MQTT-3.3.1-10]', async (t) => {
  const tb = await startBroker({ maxOutputBuffer: 65_536 }, t)
  const prefix = `d/${uniqueId()}`
  for (let i = 0; i < 20_000; i++)
    tb.broker.publish({ topic: `${prefix}/a/${i}`, payload: 'x', retain: true })
  tb.broker.publish({ topic: `${prefix}/z/gone`, payload: 'old', retain: true })
  const sub = await tb.connect()
  await sub.subscribe(`${prefix}/#`, 0)
  // the replay is paced: these land before it reaches branch z
  tb.broker.publish({ topic: `${prefix}/z/gone`, payload: '', retain: true })
  tb.broker.publish({ topic: `${prefix}/z/new`, payload: 'n', retain: true })
  const retained = new Set<string>()
  let fresh = 0
  while (retained.size < 20_000) {
    const p = await sub.next(PacketType.PUBLISH, 5000)
    assert.notEqual(p.payload.toString(), 'old', 'the deleted message is not sent')
    if (p.topic === `${prefix}/z/new`) fresh++
    else if (p.retain) retained.add(p.topic)
  }
  await sub.nothingFor(100)
  assert.equal(fresh, 1, 'the message retained after the subscription comes once, as published')
})

test('unsubscribing stops a replay under way: nothing is made for the filter after UNSUBACK [MQTT-3.10.4-2]', async (t) => {
  const tb = await startBroker({ maxOutputBuffer: 65_536 }, t)
  const prefix = `u/${uniqueId()}`
  for (let i = 0; i < 20_000; i++) tb.broker.publish({ topic: `${prefix}/${i}`, payload: 'x', retain: true })
  const sub = await tb.connect()
  await sub.subscribe(`${prefix}/#`, 0)
  await sub.next(PacketType.PUBLISH, 5000)
  sub.send({ type: PacketType.UNSUBSCRIBE, packetId: 9, topics: [`${prefix}/#`] })
  let got = 1
  for (;;) {
    const p = await sub.next(undefined, 5000)
    if (p.type === PacketType.UNSUBACK) break
    got++
  }
  // what was already in the output buffer may still come; nothing after it
  for (;;) {
    try {
      await sub.next(PacketType.PUBLISH, 300)
      got++
    } catch {
      break
    }
  }
  assert.ok(got < 5_000, `${got} of 20000 arrived`)
})

test("a persistent session's replay cut by a disconnect goes on when it is back, without subscribing again [MQTT-3.1.2-4]", async (t) => {
  const tb = await startBroker({ maxOutputBuffer: 65_536, maxInflight: 20 }, t)
  const prefix = `p/${uniqueId()}`
  const n = 3_000
  for (let i = 0; i < n; i++)
    tb.broker.publish({ topic: `${prefix}/${i}`, payload: 'x', qos: 1, retain: true })
  const clientId = `replay-${uniqueId()}`
  const first = await tb.connect({ clientId, clean: false })
  await first.subscribe(`${prefix}/+`, 1)
  const seen = new Set<string>()
  for (let i = 0; i < 50; i++) {
    const p = await first.next(PacketType.PUBLISH, 5000)
    seen.add(p.topic)
    first.send({ type: PacketType.PUBACK, packetId: p.packetId })
  }
  first.destroy()
  await new Promise((r) => setTimeout(r, 50))
  const again = await tb.connect({ clientId, clean: false })
  while (seen.size < n) {
    const p = await again.next(PacketType.PUBLISH, 5000)
    seen.add(p.topic)
    again.send({ type: PacketType.PUBACK, packetId: p.packetId })
  }
  assert.equal(seen.size, n)
})
