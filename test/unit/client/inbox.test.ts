import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Inbox } from '../../../src/client/inbox.js'
import { PacketType, type PublishPacket } from '../../../src/protocol/index.js'

const msg = (n: number): PublishPacket => ({
  type: PacketType.PUBLISH,
  topic: 't',
  payload: Buffer.from(String(n)),
  qos: 1,
  retain: false,
  dup: false,
  packetId: n + 1,
})

function rig(limit = 4) {
  const emitted: string[] = []
  const pressure: boolean[] = []
  let listeners = 0
  const inbox = new Inbox(
    {
      hasListeners: () => listeners > 0,
      emitMessage: (p) => emitted.push(p.payload.toString()),
      pressure: (paused) => pressure.push(paused),
    },
    limit,
  )
  return {
    inbox,
    emitted,
    pressure,
    addListener() {
      listeners++
      inbox.listenerAdded()
    },
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

describe('client inbox', () => {
  test('messages that arrive before any consumer are held and handed to the first listener, in order', async () => {
    const r = rig(10)
    for (let i = 0; i < 3; i++) r.inbox.deliver(msg(i))
    assert.deepEqual(r.emitted, [])
    r.addListener()
    await tick()
    r.inbox.deliver(msg(3))
    assert.deepEqual(r.emitted, ['0', '1', '2', '3'])
    assert.equal(r.inbox.heldCount, 0)
  })

  test('held messages go to the first messages() iterator', async () => {
    const r = rig(10)
    r.inbox.deliver(msg(0))
    r.inbox.deliver(msg(1))
    const it = r.inbox.stream()
    r.inbox.deliver(msg(2))
    const got: string[] = []
    for (let i = 0; i < 3; i++) got.push((await it.next()).value?.payload.toString() ?? '')
    assert.deepEqual(got, ['0', '1', '2'])
  })

  test('held messages are bounded: reading pauses at the limit and resumes once they are handed over', async () => {
    const r = rig(3)
    for (let i = 0; i < 3; i++) r.inbox.deliver(msg(i))
    assert.deepEqual(r.pressure, [true])
    r.inbox.deliver(msg(3)) // a read already in hand is still kept
    r.addListener()
    await tick()
    assert.deepEqual(r.emitted, ['0', '1', '2', '3'])
    assert.deepEqual(r.pressure, [true, false])
  })

  test('every iterator gets every message; a full iterator pauses reading until it drains to half', async () => {
    const r = rig(4)
    const a = r.inbox.stream()
    const b = r.inbox.stream(2)
    for (let i = 0; i < 4; i++) r.inbox.deliver(msg(i))
    assert.equal(a.buffered, 4)
    assert.deepEqual(r.pressure, [true]) // a and b both full: paused once
    for (let i = 0; i < 3; i++) await b.next()
    assert.deepEqual(r.pressure, [true])
    for (let i = 0; i < 2; i++) await a.next()
    assert.deepEqual(r.pressure, [true, false])
  })

  test('close ends iterators after what they hold; a break stops one iterator only', async () => {
    const r = rig(10)
    const a = r.inbox.stream()
    const b = r.inbox.stream()
    r.inbox.deliver(msg(0))
    await b.return()
    r.inbox.deliver(msg(1))
    r.inbox.close()
    const got: string[] = []
    for await (const m of a) got.push(m.payload.toString())
    assert.deepEqual(got, ['0', '1'])
    assert.deepEqual(await b.next(), { value: undefined, done: true })
    assert.deepEqual(await r.inbox.stream().next(), { value: undefined, done: true })
  })

  test('a waiting next() is answered by the next message', async () => {
    const r = rig(10)
    const it = r.inbox.stream()
    const waiting = it.next()
    r.inbox.deliver(msg(5))
    assert.equal((await waiting).value?.payload.toString(), '5')
  })
})
