import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { test } from 'node:test'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { CountingSubscriber, heapAfterGc, rawConnect, sleep } from '../../helpers/flood.js'
import { startBroker, type TestBroker } from '../../helpers/raw-client.js'

/**
 * Memory that comes back: connections, topics, subscriptions and sessions release what
 * they allocated when they go. Each cycle runs five times; the heap after a forced GC
 * (V8's own slack left out) must not grow from the first cycle to the fifth.
 */

const MB = 1024 * 1024

async function waitFor(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms
  while (!ok()) {
    if (performance.now() > deadline) assert.fail(`not ${what} within ${ms} ms`)
    await sleep(20)
  }
}

/** Runs `cycle` five times; returns the heap after each, in bytes. */
async function fiveTimes(cycle: (round: number) => Promise<void>): Promise<number[]> {
  const heaps: number[] = []
  for (let round = 0; round < 5; round++) {
    await cycle(round)
    heaps.push(heapAfterGc())
  }
  return heaps
}

function assertFlat(heaps: number[], slack: number): void {
  const growth = heaps[4]! - heaps[0]!
  const shown = heaps.map((h) => (h / MB).toFixed(2)).join(', ')
  assert.ok(growth < slack, `heap after each cycle: ${shown} MB; grew ${(growth / MB).toFixed(2)} MB`)
}

async function closeAll(sockets: Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed) return resolve()
          s.once('close', () => resolve())
          s.destroy()
        }),
    ),
  )
}

async function connectionsCycle(tb: TestBroker, round: number): Promise<void> {
  const sockets: Socket[] = []
  for (let i = 0; i < 500; i += 50) {
    sockets.push(
      ...(await Promise.all(Array.from({ length: 50 }, (_, j) => rawConnect(tb.port, `c${round}-${i + j}`)))),
    )
  }
  assert.equal(tb.broker.connectedCount, 500)
  await closeAll(sockets)
  await waitFor('all disconnected', () => tb.broker.connectedCount === 0)
}

test('500 connections opened and dropped, five times: nothing stays behind', async (t) => {
  const tb = await startBroker({}, t)
  const heaps = await fiveTimes((round) => connectionsCycle(tb, round))
  assert.equal(tb.broker.sessionCount, 0)
  assertFlat(heaps, 1 * MB)
})

test('30 000 new topics published and 5 000 subscribe/unsubscribe pairs, five times: the trie and the route cache stay bounded', async (t) => {
  const tb = await startBroker({}, t)
  // stays connected throughout: the route cache is not dropped by its leaving
  const sub = await CountingSubscriber.start(tb.port, 'topics-sub', 'x/#')
  t.after(() => sub.socket.destroy())
  const heaps = await fiveTimes(async (round) => {
    const churn = await rawConnect(tb.port, 'churn')
    const pairs: Buffer[] = []
    for (let j = 0; j < 5000; j++) {
      const filter = `f/${round}/${j}/+`
      pairs.push(
        encode({ type: PacketType.SUBSCRIBE, packetId: 1 + j, subscriptions: [{ topic: filter, qos: 1 }] }),
      )
      pairs.push(encode({ type: PacketType.UNSUBSCRIBE, packetId: 1 + j, topics: [filter] }))
    }
    churn.write(Buffer.concat(pairs))
    // each pair is answered with a SUBACK (5 bytes) and an UNSUBACK (4 bytes)
    let answered = 0
    churn.on('data', (c: Buffer) => {
      answered += c.length
    })
    await waitFor('answered', () => answered >= 5000 * 9)
    await closeAll([churn])
    const pub = await rawConnect(tb.port, 'pub')
    const before = sub.count
    for (let i = 0; i < 30_000; i += 1000) {
      const batch: Buffer[] = []
      for (let j = i; j < i + 1000; j++) {
        const topic = `x/${round}/${j}/telemetry`
        batch.push(
          encode({
            type: PacketType.PUBLISH,
            topic,
            payload: Buffer.from('v'),
            qos: 0,
            retain: false,
            dup: false,
            packetId: 0,
          }),
        )
      }
      pub.write(Buffer.concat(batch))
      await sleep(1)
    }
    await waitFor('delivered', () => sub.count - before === 30_000)
    await closeAll([pub])
    await waitFor('publisher gone', () => tb.broker.connectedCount === 1)
  })
  assert.equal(tb.broker.subscriptionCount, 1)
  assert.equal(tb.broker.sessionCount, 1)
  assertFlat(heaps, 1 * MB)
})

test('a takeover storm (20 sockets, one client id, 1 s), five times: one session, nothing stays behind', async (t) => {
  const tb = await startBroker({}, t)
  const heaps = await fiveTimes(async () => {
    const end = performance.now() + 1000
    let connects = 0
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (performance.now() < end) {
          const s = await rawConnect(tb.port, 'same-id', { clean: false })
          connects++
          await sleep(2)
          await closeAll([s])
        }
      }),
    )
    assert.ok(connects > 100, `${connects} connects`)
    await waitFor('all disconnected', () => tb.broker.connectedCount === 0)
  })
  assert.equal(tb.broker.sessionCount, 1) // the persistent session, kept for its client
  assertFlat(heaps, 1 * MB)
})
