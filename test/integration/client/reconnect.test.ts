import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  type Client,
  ClientEndedError,
  OfflineQueueFullError,
  PingTimeoutError,
  PublishTimeoutError,
  type QoS,
} from '../../../src/index.js'
import type { TcpProxy } from './proxy.js'
import { delay, forEachBroker, nextEvent, record, T, uniqueClientId, until, within } from './suite.js'

/** Publishes `n` messages `0..n-1`, pausing briefly every 10 so that cuts land mid-flow. */
async function pacedPublish(c: Client, topic: string, n: number, qos: QoS): Promise<Promise<unknown>[]> {
  const all: Promise<unknown>[] = []
  for (let i = 0; i < n; i++) {
    all.push(c.publish(topic, String(i), { qos }))
    if (i % 10 === 9) await delay(2)
  }
  return all
}

/** Cuts the proxies' connections every `every` ms until stopped; returns the stop function. */
function cutRepeatedly(proxies: TcpProxy[], every: number): () => number {
  let cuts = 0
  const timer = setInterval(() => {
    for (const p of proxies) p.cut()
    cuts++
  }, every)
  return () => {
    clearInterval(timer)
    return cuts
  }
}

/** Which of `0..n-1` never arrived, for failure messages. */
function missing(got: string[], n: number): string {
  const have = new Set(got)
  const gone = Array.from({ length: n }, (_, i) => String(i)).filter((p) => !have.has(p))
  return `${gone.length} missing: ${gone.slice(0, 50).join(',')}`
}

/** How often each payload arrived. */
function counts(payloads: string[]): Map<string, number> {
  const m = new Map<string, number>()
  for (const p of payloads) m.set(p, (m.get(p) ?? 0) + 1)
  return m
}

forEachBroker('client reconnect', (ctx) => {
  test('reconnects after the socket is cut, emitting offline, reconnect and connect', T, async () => {
    const proxy = await ctx.proxy()
    const c = await ctx.connect({}, proxy.url)
    const offline = nextEvent(c, 'offline', 2000)
    const reconnect = nextEvent(c, 'reconnect', 2000)
    const connected = nextEvent(c, 'connect', 3000)
    proxy.cut()
    const [err] = await offline
    assert.ok(err instanceof Error)
    assert.deepEqual(await reconnect, [1])
    await connected
    assert.equal(c.state, 'connected')
    assert.equal(proxy.accepted, 2)
  })

  test('publishes made while offline are queued in order and sent after reconnecting', T, async () => {
    const proxy = await ctx.proxy()
    const t = `q/${uniqueClientId()}`
    const sub = await ctx.connect()
    const got = record(sub)
    await sub.subscribe(t, { qos: 1 })
    const c = await ctx.connect({}, proxy.url)
    proxy.refuse(true)
    proxy.cut()
    await until(() => c.state !== 'connected', 2000, 'offline')
    const all = Array.from({ length: 10 }, (_, i) => c.publish(t, String(i), { qos: (i % 3) as QoS }))
    assert.equal(c.queued, 10)
    await delay(100) // a few refused attempts
    proxy.refuse(false)
    await within(Promise.all(all), 5000, 'queued publishes')
    await until(() => got.length === 10, 3000, 'ten messages')
    // Sent in order; brokers keep the order per QoS level (Mosquitto and Aedes route QoS 2 on PUBREL).
    for (const qos of [0, 1, 2]) {
      const sent = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].filter((i) => i % 3 === qos).map((i) => `${t} ${i}`)
      assert.deepEqual(
        got.filter((m) => sent.includes(m)),
        sent,
      )
    }
  })

  test('the offline queue is bounded: the publish beyond maxOfflineQueue is refused', T, async () => {
    const proxy = await ctx.proxy()
    const c = await ctx.connect({ maxOfflineQueue: 5 }, proxy.url)
    proxy.refuse(true)
    proxy.cut()
    await until(() => c.state !== 'connected', 2000, 'offline')
    const t = `b/${uniqueClientId()}`
    const kept = Array.from({ length: 5 }, (_, i) => c.publish(t, String(i), { qos: 1 }))
    await assert.rejects(c.publish(t, 'one too many', { qos: 1 }), (e: unknown) => {
      return e instanceof OfflineQueueFullError && e.code === 'PETREL_OFFLINE_QUEUE_FULL' && e.limit === 5
    })
    proxy.refuse(false)
    await within(Promise.all(kept), 5000, 'the five kept publishes')
  })

  test('a publish not completed within its timeout rejects with PublishTimeoutError', T, async () => {
    const proxy = await ctx.proxy()
    const c = await ctx.connect({}, proxy.url)
    proxy.refuse(true)
    proxy.cut()
    await until(() => c.state !== 'connected', 2000, 'offline')
    const started = Date.now()
    await assert.rejects(c.publish('x/y', 'late', { qos: 1, timeout: 100 }), PublishTimeoutError)
    assert.ok(Date.now() - started < 1000)
    proxy.refuse(false)
    await nextEvent(c, 'connect', 3000)
    assert.equal(c.queued, 0) // the timed-out message is not sent later
  })

  test('end() while offline rejects what is queued with ClientEndedError and resolves', T, async () => {
    const proxy = await ctx.proxy()
    const c = await ctx.connect({}, proxy.url)
    proxy.refuse(true)
    proxy.cut()
    await until(() => c.state !== 'connected', 2000, 'offline')
    const queued = c.publish('x/y', 'never', { qos: 2 })
    const sub = c.subscribe('x/#')
    await within(c.end(), 1000, 'end')
    await assert.rejects(queued, ClientEndedError)
    await assert.rejects(sub, ClientEndedError)
    assert.equal(c.state, 'closed')
  })

  test('a missing PINGRESP marks the connection dead and a reconnect follows', T, async () => {
    const proxy = await ctx.proxy()
    const c = await ctx.connect({ keepalive: 1, pingTimeout: 300 }, proxy.url)
    const offline = nextEvent(c, 'offline', 4000)
    proxy.blackhole(true)
    const [err] = await offline
    assert.ok(err instanceof PingTimeoutError, String(err))
    assert.equal(err.code, 'PETREL_PING_TIMEOUT')
    proxy.blackhole(false)
    await nextEvent(c, 'connect', 4000)
  })

  test('keep-alive PINGREQs keep an idle connection open', T, async () => {
    const proxy = await ctx.proxy()
    const c = await ctx.connect({ keepalive: 1 }, proxy.url)
    let dropped = false
    c.on('offline', () => {
      dropped = true
    })
    await delay(2600) // the broker closes a client silent for 1.5 keep-alives
    assert.equal(dropped, false)
    assert.equal(proxy.accepted, 1)
  })

  test('re-subscribes when a reconnect finds no session', T, async () => {
    const proxy = await ctx.proxy()
    const t = `rs/${uniqueClientId()}`
    const c = await ctx.connect({ clean: true }, proxy.url)
    const got = record(c)
    await c.subscribe({ [t]: 1 })
    const connected = nextEvent(c, 'connect', 3000)
    proxy.cut()
    assert.deepEqual(await connected, [{ sessionPresent: false }])
    const pub = await ctx.connect()
    // The re-subscribe is in flight right after CONNACK: publish until it lands.
    await until(
      () => {
        pub.publish(t, 'hello', { qos: 1 }).catch(() => {})
        return got.length > 0
      },
      3000,
      'a message after re-subscribing',
    )
    assert.equal(got[0], `${t} hello`)
  })

  test('QoS 1 through repeated cuts: every acknowledged publish is delivered', T, async () => {
    const proxy = await ctx.proxy()
    const t = `c1/${uniqueClientId()}`
    const sub = await ctx.connect({ clean: false })
    const got: string[] = []
    sub.on('message', (_t, p) => got.push(p.toString()))
    await sub.subscribe(t, { qos: 1 })
    const pub = await ctx.connect({ clean: false }, proxy.url)
    const stop = cutRepeatedly([proxy], 25)
    const all = await pacedPublish(pub, t, 300, 1)
    const results = await within(Promise.allSettled(all), 15_000, 'all publishes settle')
    const cuts = stop()
    assert.ok(cuts >= 2, `only ${cuts} cuts`)
    assert.ok(proxy.accepted >= 2, 'the publisher reconnected')
    assert.deepEqual(
      results.filter((r) => r.status === 'rejected'),
      [],
    )
    await until(() => new Set(got).size === 300, 10_000, 'all 300 messages at the subscriber')
  })

  for (const side of ['publisher', 'subscriber'] as const) {
    const skip =
      side === 'subscriber' && ctx.name === 'aedes'
        ? 'Aedes 1.2 re-sends a QoS 2 PUBLISH after its PUBREL on reconnect (same id, DUP 0), which a receiver must take as new [MQTT-4.3.3-2]'
        : false
    test(`QoS 2 through repeated cuts of the ${side}: every message is delivered exactly once`, {
      ...T,
      skip,
    }, async () => {
      const proxy = await ctx.proxy()
      const t = `c2/${uniqueClientId()}`
      const sub = await ctx.connect({ clean: false }, side === 'subscriber' ? proxy.url : undefined)
      const got: string[] = []
      sub.on('message', (_t, p) => got.push(p.toString()))
      await sub.subscribe(t, { qos: 2 })
      const pub = await ctx.connect({ clean: false }, side === 'publisher' ? proxy.url : undefined)
      const stop = cutRepeatedly([proxy], 30)
      const all = await pacedPublish(pub, t, 300, 2)
      await within(Promise.all(all), 15_000, 'all PUBCOMPs')
      stop()
      await until(() => got.length >= 300, 10_000, `300 messages (${missing(got, 300)})`)
      await delay(300) // a duplicate would arrive now
      const dup = [...counts(got)].filter(([, n]) => n > 1)
      assert.deepEqual(dup, [], 'no message twice')
      assert.equal(new Set(got).size, 300)
      assert.ok(proxy.accepted >= 3, `the ${side} reconnected (${proxy.accepted} connections)`)
    })
  }

  test('a broker restart mid-flow: clients reconnect and every publish settles', T, async () => {
    const t = `k/${uniqueClientId()}`
    const keeps = ctx.broker.restartKeepsSessions
    const sub = await ctx.connect({ clean: false, connectTimeout: 1000 })
    const got: string[] = []
    sub.on('message', (_t, p) => got.push(p.toString()))
    await sub.subscribe(t, { qos: 2 })
    // The publisher comes back only after the subscriber: Mosquitto 2.0.11 acknowledges a
    // PUBREL for a QoS 2 message restored from its database without queueing the message
    // for a persistent subscriber that has not reconnected yet.
    const gate = await ctx.proxy()
    const pub = await ctx.connect({ clean: false, connectTimeout: 1000 }, gate.url)
    const publishing = pacedPublish(pub, t, 300, 2)
    await delay(30)
    gate.refuse(true)
    await ctx.broker.restart()
    await until(() => sub.connected, 5000, 'the subscriber reconnected')
    gate.refuse(false)
    const all = await publishing
    await within(Promise.all(all), 15_000, 'all publishes settle')
    assert.ok(pub.connected && gate.accepted >= 2, 'the publisher reconnected')
    if (keeps) {
      // Mosquitto kept the sessions: nothing acknowledged is lost, nothing is delivered twice.
      await until(() => got.length >= 300, 10_000, `300 messages (${missing(got, 300)})`)
      await delay(300)
      assert.deepEqual(
        [...counts(got)].filter(([, n]) => n > 1),
        [],
      )
      assert.equal(new Set(got).size, 300)
    } else {
      // The broker lost the sessions: the subscriber re-subscribed and gets what comes next.
      await until(
        () => {
          pub.publish(t, 'after', { qos: 1 }).catch(() => {})
          return got.includes('after')
        },
        5000,
        'a message after the restart',
      )
    }
  })
})
