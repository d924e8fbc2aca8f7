/**
 * The admin API over HTTP with real MQTT clients: listing and looking up clients, the broker's
 * info, subscriptions and retained messages. Every answer is checked against docs/openapi.yaml.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type {
  ClientDetail,
  ClientSummary,
  Page,
  RetainedInfo,
  SubscriptionInfo,
} from '../../../src/broker/admin.js'
import type { Client } from '../../../src/index.js'
import { VERSION } from '../../../src/version.js'
import { adminRig, until } from './admin-rig.js'

const enc = encodeURIComponent

test('lists clients with their figures: address, version, keep-alive, subscriptions, bytes and messages', async (t) => {
  const rig = await adminRig(t)
  const before = Date.now()
  const alpha = await rig.client({ clientId: 'alpha', protocolVersion: 5, username: 'alice', keepalive: 30 })
  const beta = await rig.client({ clientId: 'beta', keepalive: 20 })
  const gamma = await rig.client({
    clientId: 'gamma',
    protocolVersion: 5,
    clean: false,
    sessionExpiryInterval: 300,
  })
  await gamma.subscribe('g/#', { qos: 1 })
  await gamma.end()
  const got: string[] = []
  beta.on('message', (topic) => got.push(topic))
  await beta.subscribe('x/#', { qos: 1 })
  for (let i = 0; i < 3; i++) await alpha.publish(`x/${i}`, 'hello', { qos: 1 })
  await until(() => got.length === 3, 'beta received 3 messages')
  await until(() => rig.broker.connectedCount === 2, 'gamma gone')

  const all = await rig.get<Page<ClientSummary>>('/api/v1/clients')
  assert.equal(all.status, 200)
  assert.equal(all.body.total, 3)
  assert.deepEqual(
    all.body.items.map((c) => c.clientId),
    ['alpha', 'beta', 'gamma'],
  )
  const [a, b, g] = all.body.items as [ClientSummary, ClientSummary, ClientSummary]
  assert.equal(a.username, 'alice')
  assert.equal(a.address, '127.0.0.1')
  assert.equal(a.protocolVersion, 5)
  assert.equal(a.connected, true)
  assert.equal(a.keepalive, 30)
  assert.equal(a.messagesIn, 3)
  assert.ok(a.bytesIn > 3 * 'hello'.length, `bytesIn ${a.bytesIn}`)
  const since = Date.parse(a.connectedSince!)
  assert.ok(since >= before - 1000 && since <= Date.now(), a.connectedSince!)
  assert.equal(a.cleanSession, true)
  assert.equal(b.protocolVersion, 4)
  assert.equal(b.keepalive, 20)
  assert.equal(b.subscriptions, 1)
  assert.equal(b.messagesOut, 3)
  assert.ok(b.bytesOut > 0)
  assert.equal(b.username, null)
  // away, its persistent session kept: what its last connection was, nothing of a connection now
  assert.equal(g.connected, false)
  assert.equal(g.address, null)
  assert.equal(g.connectedSince, null)
  assert.equal(g.protocolVersion, 5)
  assert.equal(g.cleanSession, false)
  assert.equal(g.sessionExpiryInterval, 300)
  assert.equal(g.subscriptions, 1)

  const away = await rig.get<Page<ClientSummary>>('/api/v1/clients?connected=false')
  assert.deepEqual(
    away.body.items.map((c) => c.clientId),
    ['gamma'],
  )
  const online = await rig.get<Page<ClientSummary>>('/api/v1/clients?connected=true')
  assert.equal(online.body.total, 2)
  // search: client id, user name or address, any case
  const byUser = await rig.get<Page<ClientSummary>>('/api/v1/clients?search=ALI')
  assert.deepEqual(
    byUser.body.items.map((c) => c.clientId),
    ['alpha'],
  )
  const byAddress = await rig.get<Page<ClientSummary>>('/api/v1/clients?search=127.0.0')
  assert.equal(byAddress.body.total, 2)
})

test('sorts and pages the client list; clients not connected sort last by connection figures', async (t) => {
  const rig = await adminRig(t)
  const pubs: Client[] = []
  for (const id of ['p1', 'p2', 'p3']) pubs.push(await rig.client({ clientId: id }))
  const away = await rig.client({ clientId: 'p0', clean: false })
  await away.end()
  for (let i = 0; i < pubs.length; i++)
    for (let n = 0; n <= i; n++) await pubs[i]!.publish('s/t', 'x', { qos: 1 })

  const busiest = await rig.get<Page<ClientSummary>>('/api/v1/clients?sort=messagesIn&order=desc&limit=2')
  assert.equal(busiest.body.total, 4)
  assert.equal(busiest.body.limit, 2)
  assert.deepEqual(
    busiest.body.items.map((c) => [c.clientId, c.messagesIn]),
    [
      ['p3', 3],
      ['p2', 2],
    ],
  )
  const next = await rig.get<Page<ClientSummary>>(
    '/api/v1/clients?sort=messagesIn&order=desc&offset=2&limit=2',
  )
  assert.equal(next.body.offset, 2)
  assert.deepEqual(
    next.body.items.map((c) => c.clientId),
    ['p1', 'p0'],
  )
  for (const order of ['asc', 'desc']) {
    const r = await rig.get<Page<ClientSummary>>(`/api/v1/clients?sort=connectedSince&order=${order}`)
    assert.equal(r.body.items.at(-1)?.clientId, 'p0', `order=${order}: the one not connected last`)
  }
  const byId = await rig.get<Page<ClientSummary>>('/api/v1/clients?order=desc&limit=1&offset=1')
  assert.deepEqual(
    byId.body.items.map((c) => c.clientId),
    ['p2'],
  )
  const empty = await rig.get<Page<ClientSummary>>('/api/v1/clients?offset=10')
  assert.deepEqual(empty.body, { total: 4, offset: 10, limit: 50, items: [] })
})

test('looks a client up by its URL-encoded id, with its subscriptions and their MQTT 5 options', async (t) => {
  const rig = await adminRig(t)
  const id = 'dev/7 ü%?#..'
  const c = await rig.client({ clientId: id, protocolVersion: 5 })
  await c.subscribe('a/+', { qos: 1, noLocal: true, subscriptionIdentifier: 7 })
  await c.subscribe('$share/g/b/#', { qos: 2 })
  await c.subscribe('c', { qos: 0, retainHandling: 2, retainAsPublished: true })

  const r = await rig.get<ClientDetail>(`/api/v1/clients/${enc(id)}`)
  assert.equal(r.status, 200)
  assert.equal(r.body.clientId, id)
  assert.equal(r.body.subscriptions, 3)
  assert.deepEqual(r.body.subscriptionList, [
    {
      clientId: id,
      filter: '$share/g/b/#',
      qos: 2,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      subscriptionId: 0,
    },
    {
      clientId: id,
      filter: 'a/+',
      qos: 1,
      noLocal: true,
      retainAsPublished: false,
      retainHandling: 0,
      subscriptionId: 7,
    },
    {
      clientId: id,
      filter: 'c',
      qos: 0,
      noLocal: false,
      retainAsPublished: true,
      retainHandling: 2,
      subscriptionId: 0,
    },
  ])
  const missing = await rig.get('/api/v1/clients/nobody')
  assert.equal(missing.status, 404)
  assert.deepEqual(missing.body, { error: { code: 'not-found', message: "no client 'nobody'" } })
  // '..' is an id, not a path step
  const dots = await rig.get('/api/v1/clients/%2E%2E')
  assert.equal(dots.status, 404)
})

test('GET /api/v1/broker: version, start, uptime, listeners and the settings without secrets or code', async (t) => {
  const rig = await adminRig(t, { maxInflight: 42, responseInformation: 'ri' })
  const r = await rig.get<Record<string, unknown>>('/api/v1/broker')
  assert.equal(r.status, 200)
  const { startedAt, uptimeSeconds, config, ...rest } = r.body
  assert.deepEqual(rest, {
    version: VERSION,
    pid: process.pid,
    node: process.version,
    listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port: rig.port }],
  })
  assert.ok(Math.abs(Date.parse(String(startedAt)) - rig.broker.stats.startedAt) < 1000)
  assert.ok(typeof uptimeSeconds === 'number' && uptimeSeconds >= 0 && uptimeSeconds < 60)
  // no settings given to startHttp: the broker's own options, less the logger, hooks and clock
  const shown = config as Record<string, unknown>
  assert.equal(shown.maxInflight, 42)
  assert.equal(shown.responseInformation, 'ri')
  for (const k of ['logger', 'hooks', 'now']) assert.equal(k in shown, false, k)
})

test('GET /api/v1/cluster on a single node: 404 not-found, in the API error shape', async (t) => {
  const rig = await adminRig(t)
  const r = await rig.get<{ error: { code: string; message: string } }>('/api/v1/cluster')
  assert.equal(r.status, 404)
  assert.equal(r.body.error.code, 'not-found')
  assert.match(r.body.error.message, /not a cluster node/)
})

test('lists subscriptions by the topic they match, a substring of the filter, or a client, paged', async (t) => {
  const rig = await adminRig(t)
  const a = await rig.client({ clientId: 'sa' })
  const b = await rig.client({ clientId: 'sb', protocolVersion: 5 })
  await a.subscribe({ 'home/+/temp': 1, 'home/#': 0, 'office/light': 2 })
  await b.subscribe({ '$share/workers/home/kitchen/temp': 1, 'garden/#': 0 })

  const reach = await rig.get<Page<SubscriptionInfo>>(
    `/api/v1/subscriptions?match=${enc('home/kitchen/temp')}`,
  )
  assert.deepEqual(
    reach.body.items.map((s) => `${s.clientId} ${s.filter}`),
    ['sa home/#', 'sa home/+/temp', 'sb $share/workers/home/kitchen/temp'],
  )
  const search = await rig.get<Page<SubscriptionInfo>>('/api/v1/subscriptions?search=LIGHT')
  assert.deepEqual(
    search.body.items.map((s) => [s.filter, s.qos]),
    [['office/light', 2]],
  )
  const mine = await rig.get<Page<SubscriptionInfo>>('/api/v1/subscriptions?clientId=sb')
  assert.equal(mine.body.total, 2)
  const paged = await rig.get<Page<SubscriptionInfo>>('/api/v1/subscriptions?limit=2&offset=2')
  assert.equal(paged.body.total, 5)
  assert.deepEqual(
    paged.body.items.map((s) => s.filter),
    ['office/light', '$share/workers/home/kitchen/temp'],
  )
  const none = await rig.get<Page<SubscriptionInfo>>('/api/v1/subscriptions?match=elsewhere')
  assert.deepEqual(none.body.items, [])
})

test('lists retained messages by an MQTT filter, $SYS only when asked for, with size and a preview', async (t) => {
  const rig = await adminRig(t)
  const c = await rig.client({ clientId: 'r', protocolVersion: 5 })
  await c.publish('r/b', 'second', { qos: 1, retain: true })
  await c.publish('r/a', 'first', { qos: 0, retain: true })
  await c.publish('r/c/d', Buffer.alloc(1000, 0x41), {
    qos: 2,
    retain: true,
    properties: { messageExpiryInterval: 600 },
  })
  rig.broker.publish({ topic: '$SYS/broker/x', payload: '1', retain: true })
  await until(() => rig.broker.retainedCount === 4, '4 retained messages')

  const all = await rig.get<Page<RetainedInfo>>('/api/v1/retained')
  assert.deepEqual(
    all.body.items.map((m) => m.topic),
    ['r/a', 'r/b', 'r/c/d'],
  )
  const [first, , big] = all.body.items as [RetainedInfo, RetainedInfo, RetainedInfo]
  assert.deepEqual(first, { topic: 'r/a', qos: 0, bytes: 5, preview: 'first', expiresAt: null })
  assert.equal(big.bytes, 1000)
  assert.equal(big.preview, 'A'.repeat(256))
  assert.equal(big.qos, 2)
  const left = Date.parse(big.expiresAt!) - Date.now()
  assert.ok(left > 590_000 && left <= 600_000, `expires in ${left} ms`)
  const level = await rig.get<Page<RetainedInfo>>(`/api/v1/retained?filter=${enc('r/+')}&limit=1&offset=1`)
  assert.deepEqual(level.body.total, 2)
  assert.deepEqual(
    level.body.items.map((m) => m.topic),
    ['r/b'],
  )
  const sys = await rig.get<Page<RetainedInfo>>(`/api/v1/retained?filter=${enc('$SYS/#')}`)
  assert.deepEqual(
    sys.body.items.map((m) => m.topic),
    ['$SYS/broker/x'],
  )
})

test('DELETE /api/v1/retained deletes the message in memory and in the store, and tells no subscriber', async (t) => {
  const rig = await adminRig(t)
  const c = await rig.client({ clientId: 'del' })
  await c.publish('keep/me', 'a', { qos: 1, retain: true })
  await c.publish('drop/me', 'b', { qos: 1, retain: true })
  const watcher = await rig.client({ clientId: 'watcher' })
  const seen: string[] = []
  watcher.on('message', (topic, payload) => seen.push(`${topic}=${payload.toString()}`))
  await watcher.subscribe('drop/#', { qos: 1 })
  await until(() => seen.length === 1, 'the retained message on subscribing')

  const r = await rig.call('DELETE', `/api/v1/retained?topic=${enc('drop/me')}`)
  assert.equal(r.status, 200)
  assert.deepEqual(r.body, { deleted: true })
  assert.equal(rig.broker.retainedCount, 1)
  // as an empty retained PUBLISH deletes it [MQTT-3.3.1-10]
  assert.deepEqual(rig.store.retainedWrites.at(-1), { topic: 'drop/me', bytes: 0 })
  assert.deepEqual(
    [...rig.store.load().retained].map((m) => m.topic),
    ['keep/me'],
  )
  const again = await rig.call('DELETE', `/api/v1/retained?topic=${enc('drop/me')}`)
  assert.equal(again.status, 404)
  const list = await rig.get<Page<RetainedInfo>>('/api/v1/retained')
  assert.deepEqual(
    list.body.items.map((m) => m.topic),
    ['keep/me'],
  )
  await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(seen, ['drop/me=b'])
})
