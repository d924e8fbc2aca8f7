/**
 * The embedding API over the wire: authorisation hooks (sync and async), typed
 * events, $SYS topics, broker.handle() on a non-socket stream, broker.close().
 */
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import { test } from 'node:test'
import type { PublishedMessage } from '../../../src/broker/events.js'
import type { ClientInfo } from '../../../src/broker/options.js'
import { PacketType, type QoS } from '../../../src/protocol/index.js'
import { duplexPair } from '../../helpers/duplex-pair.js'
import { delay, RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

test('acknowledges but drops a PUBLISH that authorizePublish refuses, at every QoS [MQTT-3.3.5-2]', async (t) => {
  for (const async of [false, true]) {
    const authorizePublish = (_c: ClientInfo, topic: string): boolean | Promise<boolean> =>
      async ? delay(5).then(() => !topic.startsWith('deny/')) : !topic.startsWith('deny/')
    const tb = await startBroker({ authorizePublish }, t)
    const sub = await tb.connect()
    await sub.subscribe('#', 2)
    const pub = await tb.connect()
    pub.publish('deny/0', 'x', { qos: 0, retain: true })
    pub.publish('deny/1', 'x', { qos: 1, packetId: 11, retain: true })
    assert.equal((await pub.next(PacketType.PUBACK)).packetId, 11)
    pub.publish('deny/2', 'x', { qos: 2, packetId: 12 })
    assert.equal((await pub.next(PacketType.PUBREC)).packetId, 12)
    pub.send({ type: PacketType.PUBREL, packetId: 12 })
    assert.equal((await pub.next(PacketType.PUBCOMP)).packetId, 12)
    pub.publish('allow/1', 'ok', { qos: 1 })
    await pub.next(PacketType.PUBACK)
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.topic, 'allow/1', `async=${async}`)
    sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
    await sub.nothingFor(50)
    assert.equal(tb.broker.retainedCount, 0)
  }
})

test('passes topic, payload, QoS and retain to authorizePublish, and keeps order while it is pending', async (t) => {
  const seen: string[] = []
  const tb = await startBroker(
    {
      authorizePublish: async (c, topic, payload, qos, retain) => {
        seen.push(`${c.id}:${topic}:${payload.toString()}:${qos}:${retain}`)
        await delay(topic.endsWith('slow') ? 30 : 0)
        return true
      },
    },
    t,
  )
  const sub = await tb.connect()
  await sub.subscribe('ap/#', 1)
  const pub = await tb.connect({ clientId: 'publisher' })
  pub.publish('ap/slow', 'a', { qos: 1, retain: true })
  pub.publish('ap/fast', 'b', { qos: 0 })
  pub.publish('ap/slow', 'c', { qos: 1 })
  const got: string[] = []
  for (let i = 0; i < 3; i++) {
    const m = await sub.next(PacketType.PUBLISH)
    got.push(m.payload.toString())
    if (m.qos === 1) sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
  }
  assert.deepEqual(got, ['a', 'b', 'c'])
  assert.deepEqual(seen, [
    'publisher:ap/slow:a:1:true',
    'publisher:ap/fast:b:0:false',
    'publisher:ap/slow:c:1:false',
  ])
})

test('does not publish a will that authorizePublish refuses', async (t) => {
  const tb = await startBroker({ authorizePublish: (_c, topic) => topic !== 'will/denied' }, t)
  const sub = await tb.connect()
  await sub.subscribe('will/+', 0)
  const c = await tb.connect({
    will: { topic: 'will/denied', payload: Buffer.from('x'), qos: 0, retain: false },
  })
  c.destroy()
  await sub.nothingFor(100)
})

test('grants what authorizeSubscribe answers: false -> 0x80, a number -> at most that QoS, true -> the QoS asked, sync or async', async (t) => {
  const answers: Record<string, boolean | number> = { no: false, one: 1, zero: 0, yes: true, fail: 0x80 }
  for (const async of [false, true]) {
    const tb = await startBroker(
      {
        authorizeSubscribe: (_c, filter) => {
          const a = answers[filter.split('/')[1]!] ?? false
          return async ? delay(filter.includes('slow') ? 20 : 1).then(() => a) : a
        },
      },
      t,
    )
    const c = await tb.connect()
    const ack = await c.subscribe([
      { topic: 'as/no', qos: 2 },
      { topic: 'as/one/slow', qos: 2 },
      { topic: 'as/one', qos: 0 },
      { topic: 'as/zero', qos: 2 },
      { topic: 'as/yes', qos: 2 },
      { topic: 'as/fail', qos: 1 },
      { topic: 'as/#/bad', qos: 1 },
    ])
    assert.deepEqual(ack.granted, [0x80, 1, 0, 0, 2, 0x80, 0x80], `async=${async}`)
    const p = await tb.connect()
    p.publish('as/one/slow', 'x', { qos: 2 })
    const m = await c.next(PacketType.PUBLISH)
    assert.equal(m.qos, 1)
    c.send({ type: PacketType.PUBACK, packetId: m.packetId })
    p.publish('as/no', 'x', { qos: 2 })
    await c.nothingFor(50)
  }
})

test('keeps SUBACKs in SUBSCRIBE order when an async authorizeSubscribe answers out of order', async (t) => {
  const tb = await startBroker(
    {
      authorizeSubscribe: async (_c, filter) => {
        await delay(filter === 'slow' ? 40 : 1)
        return true
      },
    },
    t,
  )
  const c = await tb.connect()
  c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'slow', qos: 1 }] })
  c.send({ type: PacketType.SUBSCRIBE, packetId: 2, subscriptions: [{ topic: 'fast', qos: 1 }] })
  c.send({ type: PacketType.PINGREQ })
  assert.equal((await c.next(PacketType.SUBACK)).packetId, 1)
  assert.equal((await c.next(PacketType.SUBACK)).packetId, 2)
  await c.next(PacketType.PINGRESP)
})

test('a hook that throws or rejects refuses that one request, logs why, and keeps the connection', async (t) => {
  const errors: string[] = []
  const logger = { debug() {}, info() {}, warn() {}, error: (_o: object, msg: string) => errors.push(msg) }
  const tb = await startBroker(
    {
      logger,
      authorizeSubscribe: async (_c, filter) => {
        await delay(10)
        if (filter === 'reject') throw new Error('subscribe hook failed')
        return true
      },
      authorizePublish: (_c, topic) => {
        if (topic === 'throw') throw new Error('publish hook failed')
        return true
      },
    },
    t,
  )
  const ok = await tb.connect()
  await ok.subscribe('#', 0)
  // a sync throw, on a packet handled straight from the socket: dropped, still acknowledged
  // (MQTT 3.1.1 cannot refuse a PUBLISH [MQTT-4.3.2-2])
  const a = await tb.connect()
  a.publish('throw', 'x', { qos: 1 })
  assert.equal((await a.next(PacketType.PUBACK)).packetId, 1)
  // a sync throw, on a packet held while an async hook was pending
  const b = await tb.connect()
  b.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'x', qos: 0 }] })
  b.publish('throw', 'x')
  assert.deepEqual((await b.next(PacketType.SUBACK)).granted, [0])
  // a rejected Promise: that filter is refused [MQTT-3.9.3], the others granted
  const c = await tb.connect()
  c.send({
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [
      { topic: 'reject', qos: 1 },
      { topic: 'fine', qos: 1 },
    ],
  })
  assert.deepEqual((await c.next(PacketType.SUBACK)).granted, [0x80, 1])
  // every one of them is still connected, and nothing published to 'throw' went out
  for (const x of [a, b, c]) {
    x.send({ type: PacketType.PINGREQ })
    await x.next(PacketType.PINGRESP)
  }
  const p = await tb.connect()
  p.publish('fine', 'still serving')
  const got = await ok.next(PacketType.PUBLISH)
  assert.equal(got.topic, 'fine')
  assert.equal(got.payload.toString(), 'still serving')
  assert.equal(errors.filter((m) => m.includes('authorizePublish hook failed')).length, 2)
  assert.equal(errors.filter((m) => m.includes('authorizeSubscribe hook failed')).length, 1)
})

test('emits typed events: clientConnected, subscribed, published, unsubscribed, clientDisconnected', async (t) => {
  const tb = await startBroker({}, t)
  const log: string[] = []
  const b = tb.broker
  b.on('clientConnected', (c) => log.push(`connected ${c.id} v${c.protocolVersion} ${c.username ?? '-'}`))
  b.on('subscribed', (subs, c) =>
    log.push(`subscribed ${c.id} ${subs.map((s) => `${s.topic}@${s.qos}`).join(',')}`),
  )
  b.on('published', (m: PublishedMessage, c) =>
    log.push(`published ${c?.id ?? 'broker'} ${m.topic} ${m.payload.toString()} q${m.qos} r${m.retain}`),
  )
  b.on('unsubscribed', (topics, c) => log.push(`unsubscribed ${c.id} ${topics.join(',')}`))
  b.on('clientDisconnected', (c, reason) => log.push(`disconnected ${c.id} ${reason.length > 0}`))
  const c = await tb.connect({ clientId: 'ev', username: 'user' })
  await c.subscribe([
    { topic: 'ev/a', qos: 1 },
    { topic: 'ev/#/x', qos: 0 },
  ])
  c.publish('ev/a', 'hi', { qos: 1, retain: true })
  for (let i = 0; i < 2; i++) {
    const m = await c.next() // the PUBLISH to ourselves and the PUBACK, in either order
    if (m.type === PacketType.PUBLISH) c.send({ type: PacketType.PUBACK, packetId: m.packetId })
  }
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 9, topics: ['ev/a'] })
  await c.next(PacketType.UNSUBACK)
  await c.disconnect()
  await delay(20)
  assert.deepEqual(log, [
    'connected ev v4 user',
    'subscribed ev ev/a@1,ev/#/x@128',
    'published ev ev/a hi q1 rtrue',
    'unsubscribed ev ev/a',
    'disconnected ev true',
  ])
})

test('publishes $SYS/broker topics every sysInterval, only to subscribers of $SYS filters [MQTT-4.7.2-1]', async (t) => {
  const tb = await startBroker({ sysInterval: 1 }, t)
  const all = await tb.connect()
  await all.subscribe('#', 0)
  const sys = await tb.connect()
  await sys.subscribe('$SYS/broker/clients/connected', 0)
  const start = performance.now()
  const m = await sys.next(PacketType.PUBLISH, 1600)
  const at = performance.now() - start
  assert.ok(at < 1300, `first update after ${at.toFixed(0)} ms`)
  assert.equal(m.topic, '$SYS/broker/clients/connected')
  assert.equal(m.payload.toString(), '2')
  assert.equal(m.retain, false, 'sent to an established subscription')
  const second = await sys.next(PacketType.PUBLISH, 1600)
  assert.equal(second.topic, '$SYS/broker/clients/connected')
  await all.nothingFor(10)
  // a new $SYS subscription gets the retained values at once, with RETAIN 1
  const late = await tb.connect()
  await late.subscribe('$SYS/#', 0)
  const topics = new Set<string>()
  for (;;) {
    const p = await late.next(PacketType.PUBLISH, 200).catch(() => null)
    if (p === null) break
    assert.equal(p.retain, true)
    topics.add(p.topic)
  }
  for (const name of [
    '$SYS/broker/version',
    '$SYS/broker/uptime',
    '$SYS/broker/clients/connected',
    '$SYS/broker/clients/total',
    '$SYS/broker/messages/received',
    '$SYS/broker/messages/sent',
    '$SYS/broker/subscriptions/count',
  ]) {
    assert.ok(topics.has(name), name)
  }
})

test('does not let clients publish into $SYS, but acknowledges the PUBLISH', async (t) => {
  const tb = await startBroker({}, t)
  const sub = await tb.connect()
  await sub.subscribe('$SYS/#', 0)
  const c = await tb.connect()
  for (const qos of [0, 1, 2] as QoS[]) {
    c.publish('$SYS/broker/fake', 'x', { qos, retain: true })
    if (qos === 1) await c.next(PacketType.PUBACK)
    if (qos === 2) {
      const rec = await c.next(PacketType.PUBREC)
      c.send({ type: PacketType.PUBREL, packetId: rec.packetId })
      await c.next(PacketType.PUBCOMP)
    }
  }
  await sub.nothingFor(50)
  assert.equal(tb.broker.retainedCount, 0)
})

test('serves MQTT over any duplex stream given to broker.handle()', async (t) => {
  const tb = await startBroker({}, t)
  const [server, client] = duplexPair()
  tb.broker.handle(server)
  const c = RawClient.wrap(client)
  assert.equal((await c.connect({ clientId: 'in-memory' })).returnCode, 0)
  await c.subscribe('mem/t', 1)
  const tcp = await tb.connect()
  tcp.publish('mem/t', 'across transports', { qos: 1 })
  const m = await c.next(PacketType.PUBLISH)
  assert.equal(m.payload.toString(), 'across transports')
  c.send({ type: PacketType.PUBACK, packetId: m.packetId })
  await c.disconnect()
  assert.equal(c.ended, true)
})

test('broker.close() closes every client and the listener, and resolves', async () => {
  const tb = await startBroker()
  const id = uniqueId()
  const events: string[] = []
  tb.broker.on('clientDisconnected', (c) => events.push(c.id))
  const a = await tb.connect({ clientId: id })
  const b = await tb.connect()
  const [server, client] = duplexPair()
  tb.broker.handle(server)
  const m = RawClient.wrap(client)
  await m.connect()
  const closing = tb.broker.close()
  await Promise.all([a.closed(), b.closed(), m.closed()])
  await closing
  assert.ok(events.includes(id))
  assert.equal(tb.broker.connectedCount, 0)
  // the port no longer accepts connections
  const refused = await new Promise<boolean>((resolve) => {
    const s = netConnect({ port: tb.port, host: tb.host })
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', () => resolve(true))
  })
  assert.equal(refused, true)
  // close() again resolves too
  await tb.broker.close()
})
