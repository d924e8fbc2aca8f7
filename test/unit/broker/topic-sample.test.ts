import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { SAMPLE_EVERY, TOPICS_KEPT, TopicSampler, WINDOW_MS } from '../../../src/broker/topic-sample.js'

/** What the router does per message: one decrement, and `take` for 1 in SAMPLE_EVERY. */
function route(s: TopicSampler, topic: string): void {
  if (--s.countdown === 0) s.take(topic)
}

test('samples 1 routed message in 64 and estimates the busiest topics, busiest first', () => {
  let now = 0
  const s = new TopicSampler(() => now)
  // 3 topics in the proportions 6:3:1, interleaved, 64 000 messages in all
  for (let i = 0; i < 6400; i++) {
    for (let k = 0; k < 6; k++) route(s, 'busy')
    for (let k = 0; k < 3; k++) route(s, 'mid')
    route(s, 'quiet')
  }
  now = 10_000
  const b = s.busiest(2)
  assert.equal(b.windowSeconds, 10)
  assert.deepEqual(
    b.items.map((i) => i.topic),
    ['busy', 'mid'],
  )
  const busy = b.items[0]!
  // sampling every 64th of a repeating pattern of 10 is fair: each topic gets its share
  assert.ok(Math.abs(busy.messages - 38_400) <= 2 * SAMPLE_EVERY, `${busy.messages}`)
  assert.ok(Math.abs(busy.share - 0.6) < 0.01, `${busy.share}`)
  assert.ok(Math.abs(busy.messagesPerSecond - 3840) < 20, `${busy.messagesPerSecond}`)
})

test('keeps at most 256 topics: a new one replaces the least counted, so a busy topic stays', () => {
  const now = 0
  const s = new TopicSampler(() => now)
  for (let i = 0; i < 100; i++) s.take('hot')
  for (let i = 0; i < 10_000; i++) s.take(`rare/${i}`)
  const b = s.busiest(1000)
  assert.equal(b.items.length, TOPICS_KEPT)
  assert.equal(b.items[0]!.topic, 'hot')
})

test('counts the current and the previous window: old traffic goes after two windows', () => {
  let now = 0
  const s = new TopicSampler(() => now)
  for (let i = 0; i < 10; i++) s.take('early')
  now = WINDOW_MS
  for (let i = 0; i < 5; i++) s.take('later')
  assert.deepEqual(
    s.busiest(5).items.map((i) => i.topic),
    ['early', 'later'],
  )
  now = 2 * WINDOW_MS
  s.take('later')
  assert.deepEqual(
    s.busiest(5).items.map((i) => i.topic),
    ['later'],
  )
  now = 5 * WINDOW_MS
  assert.deepEqual(s.busiest(5).items, [])
})

test('leaves $SYS topics out', () => {
  const s = new TopicSampler(() => 0)
  s.take('$SYS/broker/uptime')
  s.take('a')
  assert.deepEqual(
    s.busiest(5).items.map((i) => i.topic),
    ['a'],
  )
})

test('space-saving guarantees hold on any stream: a topic over 1/256 of the samples is kept, no count is under its own', () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 10, max: 400 })), {
        minLength: 500,
        maxLength: 4000,
      }),
      (stream) => {
        const s = new TopicSampler(() => 0)
        const truth = new Map<string, number>()
        for (const n of stream) {
          const t = `t/${n}`
          s.take(t)
          truth.set(t, (truth.get(t) ?? 0) + 1)
        }
        const kept = new Map(s.busiest(TOPICS_KEPT).items.map((i) => [i.topic, i.messages / SAMPLE_EVERY]))
        assert.ok(kept.size <= TOPICS_KEPT)
        // every take adds exactly one to the counts: they sum to the samples
        assert.equal(
          [...kept.values()].reduce((a, b) => a + b, 0),
          stream.length,
        )
        for (const [t, k] of kept) assert.ok(k >= truth.get(t)!, `${t}: ${k} < ${truth.get(t)}`)
        for (const [t, n] of truth)
          if (n > stream.length / TOPICS_KEPT) assert.ok(kept.has(t), `${t} (${n}) dropped`)
      },
    ),
    { numRuns: 100, endOnFailure: true },
  )
})
