import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Pending } from '../../../src/client/pending.js'
import { Writer } from '../../../src/client/writer.js'
import { FakeDuplex, state } from './helpers.js'

describe('client writer', () => {
  test('packets queued in one turn leave in one write', async () => {
    const w = new Writer()
    const d = new FakeDuplex()
    w.attach(d)
    for (let i = 0; i < 100; i++) w.push(Buffer.from([0xc0, 0]))
    await Promise.resolve()
    assert.equal(d.writes.length, 1)
    assert.equal(d.writes[0]!.length, 200)
  })

  test('more than 64 KiB in a turn is gathered into a few large writes inside one cork', () => {
    const w = new Writer()
    const d = new FakeDuplex()
    w.attach(d)
    for (let i = 0; i < 1000; i++) w.push(Buffer.alloc(1000, i & 0xff))
    w.flush()
    assert.equal(d.corked, 1)
    assert.equal(d.writes.length, Math.ceil(1_000_000 / 65_000))
    assert.equal(
      d.writes.reduce((n, b) => n + b.length, 0),
      1_000_000,
    )
  })

  test('a QoS 0 publish settles once written, or at drain when the transport pushed back', async () => {
    const w = new Writer()
    const d = new FakeDuplex()
    w.attach(d)
    const a = new Pending<void>()
    const pa = a.promise()
    w.pushSettling(Buffer.from([0x30, 3, 0, 1, 0x74]), a)
    w.flush()
    assert.equal(await state(pa), 'resolved')
    d.full = true
    const b = new Pending<void>()
    const pb = b.promise()
    w.pushSettling(Buffer.from([0x30, 3, 0, 1, 0x74]), b)
    w.flush()
    assert.equal(await state(pb), 'pending')
    d.full = false
    const c = new Pending<void>()
    const pc = c.promise()
    w.pushSettling(Buffer.from([0x30, 3, 0, 1, 0x74]), c)
    w.flush()
    assert.equal(await state(pc), 'pending') // still behind the earlier backlog
    w.drain()
    assert.equal(await state(pb), 'resolved')
    assert.equal(await state(pc), 'resolved')
  })

  test('detach drops what was not written and returns its QoS 0 publishes', () => {
    const w = new Writer()
    const d = new FakeDuplex()
    w.attach(d)
    const a = new Pending<void>()
    void a.promise()
    w.pushSettling(Buffer.from([0x30, 3, 0, 1, 0x74]), a)
    assert.deepEqual(w.detach(), [a])
    w.flush()
    assert.equal(d.writes.length, 0)
  })
})
