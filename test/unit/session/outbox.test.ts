import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type ByteSink, Outbox, writeBatch } from '../../../src/session/outbox.js'

/** A ByteSink that records writes and whether each one happened inside a cork. */
class Sink implements ByteSink {
  writes: { bytes: Buffer; corked: boolean }[] = []
  corks = 0
  uncorks = 0
  private depth = 0
  /** write() returns false from this write on (0-based), to simulate a full transport. */
  fullFrom = Number.POSITIVE_INFINITY
  write(bytes: Buffer): boolean {
    this.writes.push({ bytes, corked: this.depth > 0 })
    return this.writes.length - 1 < this.fullFrom
  }
  cork(): void {
    this.corks++
    this.depth++
  }
  uncork(): void {
    this.uncorks++
    this.depth--
  }
  all(): Buffer {
    return Buffer.concat(this.writes.map((w) => w.bytes))
  }
}

const GATHER = 64 * 1024

function chunks(n: number, size: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => Buffer.alloc(size, i & 0xff))
}

describe('session Outbox', () => {
  test('push reports the first packet of a batch; bytes and empty follow what is queued', () => {
    const o = new Outbox()
    assert.equal(o.empty, true)
    assert.equal(o.bytes, 0)
    assert.equal(o.push(Buffer.alloc(3)), true)
    assert.equal(o.push(Buffer.alloc(4)), false)
    assert.equal(o.empty, false)
    assert.equal(o.bytes, 7)
    o.flushTo(new Sink())
    assert.equal(o.empty, true)
    assert.equal(o.bytes, 0)
    assert.equal(o.push(Buffer.alloc(1)), true)
  })

  test('a few small packets leave as one write, in order, without a cork', () => {
    const o = new Outbox()
    const sink = new Sink()
    for (let i = 0; i < 100; i++) o.push(Buffer.from([0xc0, i]))
    assert.equal(o.flushTo(sink), true)
    assert.equal(sink.writes.length, 1)
    assert.equal(sink.corks, 0)
    const bytes = sink.writes[0]!.bytes
    assert.equal(bytes.length, 200)
    for (let i = 0; i < 100; i++) assert.deepEqual([...bytes.subarray(2 * i, 2 * i + 2)], [0xc0, i])
  })

  test('a single packet is written as it is, not copied', () => {
    const o = new Outbox()
    const sink = new Sink()
    const b = Buffer.from([0xd0, 0])
    o.push(b)
    o.flushTo(sink)
    assert.equal(sink.writes.length, 1)
    assert.equal(sink.writes[0]!.bytes, b)
  })

  test('more than 64 KiB is gathered into writes of at most 64 KiB, all inside one cork', () => {
    const o = new Outbox()
    const sink = new Sink()
    const input = chunks(1000, 1000)
    for (const c of input) o.push(c)
    assert.equal(o.flushTo(sink), true)
    assert.equal(sink.corks, 1)
    assert.equal(sink.uncorks, 1)
    assert.ok(sink.writes.every((w) => w.corked))
    assert.ok(sink.writes.every((w) => w.bytes.length <= GATHER))
    assert.equal(sink.writes.length, Math.ceil(1_000_000 / 65_000)) // 65 packets of 1000 bytes per write
    assert.deepEqual(sink.all(), Buffer.concat(input))
  })

  test('a packet larger than 64 KiB goes out whole, between gathered writes, in order', () => {
    const sink = new Sink()
    const big = Buffer.alloc(100_000, 7)
    const input = [...chunks(10, 1000), big, ...chunks(10, 1000)]
    assert.equal(writeBatch(sink, input), true)
    assert.equal(sink.corks, 1)
    assert.equal(sink.writes.length, 3)
    assert.equal(sink.writes[1]!.bytes, big)
    assert.deepEqual(sink.all(), Buffer.concat(input))
  })

  test("a full transport's verdict is returned, and the whole batch is still written", () => {
    const sink = new Sink()
    sink.fullFrom = 0
    const input = chunks(200, 1000)
    assert.equal(writeBatch(sink, input), false)
    assert.deepEqual(sink.all(), Buffer.concat(input))
    assert.equal(sink.uncorks, 1)
  })

  test('take() hands over the queued packets in order and leaves the outbox empty', () => {
    const o = new Outbox()
    const a = Buffer.from([1])
    const b = Buffer.from([2, 3])
    o.push(a)
    o.push(b)
    assert.deepEqual(o.take(), [a, b])
    assert.equal(o.empty, true)
    assert.equal(o.bytes, 0)
    assert.deepEqual(o.take(), [])
    const sink = new Sink()
    assert.equal(o.flushTo(sink), true)
    assert.equal(sink.writes.length, 0)
    assert.equal(o.push(Buffer.from([4])), true) // the next packet starts a new batch
  })

  test('clear drops what is queued; an empty batch writes nothing', () => {
    const o = new Outbox()
    o.push(Buffer.alloc(10))
    o.clear()
    assert.equal(o.empty, true)
    assert.equal(o.bytes, 0)
    const sink = new Sink()
    assert.equal(o.flushTo(sink), true)
    assert.equal(writeBatch(sink, []), true)
    assert.equal(sink.writes.length, 0)
    assert.equal(sink.corks, 0)
  })
})
