import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ClusterStatus } from '../../../src/broker/cluster-bridge.js'
import {
  brokerStats,
  COMMIT_BUCKETS,
  commitHistogram,
  type NotableEvent,
} from '../../../src/broker/events.js'
import {
  commitP99,
  EVENT_RING,
  HISTORY_POINTS,
  Sampler,
  type SampleSource,
} from '../../../src/http/sampler.js'

/** A broker's figures made by hand: the sampler reads these, no sockets, no timers. */
function source(): SampleSource & { connectedNow: number } {
  const s = {
    stats: brokerStats(),
    connectedNow: 0,
    connected: () => s.connectedNow,
    sessions: () => 7,
    subscriptions: () => 12,
    retained: () => 3,
    totals: () => ({ persistentSessions: 2, inflight: 4, queued: 5, sharedSubscriptions: 1 }),
    storeSizeBytes: () => null,
    eventLoop: () => ({ delayP99Seconds: 0.012, utilization: 0.25 }),
    memory: () => ({ heapUsedBytes: 1000, rssBytes: 2000 }),
  }
  return s
}

const T0 = 1_800_000_000_000

test('rates are the change of the PUBLISH counters per second over the interval', () => {
  const src = source()
  src.stats.startedAt = T0 - 10_000
  const sampler = new Sampler(src, T0)
  src.stats.publishIn[3 + 1] = 300 // MQTT 3.1.1, QoS 1
  src.stats.publishIn[6 + 0] = 100 // MQTT 5, QoS 0
  src.stats.publishInBytes[4] = 4000
  src.stats.publishOut[4] = 800
  src.stats.publishOutBytes[4] = 16_000
  src.stats.drops.queueFull = 6
  src.stats.expired = 2
  src.stats.connectionsAccepted = 10
  src.connectedNow = 9
  const o = sampler.tick(T0 + 2000)
  assert.deepEqual(o.rates, {
    messagesIn: 200,
    messagesOut: 400,
    bytesIn: 2000,
    bytesOut: 8000,
    dropped: 4,
    connections: 5,
  })
  assert.deepEqual(o.totals, {
    messagesIn: 400,
    messagesOut: 800,
    bytesIn: 4000,
    bytesOut: 16_000,
    dropped: 8,
  })
  assert.equal(o.uptimeSeconds, 12)
  assert.equal(o.connections.current, 9)
  assert.deepEqual(o.sessions, { current: 7, persistent: 2, expired: 0 })
  assert.equal(o.inflight, 4)
  assert.equal(o.queued, 5)
  assert.equal(o.sharedSubscriptions, 1)
  assert.deepEqual(o.eventLoop, { delayP99Seconds: 0.012, utilization: 0.25 })
  // the next interval counts only what happened in it
  src.stats.publishIn[4] = 310
  const next = sampler.tick(T0 + 3000)
  assert.equal(next.rates.messagesIn, 10)
  assert.equal(next.rates.dropped, 0)
})

test('refused connections add up every reason', () => {
  const src = source()
  src.stats.refused.badCredentials = 2
  src.stats.refused.ipLimit = 3
  assert.equal(new Sampler(src, T0).tick(T0 + 1000).connections.refused, 5)
})

test('the history keeps one point per tick, oldest first, and at most an hour of them', () => {
  const src = source()
  const sampler = new Sampler(src, T0)
  for (let i = 1; i <= HISTORY_POINTS + 5; i++) {
    src.connectedNow = i
    sampler.tick(T0 + i * 1000)
  }
  const h = sampler.history()
  assert.equal(h.intervalSeconds, 1)
  assert.equal(h.time.length, HISTORY_POINTS)
  assert.equal(h.time[0], T0 / 1000 + 6)
  assert.equal(h.time.at(-1), T0 / 1000 + HISTORY_POINTS + 5)
  assert.equal(h.series.connections[0], 6)
  assert.equal(h.series.connections.at(-1), HISTORY_POINTS + 5)
  for (const values of Object.values(h.series)) assert.equal(values.length, HISTORY_POINTS)
})

test('commit latency is null in the history while nothing is committed', () => {
  const src = source()
  const sampler = new Sampler(src, T0)
  sampler.tick(T0 + 1000)
  src.stats.commits.counts[2]! += 10
  sampler.tick(T0 + 2000)
  sampler.tick(T0 + 3000)
  const p99 = sampler.history().series.commitP99Seconds
  assert.equal(p99[0], null)
  assert.ok(typeof p99[1] === 'number' && p99[1] > COMMIT_BUCKETS[1]! && p99[1] <= COMMIT_BUCKETS[2]!)
  assert.equal(p99[2], null)
})

test('commit p99 reads the commits since the last reading, interpolated inside their bucket', () => {
  const h = commitHistogram()
  const before = [...h.counts]
  assert.equal(commitP99(h, before), null)
  // 99 fast commits in the first bucket (<= 0.1 ms) and one in (1 ms, 2.5 ms]
  h.counts[0] = 99
  h.counts[4] = 1
  // rank 99 of 100 falls at the very top of the first bucket
  assert.equal(commitP99(h, before), COMMIT_BUCKETS[0])
  // 100 more in (1 ms, 2.5 ms] since then: all of this interval's are there
  const mid = [...h.counts]
  h.counts[4] = 101
  const p = commitP99(h, mid)!
  assert.ok(p > 0.001 && p <= 0.0025, `p99 ${p}`)
  // slower than the last bound: the last bound is all the histogram knows
  const late = [...h.counts]
  h.counts[COMMIT_BUCKETS.length]! += 5
  assert.equal(commitP99(h, late), COMMIT_BUCKETS.at(-1))
})

test('notable events are kept (the last 500), newest first, and passed to listeners', () => {
  const sampler = new Sampler(source(), T0)
  const heard: NotableEvent[] = []
  const stop = sampler.listen({ overview: () => {}, notable: (e) => heard.push(e) })
  for (let i = 0; i < EVENT_RING + 20; i++) {
    sampler.notable({ time: T0 + i, kind: 'refused', clientId: `c${i}`, detail: 'bad user name or password' })
  }
  const recent = sampler.recentEvents()
  assert.equal(recent.length, EVENT_RING)
  assert.equal(recent[0]!.clientId, `c${EVENT_RING + 19}`)
  assert.equal(recent.at(-1)!.clientId, 'c20')
  assert.deepEqual(
    sampler.recentEvents(2).map((e) => e.clientId),
    [`c${EVENT_RING + 19}`, `c${EVENT_RING + 18}`],
  )
  assert.equal(heard.length, EVENT_RING + 20)
  stop()
  sampler.notable({ time: T0, kind: 'takeover', detail: 'x' })
  assert.equal(heard.length, EVENT_RING + 20)
})

test('each tick is told to the listeners, and latest() is the last one', () => {
  const src = source()
  const sampler = new Sampler(src, T0)
  const times: number[] = []
  sampler.listen({ overview: (o) => times.push(o.time), notable: () => {} })
  sampler.tick(T0 + 1000)
  sampler.tick(T0 + 2000)
  assert.deepEqual(times, [T0 + 1000, T0 + 2000])
  assert.equal(sampler.latest().time, T0 + 2000)
})

test("a cluster node's overview has its cluster status and the cross-node rates; the history has them as series", () => {
  const src = source()
  const status: ClusterStatus = {
    node: 'n0',
    connected: true,
    server: '127.0.0.1:4222',
    nodes: [{ node: 'n1', lastSeen: T0, connections: 2 }],
    forwarded: 100,
    received: 40,
    pendingAcks: 0,
    interest: 3,
    sessions: 1,
    stream: { messages: 7, bytes: 700, consumers: 1, at: T0 },
  }
  const sampler = new Sampler({ ...src, cluster: () => ({ ...status }) }, T0)
  assert.deepEqual(sampler.latest().cluster?.rates, { forwarded: 0, received: 0 }, 'no previous reading')
  status.forwarded = 300
  status.received = 50
  const o = sampler.tick(T0 + 2000)
  assert.deepEqual(o.cluster, { ...status, rates: { forwarded: 100, received: 5 } })
  const h = sampler.history()
  assert.deepEqual(h.series.clusterForwarded, [100])
  assert.deepEqual(h.series.clusterReceived, [5])
  assert.deepEqual(h.series.clusterStreamMessages, [7])
})

test('a single node has no cluster in its overview, and null cluster series', () => {
  const sampler = new Sampler(source(), T0)
  const o = sampler.tick(T0 + 1000)
  assert.equal(o.cluster, null)
  const h = sampler.history()
  assert.deepEqual(h.series.clusterForwarded, [null])
  assert.deepEqual(h.series.clusterStreamMessages, [null])
})
