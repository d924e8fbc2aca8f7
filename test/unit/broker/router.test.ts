import assert from 'node:assert/strict'
import { test } from 'node:test'
import { brokerStats } from '../../../src/broker/events.js'
import { Message } from '../../../src/broker/message.js'
import { silentLogger } from '../../../src/broker/options.js'
import { Router } from '../../../src/broker/router.js'
import { Session, type SessionLink } from '../../../src/broker/session.js'
import { makeSub, type Sub } from '../../../src/broker/subscription.js'
import type { QoS, Subscription } from '../../../src/protocol/index.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'

/**
 * The router's decisions with MQTT 5 subscription options, without sockets: which
 * session gets a message, at what QoS, with what RETAIN flag and which Subscription
 * Identifiers (what Session.deliver is called with).
 */

interface Call {
  client: string
  payload: string
  qos: QoS
  retain: boolean
  subIds: number[] | null
}

const limits = {
  maxInflight: 10,
  maxQueuedMessages: 100,
  maxOutputBuffer: 1 << 20,
  slowConsumerTimeout: 60_000,
  stuckConsumerWindow: 10_000,
  logger: silentLogger,
  now: () => 0,
}
const link: SessionLink = {
  send() {},
  outputBacklog: 0,
  flushed: 0,
  pauseReading() {},
  resumeReading() {},
  dropSlowConsumer() {},
  takenOver() {},
  unstored() {},
}

function setup(): { router: Router; calls: Call[]; session(id: string): Session } {
  const router = new Router(new MemoryStore())
  const calls: Call[] = []
  return {
    router,
    calls,
    session(id: string): Session {
      const s = new Session(id, true, limits, brokerStats(), null)
      s.attach(link)
      s.deliver = (msg, qos, retain, _from, subIds = null) => {
        calls.push({ client: id, payload: msg.payload.toString(), qos, retain, subIds })
      }
      return s
    },
  }
}

function message(topic: string, payload: string, qos: QoS, retain: boolean, origin: string | null): Message {
  const m = new Message(topic, Buffer.from(payload), qos, retain, null, true)
  m.origin = origin
  return m
}

const sub = (s: Partial<Subscription> & { qos: QoS }, id = 0): Sub => makeSub({ topic: '', ...s }, s.qos, id)

test('No Local: a client’s own messages are not sent back on that subscription [MQTT-3.8.3-3]', () => {
  const { router, calls, session } = setup()
  const a = session('a')
  const b = session('b')
  router.subscribe(a, 't', sub({ qos: 1, noLocal: true }))
  router.subscribe(b, 't', sub({ qos: 1, noLocal: true }))
  router.route(message('t', 'from a', 1, false, 'a'), null)
  assert.deepEqual(
    calls.map((c) => c.client),
    ['b'],
  )
})

test('No Local on one of two overlapping subscriptions: the other still delivers, with its identifier only [MQTT-3.8.3-3] [MQTT-3.3.4-3]', () => {
  const { router, calls, session } = setup()
  const a = session('a')
  router.subscribe(a, 't/+', sub({ qos: 2, noLocal: true }, 1))
  router.subscribe(a, 't/#', sub({ qos: 1 }, 2))
  router.route(message('t/x', 'own', 2, false, 'a'), null)
  router.route(message('t/x', 'other', 2, false, 'b'), null)
  // their order is not significant [MQTT-3.3.4-4]
  for (const c of calls) c.subIds?.sort()
  assert.deepEqual(calls, [
    { client: 'a', payload: 'own', qos: 1, retain: false, subIds: [2] },
    { client: 'a', payload: 'other', qos: 2, retain: false, subIds: [1, 2] },
  ])
})

test('Retain As Published keeps RETAIN as published; without it RETAIN is 0 [MQTT-3.3.1-12] [MQTT-3.3.1-13]', () => {
  const { router, calls, session } = setup()
  router.subscribe(session('rap'), 'r', sub({ qos: 0, retainAsPublished: true }))
  router.subscribe(session('plain'), 'r', sub({ qos: 0 }))
  router.route(message('r', 'kept', 0, true, null), null)
  router.route(message('r', 'not retained', 0, false, null), null)
  assert.deepEqual(
    calls.map((c) => [c.client, c.payload, c.retain]),
    [
      ['rap', 'kept', true],
      ['plain', 'kept', false],
      ['rap', 'not retained', false],
      ['plain', 'not retained', false],
    ],
  )
})

test('delivers at min(published, granted) with the Subscription Identifier [MQTT-3.8.4-8] [MQTT-3.3.4-3]', () => {
  const { router, calls, session } = setup()
  router.subscribe(session('a'), 'q', sub({ qos: 1 }, 42))
  router.route(message('q', 'x', 2, false, null), null)
  router.route(message('q', 'y', 0, false, null), null)
  assert.deepEqual(
    calls.map((c) => [c.qos, c.subIds]),
    [
      [1, [42]],
      [0, [42]],
    ],
  )
})

test('Retain Handling: 0 sends retained messages on every SUBSCRIBE, 1 only for a new subscription, 2 never [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]', () => {
  const { router, calls, session } = setup()
  router.route(message('k/1', 'kept', 1, true, null), null)
  const subscribe = (s: Session, rh: 0 | 1 | 2, id = 0): void => {
    const x = sub({ qos: 1, retainHandling: rh }, id)
    const existed = router.subscribe(s, 'k/+', x)
    router.deliverRetained(s, 'k/+', x, existed)
  }
  const a = session('rh0')
  const b = session('rh1')
  const c = session('rh2')
  subscribe(a, 0, 7)
  subscribe(a, 0, 7)
  subscribe(b, 1)
  subscribe(b, 1)
  subscribe(c, 2)
  assert.deepEqual(calls, [
    { client: 'rh0', payload: 'kept', qos: 1, retain: true, subIds: [7] },
    { client: 'rh0', payload: 'kept', qos: 1, retain: true, subIds: [7] },
    { client: 'rh1', payload: 'kept', qos: 1, retain: true, subIds: null },
  ])
})

test('a shared subscription ignores Retain Handling: no retained message on subscribe', () => {
  const { router, calls, session } = setup()
  router.route(message('s', 'kept', 1, true, null), null)
  const a = session('a')
  const existed = router.subscribe(a, '$share/g/s', 1)
  router.deliverRetained(a, '$share/g/s', 1, existed)
  assert.deepEqual(calls, [])
})

test('a shared member gets its own options: QoS, Retain As Published, identifier [MQTT-4.8.2-3]', () => {
  const { router, calls, session } = setup()
  router.subscribe(session('a'), '$share/g/s', sub({ qos: 1, retainAsPublished: true }, 5))
  router.route(message('s', 'm', 2, true, null), null)
  assert.deepEqual(calls, [{ client: 'a', payload: 'm', qos: 1, retain: true, subIds: [5] }])
})

test('a SUBSCRIBE to the same filter replaces the options, and reports that it existed [MQTT-3.8.4-3]', () => {
  const { router, calls, session } = setup()
  const a = session('a')
  assert.equal(router.subscribe(a, 'f', sub({ qos: 2, noLocal: true }, 3)), false)
  assert.equal(router.subscribe(a, 'f', sub({ qos: 0 })), true)
  router.route(message('f', 'own', 2, false, 'a'), null)
  assert.deepEqual(calls, [{ client: 'a', payload: 'own', qos: 0, retain: false, subIds: null }])
  assert.equal(router.subscriptionCount, 1)
})
