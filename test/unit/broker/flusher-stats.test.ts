import assert from 'node:assert/strict'
import { test } from 'node:test'
import { brokerStats, COMMIT_BUCKETS, type NotableEvent } from '../../../src/broker/events.js'
import { type Flushable, Flusher } from '../../../src/broker/flusher.js'
import { Notable } from '../../../src/broker/notable.js'
import { silentLogger } from '../../../src/broker/options.js'

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function busy(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {
    // a commit that takes this long
  }
}

function output(): Flushable & { flushed: number; failed: number } {
  return {
    flushed: 0,
    failed: 0,
    flush() {
      this.flushed++
    },
    seal() {},
    release() {
      this.flushed++
    },
    commitFailed() {
      this.failed++
    },
  }
}

test('times each commit that had writes into the histogram; an end of turn with no write is not timed', async () => {
  const stats = brokerStats()
  let commits = 0
  const f = new Flusher(
    {
      commit: () => {
        commits++
        busy(3)
      },
    },
    silentLogger,
    stats,
  )
  const c = output()
  f.markDirty(c) // output only: committed (nothing to do) but not timed
  await turn()
  assert.equal(commits, 1)
  assert.equal(stats.commits.count, 0)
  f.wrote()
  f.wrote()
  await turn()
  f.wrote()
  await turn()
  assert.equal(commits, 3)
  assert.equal(stats.commits.count, 2)
  // 3 ms each: above the 2.5 ms bound, so in the bucket of (2.5 ms, 5 ms] or above
  const at = COMMIT_BUCKETS.indexOf(0.0025)
  const below = stats.commits.counts.slice(0, at + 1).reduce((a, b) => a + b, 0)
  assert.equal(below, 0)
  assert.equal(
    stats.commits.counts.reduce((a, b) => a + b, 0),
    2,
  )
  assert.ok(stats.commits.sum >= 0.006 && stats.commits.sum < 1, `${stats.commits.sum}`)
  assert.equal(stats.commits.counts.length, COMMIT_BUCKETS.length + 1)
})

test('an asynchronous commit is timed when it resolves', async () => {
  const stats = brokerStats()
  const f = new Flusher(
    { commit: () => new Promise<void>((resolve) => setTimeout(resolve, 20)) },
    silentLogger,
    stats,
  )
  const c = output()
  f.wrote()
  f.markDirty(c)
  await turn()
  await f.idle()
  assert.equal(c.flushed, 1)
  assert.equal(stats.commits.count, 1)
  assert.ok(stats.commits.sum >= 0.015, `${stats.commits.sum}`)
})

test('a failed commit counts a store error, closes the waiting connections and is told as a store-error event', async () => {
  const stats = brokerStats()
  const events: NotableEvent[] = []
  const notable = new Notable(silentLogger, (e) => events.push(e))
  const f = new Flusher(
    { commit: () => Promise.reject(new Error('disk full')) },
    silentLogger,
    stats,
    notable,
  )
  const c = output()
  f.wrote()
  f.markDirty(c)
  await turn()
  await f.idle()
  assert.equal(stats.storeErrors, 1)
  assert.equal(c.failed, 1)
  assert.equal(stats.commits.count, 0, 'a failed commit is not a latency')
  assert.equal(events.length, 1)
  assert.equal(events[0]!.kind, 'store-error')
  assert.match(events[0]!.detail, /disk full/)
})

test('a commit that throws counts a store error and is told before the error goes on', () => {
  const stats = brokerStats()
  const events: NotableEvent[] = []
  const notable = new Notable(silentLogger, (e) => events.push(e))
  const f = new Flusher(
    {
      commit: () => {
        throw new Error('SQLITE_FULL')
      },
    },
    silentLogger,
    stats,
    notable,
  )
  assert.throws(() => f.flushNow(output(), () => {}), /SQLITE_FULL/)
  assert.equal(stats.storeErrors, 1)
  assert.equal(events[0]?.kind, 'store-error')
})
