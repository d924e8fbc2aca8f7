import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { OfflineQueueFullError } from '../../../src/client/errors.js'
import { Pending } from '../../../src/client/pending.js'
import { MemoryOutboundStore } from '../../../src/client/store.js'
import { type Packet, PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { Await } from '../../../src/session/outbound.js'
import { job, sessionRig, state } from './helpers.js'

const publish = (packetId: number, qos: 1 | 2, payload = 'p'): PublishPacket => ({
  type: PacketType.PUBLISH,
  topic: 't',
  payload: Buffer.from(payload),
  qos,
  retain: false,
  dup: false,
  packetId,
})
const ack = (type: 4 | 5 | 6 | 7 | 11, packetId: number): Packet => ({ type, packetId }) as Packet
const brief = (ps: Packet[]): string[] =>
  ps.map((p) =>
    p.type === PacketType.PUBLISH
      ? `PUBLISH ${p.payload} q${p.qos} id${p.packetId}${p.dup ? ' dup' : ''}`
      : p.type === PacketType.SUBSCRIBE
        ? `SUBSCRIBE ${p.subscriptions.map((s) => s.topic).join(',')}`
        : `${p.type} ${'packetId' in p ? p.packetId : ''}`,
  )

describe('client session: outgoing flows', () => {
  test('QoS 1 settles on PUBACK and QoS 2 on PUBCOMP, after a PUBREL answers PUBREC', async () => {
    const r = sessionRig()
    const a = job('t', 'a', 1)
    const b = job('t', 'b', 2)
    r.session.submit(a.job)
    r.session.submit(b.job)
    assert.deepEqual(brief(r.sent()), ['PUBLISH a q1 id1', 'PUBLISH b q2 id2'])
    r.session.handle(ack(PacketType.PUBACK, 1))
    assert.equal(await state(a.promise), 'resolved')
    r.session.handle(ack(PacketType.PUBREC, 2))
    assert.deepEqual(brief(r.sent()), ['6 2'])
    assert.equal([...r.store.load()][0]?.awaiting, Await.Pubcomp)
    assert.equal(await state(b.promise), 'pending')
    r.session.handle(ack(PacketType.PUBCOMP, 2))
    assert.equal(await state(b.promise), 'resolved')
    assert.equal(r.store.size, 0)
  })

  test('packet ids never collide with one in flight, SUBSCRIBE ids included, and wrap at 65535', () => {
    const r = sessionRig()
    const inFlight = new Set<number>()
    const taken = (p: Packet): number => ('packetId' in p ? p.packetId : 0)
    // id 1 stays in flight for the whole run; others complete as they go
    r.session.submit(job('t', 'held', 1).job)
    inFlight.add(1)
    r.session.subscribe([{ topic: 'a', qos: 0 }], null)
    const sub = r.sent().map(taken)
    assert.deepEqual(sub, [1, 2])
    for (let i = 0; i < 70_000; i++) {
      r.session.submit(job('t', 'x', 1).job)
      const [p] = r.sent()
      const id = taken(p!)
      assert.ok(id >= 1 && id <= 65_535)
      assert.ok(id !== 1 && id !== 2, `id ${id} collides with one in flight`)
      r.session.handle(ack(PacketType.PUBACK, id))
    }
    assert.equal(r.session.outbound.size, 1)
  })

  test('QoS 2 has its own window: the 21st waits, in order, until a PUBCOMP frees a place', () => {
    const r = sessionRig({ maxInflightQoS2: 20 })
    for (let i = 0; i < 21; i++) r.session.submit(job('t', String(i), 2).job)
    r.session.submit(job('t', 'after', 1).job)
    assert.equal(r.sent().length, 20)
    assert.equal(r.session.queued, 2)
    r.session.handle(ack(PacketType.PUBREC, 1))
    r.session.handle(ack(PacketType.PUBCOMP, 1))
    assert.deepEqual(brief(r.sent()), ['6 1', 'PUBLISH 20 q2 id21', 'PUBLISH after q1 id22'])
  })

  test('offline, publishes queue up to maxOfflineQueue; the next is refused', async () => {
    const r = sessionRig({ maxOfflineQueue: 2 })
    r.host.online = false
    const a = job('t', 'a', 1)
    const b = job('t', 'b', 0)
    const c = job('t', 'c', 2)
    r.session.submit(a.job)
    r.session.submit(b.job)
    r.session.submit(c.job)
    await assert.rejects(c.promise, OfflineQueueFullError)
    assert.deepEqual(r.sent(), [])
    // a queued publish that timed out no longer takes a place
    a.job.reject(new Error('timeout'))
    await assert.rejects(a.promise)
    const d = job('t', 'd', 1)
    r.session.submit(d.job)
    assert.equal(await state(d.promise), 'pending')
    r.host.online = true
    r.session.resume(true)
    assert.deepEqual(brief(r.sent()), ['PUBLISH b q0 id0', 'PUBLISH d q1 id1'])
    assert.equal(await state(b.promise), 'resolved')
  })

  test('on reconnect: PUBLISH (DUP) and PUBREL first in order, then re-subscribe, then requests, then the queue', () => {
    const r = sessionRig()
    r.session.subscribe([{ topic: 'kept', qos: 1 }], null)
    r.sent()
    r.session.handle({ type: PacketType.SUBACK, packetId: 1, granted: [1] })
    r.session.submit(job('t', 'one', 1).job) // id 2
    r.session.submit(job('t', 'two', 2).job) // id 3, gets PUBREC
    r.session.submit(job('t', 'three', 2).job) // id 4
    r.sent()
    r.session.handle(ack(PacketType.PUBREC, 3))
    r.sent()
    r.host.online = false
    const pending = new Pending<number[]>()
    void pending.promise()
    r.session.subscribe([{ topic: 'pending', qos: 0 }], pending) // id 5, not sent while offline
    r.session.submit(job('t', 'queued', 1).job)
    assert.deepEqual(r.sent(), [])
    r.host.online = true
    r.session.resume(false)
    assert.deepEqual(brief(r.sent()), [
      'PUBLISH one q1 id2 dup',
      '6 3',
      'PUBLISH three q2 id4 dup',
      'SUBSCRIBE kept',
      'SUBSCRIBE pending',
      'PUBLISH queued q1 id7',
    ])
  })

  test('a reconnect that finds the session does not re-subscribe', () => {
    const r = sessionRig()
    r.session.subscribe([{ topic: 'kept', qos: 1 }], null)
    r.session.handle({ type: PacketType.SUBACK, packetId: 1, granted: [1] })
    r.sent()
    r.session.resume(true)
    assert.deepEqual(r.sent(), [])
  })

  test('refused filters (0x80) are not re-subscribed; unsubscribed ones are forgotten', () => {
    const r = sessionRig()
    r.session.subscribe(
      [
        { topic: 'ok', qos: 1 },
        { topic: 'no', qos: 1 },
      ],
      null,
    )
    r.session.handle({ type: PacketType.SUBACK, packetId: 1, granted: [1, 0x80] })
    assert.deepEqual([...r.session.subscriptions], [['ok', 1]])
    const unsub = new Pending<number[]>()
    void unsub.promise()
    r.session.unsubscribe(['ok'], unsub)
    r.session.handle(ack(PacketType.UNSUBACK, 2))
    assert.equal(r.session.subscriptions.size, 0)
  })

  test('flows left in a store are re-sent first by a new session given the same store', () => {
    const store = new MemoryOutboundStore()
    const first = sessionRig({}, store)
    first.session.submit(job('t', 'a', 1).job)
    first.session.submit(job('t', 'b', 2).job)
    first.sent()
    first.session.handle(ack(PacketType.PUBREC, 2))
    const second = sessionRig({}, store)
    second.session.resume(true)
    assert.deepEqual(brief(second.sent()), ['PUBLISH a q1 id1 dup', '6 2'])
    second.session.handle(ack(PacketType.PUBACK, 1))
    second.session.handle(ack(PacketType.PUBCOMP, 2))
    assert.equal(store.size, 0)
    // ids of restored flows are not reused while they are in flight
    const third = sessionRig({}, store)
    third.session.submit(job('t', 'c', 1).job)
    assert.deepEqual(brief(third.sent()), ['PUBLISH c q1 id1'])
  })
})

describe('client session: incoming flows', () => {
  test('QoS 2 is exactly once: a re-sent PUBLISH before PUBREL is acknowledged, not delivered', () => {
    const r = sessionRig()
    r.session.handle(publish(7, 2, 'once'))
    r.session.handle({ ...publish(7, 2, 'once'), dup: true })
    assert.equal(r.delivered.length, 1)
    assert.deepEqual(brief(r.sent()), ['5 7', '5 7'])
    r.session.handle(ack(PacketType.PUBREL, 7))
    assert.deepEqual(brief(r.sent()), ['7 7'])
    // after PUBREL the id is free: a PUBLISH with it is a new message [MQTT-4.3.3-2]
    r.session.handle(publish(7, 2, 'next'))
    assert.deepEqual(
      r.delivered.map((p) => p.payload.toString()),
      ['once', 'next'],
    )
  })

  test('QoS 2 receipts survive a reconnect that finds the session, and are dropped when it is lost', () => {
    const r = sessionRig()
    r.session.handle(publish(9, 2))
    r.session.resume(true)
    r.session.handle({ ...publish(9, 2), dup: true })
    assert.equal(r.delivered.length, 1)
    r.session.resume(false)
    r.session.handle(publish(9, 2))
    assert.equal(r.delivered.length, 2)
  })

  test('QoS 1 is delivered and acknowledged with PUBACK; a PUBREL for an unknown id still gets PUBCOMP', () => {
    const r = sessionRig()
    r.session.handle(publish(3, 1))
    r.session.handle(ack(PacketType.PUBREL, 99))
    assert.equal(r.delivered.length, 1)
    assert.deepEqual(brief(r.sent()), ['4 3', '7 99'])
  })

  test('a packet a client must never receive is a protocol error', () => {
    const r = sessionRig()
    assert.throws(
      () =>
        r.session.handle({
          type: PacketType.SUBSCRIBE,
          packetId: 1,
          subscriptions: [{ topic: 'a', qos: 0 }],
        }),
      (e: unknown) => e instanceof Error && 'code' in e && e.code === 'PETREL_UNEXPECTED_PACKET',
    )
  })
})
