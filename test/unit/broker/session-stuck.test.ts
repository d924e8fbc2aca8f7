import assert from 'node:assert/strict'
import { beforeEach, mock, test } from 'node:test'
import { type BrokerStats, brokerStats } from '../../../src/broker/events.js'
import { Message } from '../../../src/broker/message.js'
import { silentLogger } from '../../../src/broker/options.js'
import { Session, type SessionLimits, type SessionLink } from '../../../src/broker/session.js'
import type { QoS } from '../../../src/protocol/index.js'

/**
 * Slow against stuck subscribers, without sockets: a fake link whose peer reads when the
 * test says so, and mocked timers with the same clock.
 */

class FakeLink implements SessionLink {
  outputBacklog = 0
  flushed = 0
  sent = 0
  paused = 0
  resumed = 0
  droppedAsSlow = false
  /** Bytes are taken by the peer at once (for the QoS 1 tests). */
  autoFlush = false

  send(bytes: Buffer): void {
    this.sent++
    if (this.autoFlush) this.flushed += bytes.length
    else this.outputBacklog += bytes.length
  }
  /** The peer reads `n` bytes. */
  take(n: number): void {
    const k = Math.min(n, this.outputBacklog)
    this.outputBacklog -= k
    this.flushed += k
  }
  pauseReading(): void {
    this.paused++
  }
  resumeReading(): void {
    this.resumed++
  }
  takenOver(): void {}
  unstored(): void {}
  dropSlowConsumer(): void {
    this.droppedAsSlow = true
  }
  get held(): boolean {
    return this.paused > this.resumed
  }
}

const WINDOW = 500
const TIMEOUT = 2000
const BUFFER = 16 * 1024 // soft limit 4 KiB; "enough" progress 1 KiB per window

let clock = 0
beforeEach(() => {
  clock = 0
  mock.timers.reset()
  mock.timers.enable({ apis: ['setTimeout'] })
})

function tick(ms: number): void {
  clock += ms
  mock.timers.tick(ms)
}

function session(over: Partial<SessionLimits> = {}): { s: Session; counters: BrokerStats } {
  const counters = brokerStats()
  const limits: SessionLimits = {
    maxInflight: 4,
    maxQueuedMessages: 8,
    maxOutputBuffer: BUFFER,
    slowConsumerTimeout: TIMEOUT,
    stuckConsumerWindow: WINDOW,
    logger: silentLogger,
    now: () => clock,
    ...over,
  }
  return { s: new Session('sub', true, limits, counters, null), counters }
}

const msg = (qos: QoS = 0): Message => new Message('t', Buffer.alloc(64), qos, false, null, true)

/** Delivers QoS 0 messages from `from` until it is slowed (at most `max`). */
function fillUntilSlowed(s: Session, from: FakeLink, max = 1000): void {
  for (let i = 0; i < max && !from.held; i++) s.deliver(msg(), 0, false, from)
  assert.ok(from.held, 'the publisher was slowed')
}

test('a subscriber that takes nothing holds its publisher for one window, then its QoS 0 is dropped and counted', () => {
  const { s, counters } = session()
  const sub = new FakeLink()
  const pub = new FakeLink()
  s.attach(sub)
  fillUntilSlowed(s, pub)
  tick(WINDOW - 1)
  assert.ok(pub.held, 'still held within the window')
  tick(1)
  assert.ok(!pub.held, 'let go after one window')
  const sent = sub.sent
  for (let i = 0; i < 100; i++) s.deliver(msg(), 0, false, pub)
  assert.equal(sub.sent, sent, 'nothing more written to it')
  assert.equal(counters.dropped, 100)
  assert.equal(counters.drops.qos0Budget, 100, 'QoS 0 over the output budget of a stuck subscriber')
  assert.equal(pub.paused, 1, 'not slowed again')
  assert.ok(sub.outputBacklog <= BUFFER / 4 + 64)
})

test('a subscriber that takes nothing for slowConsumerTimeout is disconnected; one that took a little is not', () => {
  const { s } = session()
  const sub = new FakeLink()
  s.attach(sub)
  fillUntilSlowed(s, new FakeLink())
  tick(TIMEOUT - WINDOW)
  assert.equal(sub.droppedAsSlow, false)
  tick(WINDOW)
  assert.equal(sub.droppedAsSlow, true)

  const other = session().s
  const reader = new FakeLink()
  other.attach(reader)
  fillUntilSlowed(other, new FakeLink())
  for (let t = 0; t < 3 * TIMEOUT; t += WINDOW) {
    reader.take(10) // far too little to slow anyone, but progress
    tick(WINDOW)
  }
  assert.equal(reader.droppedAsSlow, false)
})

test('a subscriber that takes enough in every window keeps its publisher slowed, loses nothing, and lets it go once caught up', () => {
  const { s, counters } = session()
  const sub = new FakeLink()
  const pub = new FakeLink()
  s.attach(sub)
  // fill well past the soft limit (an internal publisher is not slowed), then slow `pub`
  for (let i = 0; i < 200; i++) s.deliver(msg(), 0, false, null)
  s.deliver(msg(), 0, false, pub)
  assert.ok(pub.held)
  for (let w = 0; w < 8; w++) {
    sub.take(BUFFER / 16) // exactly enough
    tick(WINDOW)
    assert.ok(pub.held, `still slowed in window ${w}`)
  }
  assert.equal(sub.droppedAsSlow, false)
  assert.equal(counters.dropped, 0)
  sub.take(sub.outputBacklog)
  tick(WINDOW)
  assert.ok(!pub.held, 'caught up: let go')
})

test('a full QoS 1 queue without acknowledgements is stuck after one window: publishers go on, what does not fit is dropped', () => {
  const { s, counters } = session()
  const sub = new FakeLink()
  sub.autoFlush = true
  const pub = new FakeLink()
  s.attach(sub)
  // 4 in flight, then 8 queued: full
  for (let i = 0; i < 12; i++) s.deliver(msg(1), 1, false, pub)
  assert.equal(sub.sent, 4)
  assert.equal(s.queued, 8)
  assert.ok(pub.held)
  tick(WINDOW)
  assert.ok(!pub.held)
  for (let i = 0; i < 5; i++) s.deliver(msg(1), 1, false, pub)
  assert.equal(s.queued, 8, 'the queue does not grow past maxQueuedMessages')
  assert.equal(counters.dropped, 5)
  assert.equal(counters.drops.queueFull, 5, 'QoS 1 past a full queue of a stuck subscriber')
  // acknowledgements: the queue drains in order and the subscriber is an ordinary one again
  for (let id = 1; id <= 4; id++) s.ack('puback', id)
  assert.equal(s.queued, 4)
  assert.equal(sub.sent, 8)
  tick(WINDOW)
  for (let i = 0; i < 4; i++) s.deliver(msg(1), 1, false, pub)
  assert.equal(counters.dropped, 5, 'fits again: queued, not dropped')
  assert.ok(pub.held, 'full again: slowed again')
})

test('detaching ends the watch: publishers go on, and the gone connection is not dropped as slow', () => {
  const { s } = session()
  const sub = new FakeLink()
  const pub = new FakeLink()
  s.attach(sub)
  fillUntilSlowed(s, pub)
  s.detach()
  assert.ok(!pub.held)
  tick(3 * TIMEOUT)
  assert.equal(sub.droppedAsSlow, false)
})

test('a QoS 1 subscriber that acknowledges everything without reading cannot grow its output: sends stop at the soft limit, then it is stuck and dropped', () => {
  const { s, counters } = session({ maxInflight: 100, maxQueuedMessages: 50 })
  const sub = new FakeLink()
  const pub = new FakeLink()
  s.attach(sub)
  let nextAck = 1
  // a publisher delivers until it is slowed (a held publisher is not read)
  for (let i = 0; i < 5000 && !pub.held; i++) {
    s.deliver(msg(1), 1, false, pub)
    // acknowledges every PUBLISH it was sent, reads none of them
    while (nextAck <= sub.sent) s.ack('puback', nextAck++)
  }
  assert.ok(pub.held, 'its output past the soft limit slows the publisher')
  assert.ok(sub.outputBacklog <= BUFFER / 4 + 100, `${sub.outputBacklog} bytes waiting for it`)
  assert.ok(s.queued <= 50)
  // acknowledgements alone are no progress while its output waits
  while (nextAck <= sub.sent) s.ack('puback', nextAck++)
  tick(WINDOW)
  assert.ok(!pub.held, 'stuck: the publisher goes on')
  for (let i = 0; i < 100; i++) s.deliver(msg(1), 1, false, pub)
  assert.equal(s.queued, 50, 'the queue fills to maxQueuedMessages')
  assert.ok(counters.dropped >= 50, `${counters.dropped} dropped`)
  assert.ok(!pub.held)
  tick(TIMEOUT)
  assert.equal(sub.droppedAsSlow, true)
})

test('QoS 1 output held back at the soft limit goes out, in order, once the socket drains', () => {
  const { s } = session({ maxInflight: 100, maxQueuedMessages: 1000 })
  const sub = new FakeLink()
  s.attach(sub)
  for (let i = 0; i < 200; i++) s.deliver(msg(1), 1, false, null)
  const first = sub.sent
  assert.ok(first < 100, `${first} sent before the soft limit`)
  assert.equal(s.queued, 200 - first)
  sub.take(sub.outputBacklog)
  s.drained()
  assert.equal(sub.sent, 100, 'the window fills again once the socket took the output')
})

test('QoS 1 from another node of a cluster is not dropped past maxQueuedMessages, even for a stuck subscriber; far past it the subscriber is disconnected as slow', () => {
  const { s, counters } = session()
  const sub = new FakeLink()
  s.attach(sub)
  const remote = (): Message => {
    const m = msg(1)
    m.remote = true
    return m
  }
  // 4 in flight, then the queue: 8 is maxQueuedMessages; no publisher here to slow down
  for (let i = 0; i < 4 + 8 * 10; i++) s.deliver(remote(), 1, false, null)
  tick(WINDOW * 3) // stuck by now: local QoS 1 would be dropped
  for (let i = 0; i < 8 * 10; i++) s.deliver(remote(), 1, false, null)
  assert.equal(s.queued, 8 * 20, 'every acknowledged message kept')
  assert.equal(counters.drops.queueFull, 0)
  assert.equal(sub.droppedAsSlow, false)
  for (let i = 0; i < 8 * 64 && !sub.droppedAsSlow; i++) s.deliver(remote(), 1, false, null)
  assert.equal(sub.droppedAsSlow, true, 'disconnected at 64 x maxQueuedMessages')
  assert.equal(s.queued, 8 * 64)
})
