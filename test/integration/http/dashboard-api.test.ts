/**
 * The dashboard's data over HTTP: overview, history, events, topics and the event stream,
 * with real MQTT clients; the page's files with their headers; the sampler's end with the endpoint.
 * Every JSON answer is checked against docs/openapi.yaml.
 */
import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Broker } from '../../../src/broker/broker.js'
import type { NotableEvent } from '../../../src/broker/events.js'
import { type Client, connect } from '../../../src/client/client.js'
import { NOTABLE_PER_SECOND } from '../../../src/http/event-stream.js'
import type { History, Overview } from '../../../src/http/sampler.js'
import { type HttpEndpoint, startHttp } from '../../../src/http/server.js'
import { VERSION } from '../../../src/version.js'
import { LOOPBACK } from '../../helpers/net.js'
import { assertResponse } from '../../helpers/openapi.js'

interface Rig {
  broker: Broker
  http: HttpEndpoint
  client(id: string): Promise<Client>
  get<T>(path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: T }>
}

async function rig(t: TestContext): Promise<Rig> {
  const broker = new Broker()
  const l = await broker.listen({ port: 0, host: LOOPBACK })
  const http = await startHttp(broker, { port: 0 })
  const clients: Client[] = []
  t.after(async () => {
    await Promise.allSettled(clients.map((c) => c.end()))
    await http.close()
    await broker.close()
  })
  return {
    broker,
    http,
    async client(id) {
      const c = await connect(`mqtt://${LOOPBACK}:${l.port}`, { clientId: id, reconnect: false })
      clients.push(c)
      return c
    },
    async get<T>(path: string, init?: RequestInit) {
      const res = await fetch(`${http.url}${path}`, init)
      const text = await res.text()
      const json = res.headers.get('content-type')?.startsWith('application/json') === true
      const body = (json ? JSON.parse(text) : text) as T
      // every answer of the API is what docs/openapi.yaml says it is
      if (json && path.startsWith('/api/')) assertResponse(init?.method ?? 'GET', path, res.status, body)
      return { status: res.status, headers: res.headers, body }
    },
  }
}

/** Reads Server-Sent Events from a stream until `enough` says so (or the time runs out). */
async function readEvents(
  url: string,
  enough: (events: { event: string; data: unknown }[]) => boolean,
  during: () => void = () => {},
  timeoutMs = 5000,
): Promise<{ event: string; data: unknown }[]> {
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), timeoutMs)
  const events: { event: string; data: unknown }[] = []
  try {
    const res = await fetch(url, { signal: abort.signal })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/)
    let buffer = ''
    let started = false
    const decoder = new TextDecoder()
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true })
      let end = buffer.indexOf('\n\n')
      while (end >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const event = /^event: (.*)$/m.exec(block)?.[1]
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (event !== undefined && data !== undefined) events.push({ event, data: JSON.parse(data) })
        end = buffer.indexOf('\n\n')
      }
      if (!started && events.length > 0) {
        started = true
        during()
      }
      if (enough(events)) break
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err
  } finally {
    clearTimeout(timer)
    abort.abort()
  }
  return events
}

test('the overview counts clients, subscriptions and retained messages as they are now', async (t) => {
  const r = await rig(t)
  const a = await r.client('a')
  await r.client('b')
  await a.subscribe(['x/#', '$share/g/y'], { qos: 1 })
  await a.publish('kept', 'v', { qos: 1, retain: true })
  await sleep(1100) // a tick of the sampler
  const { status, body } = await r.get<Overview>('/api/v1/overview')
  assert.equal(status, 200)
  assert.equal(body.version, VERSION)
  assert.equal(body.connections.current, 2)
  assert.equal(body.sessions.current, 2)
  assert.equal(body.subscriptions, 2)
  assert.equal(body.sharedSubscriptions, 1)
  assert.equal(body.retained, 1)
  assert.ok(body.memory.heapUsedBytes > 0 && body.memory.rssBytes >= body.memory.heapUsedBytes)
  assert.ok(body.eventLoop.utilization >= 0 && body.eventLoop.utilization <= 1)
  assert.ok(Math.abs(body.time - Date.now()) < 5000)
})

test('the history holds one point per second, every series as long as the times', async (t) => {
  const r = await rig(t)
  await r.client('a')
  await sleep(2300)
  const { body } = await r.get<History>('/api/v1/history')
  assert.equal(body.intervalSeconds, 1)
  assert.ok(body.time.length >= 2, `${body.time.length} points`)
  for (let i = 1; i < body.time.length; i++) assert.equal(body.time[i]! - body.time[i - 1]!, 1)
  for (const [name, values] of Object.entries(body.series))
    assert.equal(values.length, body.time.length, name)
  assert.equal(body.series.connections.at(-1), 1)
})

test('notable events are listed newest first and streamed as they happen, at most 20 a second', async (t) => {
  const r = await rig(t)
  const note = (i: number): NotableEvent => ({
    time: Date.now(),
    kind: 'refused',
    clientId: `c${i}`,
    detail: 'test',
  })
  const events = await readEvents(
    `${r.http.url}/api/v1/stream`,
    (got) => got.filter((e) => e.event === 'overview').length >= 2,
    () => {
      for (let i = 0; i < 50; i++) r.broker.emit('notable', note(i))
    },
  )
  assert.equal(events[0]!.event, 'overview', 'the current figures come first')
  const streamed = events.filter((e) => e.event === 'notable').map((e) => (e.data as NotableEvent).clientId)
  // all 50 in one second: the first 20 are streamed (or fewer, should the second turn meanwhile)
  assert.ok(
    streamed.length >= NOTABLE_PER_SECOND && streamed.length <= 2 * NOTABLE_PER_SECOND,
    `${streamed.length}`,
  )
  assert.deepEqual(
    streamed.slice(0, NOTABLE_PER_SECOND),
    Array.from({ length: NOTABLE_PER_SECOND }, (_, i) => `c${i}`),
  )
  const listed = await r.get<{ items: NotableEvent[] }>('/api/v1/events?limit=3')
  assert.deepEqual(
    listed.body.items.map((e) => e.clientId),
    ['c49', 'c48', 'c47'],
  )
})

test('bad limits are refused with 400, other methods than GET and HEAD with 405', async (t) => {
  const r = await rig(t)
  for (const path of ['/api/v1/events?limit=0', '/api/v1/events?limit=501', '/api/v1/topics?limit=x']) {
    const { status, body } = await r.get<{ error: { code: string } }>(path)
    assert.equal(status, 400, path)
    assert.equal(body.error.code, 'bad-request')
  }
  const head = await fetch(`${r.http.url}/api/v1/stream`, { method: 'HEAD' })
  assert.equal(head.status, 200)
  assert.match(head.headers.get('content-type')!, /^text\/event-stream/)
  const post = await r.get<{ error: { code: string } }>('/api/v1/overview', { method: 'POST' })
  assert.equal(post.status, 405)
  assert.equal(post.headers.get('allow'), 'GET, HEAD')
})

test('the busiest topics come first, with their estimated messages per second', async (t) => {
  const r = await rig(t)
  const a = await r.client('a')
  // the broker samples 1 routed message in 64: enough traffic to be seen
  for (let i = 0; i < 1280; i++) void a.publish('plant/hot', 'x')
  for (let i = 0; i < 128; i++) void a.publish('plant/cold', 'x')
  await a.publish('plant/cold', 'x', { qos: 1 }) // after all the QoS 0 ones
  const { status, body } = await r.get<{
    windowSeconds: number
    items: { topic: string; messagesPerSecond: number }[]
  }>('/api/v1/topics?limit=1')
  assert.equal(status, 200)
  assert.ok(body.windowSeconds > 0)
  assert.equal(body.items.length, 1)
  assert.equal(body.items[0]!.topic, 'plant/hot')
  assert.ok(body.items[0]!.messagesPerSecond > 0)
})

test('serves the page, its files and uPlot, with a Content-Security-Policy that allows only its own files', async (t) => {
  const r = await rig(t)
  const page = await r.get<string>('/')
  assert.equal(page.status, 200)
  assert.match(page.headers.get('content-type')!, /^text\/html/)
  assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/)
  assert.match(page.body, /<script type="module" src="app.js"><\/script>/)
  // every module app.js imports (and they import) is served: the server's file list keeps up with the page
  const modules = ['/app.js']
  for (let i = 0; i < modules.length; i++) {
    const res = await r.get<string>(modules[i]!)
    assert.equal(res.status, 200, modules[i])
    for (const m of res.body.matchAll(/^import .* from '\.\/([\w-]+\.js)'$/gm))
      if (!modules.includes(`/${m[1]}`)) modules.push(`/${m[1]}`)
  }
  assert.deepEqual(modules.slice(1).sort(), ['/api.js', '/charts.js', '/format.js'])
  for (const [path, type] of [
    ...modules.map((m) => [m, /^text\/javascript/] as const),
    ['/style.css', /^text\/css/],
    ['/vendor/uPlot.iife.min.js', /^text\/javascript/],
    ['/vendor/uPlot.min.css', /^text\/css/],
  ] as const) {
    const res = await r.get<string>(path)
    assert.equal(res.status, 200, path)
    assert.match(res.headers.get('content-type')!, type, path)
    assert.ok(res.body.length > 100, path)
  }
  assert.equal((await r.get('/vendor/../package.json')).status, 404)
  assert.equal((await r.get('/nothing.js')).status, 404)
})

test('the sampler stops when the endpoint closes', async () => {
  const broker = new Broker()
  const before = broker.listenerCount('notable')
  const http = await startHttp(broker, { port: 0 })
  assert.equal(broker.listenerCount('notable'), before + 1)
  await http.close()
  assert.equal(broker.listenerCount('notable'), before)
  await broker.close()
})
