import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import { test } from 'node:test'
import { brokerStats } from '../../../src/broker/events.js'
import { MAX_STREAMS, openStream, STALLED_TICKS } from '../../../src/http/event-stream.js'
import { Sampler, type SampleSource } from '../../../src/http/sampler.js'

const source = (): SampleSource => ({
  stats: brokerStats(),
  connected: () => 0,
  sessions: () => 0,
  subscriptions: () => 0,
  retained: () => 0,
  totals: () => ({ persistentSessions: 0, inflight: 0, queued: 0, sharedSubscriptions: 0 }),
  storeSizeBytes: () => null,
  eventLoop: () => ({ delayP99Seconds: 0, utilization: 0 }),
  memory: () => ({ heapUsedBytes: 0, rssBytes: 0 }),
})

/** A response that records what is written, and says its buffer is full while `full` is set. */
class FakeResponse extends EventEmitter {
  written: string[] = []
  full = false
  destroyed = false
  status = 0
  destroy(): this {
    this.destroyed = true
    this.emit('close')
    return this
  }
  writeHead(status: number): this {
    this.status = status
    return this
  }
  write(chunk: string): boolean {
    this.written.push(chunk)
    return !this.full
  }
  events(): string[] {
    return this.written.flatMap((w) => /^event: (\w+)/.exec(w)?.[1] ?? [])
  }
}

test('a stream starts with the current overview, then one per tick', () => {
  const sampler = new Sampler(source(), 0)
  const res = new FakeResponse()
  assert.equal(openStream(sampler, res as unknown as ServerResponse), true)
  assert.equal(res.status, 200)
  assert.deepEqual(res.events(), ['overview'])
  sampler.tick(1000)
  sampler.tick(2000)
  assert.deepEqual(res.events(), ['overview', 'overview', 'overview'])
})

test('a reader that falls behind is not buffered for: writes stop until its socket drains', () => {
  const sampler = new Sampler(source(), 0)
  const res = new FakeResponse()
  openStream(sampler, res as unknown as ServerResponse)
  res.full = true
  sampler.tick(1000) // written, and the socket says it is full
  sampler.tick(2000)
  sampler.notable({ time: 2000, kind: 'takeover', detail: 'x' })
  assert.equal(res.events().length, 2)
  res.full = false
  res.emit('drain')
  sampler.tick(3000)
  assert.equal(res.events().length, 3)
})

test(`a reader that takes nothing for ${STALLED_TICKS} ticks is closed, and frees its place`, () => {
  const sampler = new Sampler(source(), 0)
  const res = new FakeResponse()
  openStream(sampler, res as unknown as ServerResponse)
  res.full = true
  sampler.tick(1000) // written: now the socket is backed up
  for (let t = 2; t < STALLED_TICKS + 2; t++) {
    sampler.tick(t * 1000) // missed
    assert.equal(res.destroyed, false, `open after tick ${t}`)
  }
  sampler.tick((STALLED_TICKS + 2) * 1000)
  assert.equal(res.destroyed, true)
  assert.equal(sampler.listenerCount, 0)
})

test('a reader that catches up in time keeps its stream', () => {
  const sampler = new Sampler(source(), 0)
  const res = new FakeResponse()
  openStream(sampler, res as unknown as ServerResponse)
  for (let round = 0; round < 3; round++) {
    res.full = true
    for (let t = 0; t < STALLED_TICKS; t++) sampler.tick((round * 100 + t + 1) * 1000)
    res.full = false
    res.emit('drain')
  }
  assert.equal(res.destroyed, false)
})

test('a closed stream stops listening to the sampler', () => {
  const sampler = new Sampler(source(), 0)
  const res = new FakeResponse()
  openStream(sampler, res as unknown as ServerResponse)
  assert.equal(sampler.listenerCount, 1)
  res.emit('close')
  assert.equal(sampler.listenerCount, 0)
})

test(`at most ${MAX_STREAMS} streams are open at once`, () => {
  const sampler = new Sampler(source(), 0)
  for (let i = 0; i < MAX_STREAMS; i++) {
    assert.equal(openStream(sampler, new FakeResponse() as unknown as ServerResponse), true)
  }
  const refused = new FakeResponse()
  assert.equal(openStream(sampler, refused as unknown as ServerResponse), false)
  assert.equal(refused.status, 0, 'nothing written: the caller answers 503')
})
