import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { test } from 'node:test'
import {
  ClientEndedError,
  ConnackRefusedError,
  ConnectFailedError,
  ConnectTimeoutError,
  connect,
  type Message,
} from '../../../src/index.js'
import { LOOPBACK } from '../../helpers/net.js'
import { delay, forEachBroker, nextEvent, record, T, uniqueClientId, until, within } from './suite.js'

forEachBroker('client basics', (ctx) => {
  test('connects, reports a clean session and is connected', T, async () => {
    const c = await ctx.connect()
    assert.equal(c.state, 'connected')
    assert.equal(c.sessionPresent, false)
  })

  test('rejects bad credentials with ConnackRefusedError carrying the return code', T, async () => {
    const err = await ctx.connect({ username: 'mallory', password: 'guess', reconnect: true }).then(
      () => null,
      (e: unknown) => e,
    )
    assert.ok(err instanceof ConnackRefusedError, String(err))
    assert.equal(err.code, 'PETREL_CONNACK_REFUSED')
    assert.ok(err.returnCode === 4 || err.returnCode === 5, `return code ${err.returnCode}`)
  })

  test('accepts good credentials', T, async () => {
    const c = await ctx.connect({ username: 'alice', password: 'secret' })
    assert.equal(c.state, 'connected')
  })

  test('publishes and receives at QoS 0, 1 and 2', T, async () => {
    const c = await ctx.connect()
    const topic = `t/${uniqueClientId()}`
    assert.deepEqual(await c.subscribe(`${topic}/+`, { qos: 2 }), [2])
    const got: Message[] = []
    c.on('message', (_t, _p, packet) => got.push(packet))
    await c.publish(`${topic}/0`, 'zero')
    await c.publish(`${topic}/1`, Buffer.from('one'), { qos: 1 })
    await c.publish(`${topic}/2`, new Uint8Array([0x74, 0x77, 0x6f]), { qos: 2 })
    await until(() => got.length === 3, 3000, 'three messages')
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload.toString(), m.qos, m.retain, m.dup]),
      [
        [`${topic}/0`, 'zero', 0, false, false],
        [`${topic}/1`, 'one', 1, false, false],
        [`${topic}/2`, 'two', 2, false, false],
      ],
    )
  })

  test('subscribe takes a string, an array or an object and resolves with the granted codes', T, async () => {
    const c = await ctx.connect()
    const t = `s/${uniqueClientId()}`
    assert.deepEqual(await c.subscribe(`${t}/a`), [0])
    assert.deepEqual(await c.subscribe([`${t}/b`, `${t}/c`], { qos: 1 }), [1, 1])
    assert.deepEqual(await c.subscribe({ [`${t}/d`]: 2, [`${t}/e`]: 0 }), [2, 0])
    assert.deepEqual(new Map([...c.subscriptions].filter(([f]) => f.startsWith(t))).size, 5)
  })

  const grantsAll =
    ctx.name === 'mosquitto'
      ? 'mosquitto 2.0 grants every 3.1.1 subscription and applies its ACL on delivery'
      : false
  test('a refused subscription comes back as 0x80 and is not recorded', {
    ...T,
    skip: grantsAll,
  }, async () => {
    const c = await ctx.connect()
    const t = uniqueClientId()
    assert.deepEqual(await c.subscribe({ [`ok/${t}`]: 1, [`forbidden/${t}`]: 1 }), [1, 0x80])
    assert.equal(c.subscriptions.has(`forbidden/${t}`), false)
    assert.equal(c.subscriptions.get(`ok/${t}`), 1)
  })

  test('unsubscribe stops delivery', T, async () => {
    const c = await ctx.connect()
    const t = `u/${uniqueClientId()}`
    const got = record(c)
    await c.subscribe(t, { qos: 1 })
    await c.publish(t, 'before', { qos: 1 })
    await until(() => got.length === 1, 3000, 'first message')
    await c.unsubscribe(t)
    assert.equal(c.subscriptions.has(t), false)
    await c.publish(t, 'after', { qos: 1 })
    await c.publish(`${t}/x`, 'fence', { qos: 1 }) // the broker handled 'after' before this ack
    await delay(50)
    assert.deepEqual(got, [`${t} before`])
  })

  test('a retained message arrives with retain set', T, async () => {
    const c = await ctx.connect()
    const t = `r/${uniqueClientId()}`
    await c.publish(t, 'kept', { qos: 1, retain: true })
    const it = c.messages()
    await c.subscribe(t, { qos: 1 })
    const first = await within(it.next(), 3000, 'retained message')
    assert.equal(first.done, false)
    assert.equal(first.value?.retain, true)
    assert.equal(first.value?.payload.toString(), 'kept')
    await c.publish(t, '', { qos: 1, retain: true }) // clear it for other tests
  })

  test('messages() yields in order and ends when the client ends', T, async () => {
    const c = await ctx.connect()
    const t = `m/${uniqueClientId()}`
    await c.subscribe(t, { qos: 1 })
    const it = c.messages()
    for (let i = 0; i < 20; i++) void c.publish(t, String(i), { qos: 1 })
    const got: string[] = []
    for await (const m of it) {
      got.push(m.payload.toString())
      if (got.length === 20) break
    }
    assert.deepEqual(
      got,
      Array.from({ length: 20 }, (_, i) => String(i)),
    )
    const later = c.messages()
    await c.end()
    assert.deepEqual(await within(later.next(), 1000, 'iterator end'), { value: undefined, done: true })
  })

  for (const how of ['listener', 'iterator'] as const) {
    test(`messages queued for a persistent session reach a ${how} attached after connect`, T, async () => {
      const id = uniqueClientId('persistent')
      const t = `p/${id}`
      const sub = await ctx.connect({ clientId: id, clean: false })
      await sub.subscribe(t, { qos: 1 })
      await sub.end()
      const pub = await ctx.connect()
      for (let i = 0; i < 50; i++) await pub.publish(t, String(i), { qos: 1 })
      const again = await ctx.connect({ clientId: id, clean: false })
      assert.equal(again.sessionPresent, true)
      // The broker sent the queue right after CONNACK, before anyone listened.
      await delay(100)
      const got: string[] = []
      if (how === 'listener') {
        again.on('message', (_t, p) => got.push(p.toString()))
        await until(() => got.length >= 50, 3000, '50 queued messages')
      } else {
        for await (const m of again.messages()) {
          got.push(m.payload.toString())
          if (got.length === 50) break
        }
      }
      assert.deepEqual(
        got,
        Array.from({ length: 50 }, (_, i) => String(i)),
      )
      await again.unsubscribe(t)
    })
  }

  test('end() sends DISCONNECT, so the will is not published', T, async () => {
    const watcher = await ctx.connect()
    const t = `w/${uniqueClientId()}`
    const got = record(watcher)
    await watcher.subscribe(t, { qos: 1 })
    const c = await ctx.connect({ will: { topic: t, payload: 'gone', qos: 1 } })
    await c.end()
    assert.equal(c.state, 'closed')
    await watcher.publish(`${t}/fence`, 'x', { qos: 1 })
    await delay(100)
    assert.deepEqual(got, [])
  })

  test('end({ force: true }) drops the connection, so the will is published', T, async () => {
    const watcher = await ctx.connect()
    const t = `w/${uniqueClientId()}`
    const got = record(watcher)
    await watcher.subscribe(t, { qos: 1 })
    const c = await ctx.connect({ will: { topic: t, payload: 'gone', qos: 1 } })
    const closed = nextEvent(c, 'close', 1000)
    await c.end({ force: true })
    assert.deepEqual(await closed, [undefined])
    await until(() => got.length === 1, 3000, 'the will')
    assert.deepEqual(got, [`${t} gone`])
  })

  test('publish, subscribe and unsubscribe after end() reject with ClientEndedError', T, async () => {
    const c = await ctx.connect()
    await c.end()
    await assert.rejects(c.publish('a', 'b', { qos: 1 }), ClientEndedError)
    await assert.rejects(c.subscribe('a'), ClientEndedError)
    await assert.rejects(c.unsubscribe('a'), ClientEndedError)
    await c.end() // idempotent
  })

  test('70000 QoS 1 publishes settle: packet ids wrap at 65535 without colliding', T, async () => {
    const c = await ctx.connect({ maxInflight: 500 })
    const t = `wrap/${uniqueClientId()}`
    const all: Promise<unknown>[] = []
    for (let i = 0; i < 70_000; i++) all.push(c.publish(t, 'x', { qos: 1 }))
    await within(Promise.all(all), 20_000, '70000 PUBACKs')
    assert.equal(c.inflight, 0)
  })
})

test('connect rejects with ConnectTimeoutError when nothing answers', async () => {
  const sockets = new Set<Socket>()
  const server = createServer((s) => sockets.add(s)) // accepts, never answers
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  try {
    const started = Date.now()
    await assert.rejects(
      connect(`mqtt://${LOOPBACK}:${port}`, { connectTimeout: 200 }),
      (err: unknown) => err instanceof ConnectTimeoutError && err.code === 'PETREL_CONNECT_TIMEOUT',
    )
    assert.ok(Date.now() - started < 2000)
  } finally {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
})

test('connect rejects with ConnectFailedError when the port is closed', async () => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  await assert.rejects(
    connect(`mqtt://${LOOPBACK}:${port}`, { connectTimeout: 2000 }),
    (err: unknown) => err instanceof ConnectFailedError && err.code === 'PETREL_CONNECT_FAILED',
  )
})
