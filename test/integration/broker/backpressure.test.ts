import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encode, PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { type RawClient, startBroker } from '../../helpers/raw-client.js'

/**
 * Back-pressure: a subscriber that cannot keep up slows the publishers feeding
 * it (they are not read) instead of growing memory, and nothing acknowledged is
 * dropped on the way.
 */

/** Acknowledges every QoS 1 PUBLISH that arrives; resolves with the payloads once `count` have come. */
async function drainAcking(c: RawClient, count: number, timeoutMs: number): Promise<string[]> {
  const got: string[] = []
  const deadline = Date.now() + timeoutMs
  while (got.length < count) {
    const left = deadline - Date.now()
    assert.ok(left > 0, `only ${got.length} of ${count} messages arrived`)
    // PUBACKs for the client's own publishes come in between: skip them
    const p = (await c.until((x) => x.type === PacketType.PUBLISH, left, 'a PUBLISH')) as PublishPacket
    got.push(p.payload.toString())
    if (p.qos === 1) c.send({ type: PacketType.PUBACK, packetId: p.packetId })
  }
  return got
}

test('two clients that publish to each other at QoS 1 beyond every queue limit do not stall each other', async (t) => {
  // Tiny limits, so each subscriber's queue is full almost at once and each client is
  // slowed on account of the other: the acknowledgements must still get through.
  const tb = await startBroker({ maxInflight: 2, maxQueuedMessages: 5, slowConsumerTimeout: 5_000 }, t)
  const a = await tb.connect({ clientId: 'mesh-a' })
  const b = await tb.connect({ clientId: 'mesh-b' })
  await a.subscribe('mesh/#', 1)
  await b.subscribe('mesh/#', 1)
  const n = 200
  for (let i = 0; i < n; i++) {
    a.publish('mesh/a', `a${i}`, { qos: 1 })
    b.publish('mesh/b', `b${i}`, { qos: 1 })
  }
  const [gotA, gotB] = await Promise.all([drainAcking(a, 2 * n, 4_000), drainAcking(b, 2 * n, 4_000)])
  for (const got of [gotA, gotB]) {
    // each publisher's messages arrive complete and in order [MQTT-4.6.0-2]
    assert.deepEqual(
      got.filter((p) => p.startsWith('a')),
      Array.from({ length: n }, (_, i) => `a${i}`),
    )
    assert.deepEqual(
      got.filter((p) => p.startsWith('b')),
      Array.from({ length: n }, (_, i) => `b${i}`),
    )
  }
})

test('a client that publishes QoS 1 to its own subscription without acknowledging is slowed, then catches up', async (t) => {
  const tb = await startBroker({ maxInflight: 2, maxQueuedMessages: 5, slowConsumerTimeout: 5_000 }, t)
  const c = await tb.connect({ clientId: 'self' })
  await c.subscribe('self/#', 1)
  const n = 100
  for (let i = 0; i < n; i++) c.publish('self/t', `m${i}`, { qos: 1 })
  // Not acknowledging: the broker holds the client's later PUBLISHes rather than queue them all.
  await new Promise((r) => setTimeout(r, 300))
  const acked = c.received.filter((p) => p.type === PacketType.PUBACK).length
  assert.ok(acked < 20, `${acked} of ${n} PUBLISHes were acknowledged while the queue was full`)
  // Once it acknowledges what it gets, everything arrives, in order [MQTT-4.6.0-2].
  const got = await drainAcking(c, n, 4_000)
  assert.deepEqual(
    got,
    Array.from({ length: n }, (_, i) => `m${i}`),
  )
})

test('QoS 0 PUBLISHes held while their publisher is slowed reach the subscriber whole and in order, forwarded as they were sent [MQTT-4.6.0-6]', async (t) => {
  const tb = await startBroker({ maxOutputBuffer: 65_536, stuckConsumerWindow: 5_000 }, t)
  const sub = await tb.connect()
  await sub.subscribe('held/#', 0)
  sub.socket.pause() // slow: reads nothing for a while, so the publisher is held
  const pub = await tb.connect()
  // 20 MB: more than the kernel's socket buffers take, so the broker must hold the publisher
  // (its 64 KiB output budget would drop them otherwise, and every one must arrive)
  const n = 20_000
  const filler = Buffer.alloc(1000, 0x66)
  const sent: Buffer[] = []
  for (let i = 0; i < n; i++) {
    const packet = {
      type: PacketType.PUBLISH,
      topic: `held/${i % 7}`,
      payload: Buffer.concat([Buffer.from(`m${i}:`), filler]),
      qos: 0,
      retain: false,
      dup: false,
      packetId: 0,
    } as const
    sent.push(encode(packet))
    pub.send(packet)
  }
  await new Promise((r) => setTimeout(r, 300))
  sub.socket.resume()
  for (let i = 0; i < n; i++) {
    const p = await sub.next(PacketType.PUBLISH, 3000)
    assert.ok(sub.raw(p).equals(sent[i]!), `message ${i} arrived as sent`)
  }
})
