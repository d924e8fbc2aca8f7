/**
 * The admin API with 10,000 clients: each connected over an in-memory stream (broker.handle),
 * with a subscription. Listings are sorted, filtered and paged on the server per request, and
 * a page stays small and quick. The time bounds are generous: they catch a listing that does
 * per-client work per item of the page (quadratic), not a slow machine.
 */
import assert from 'node:assert/strict'
import type { Duplex } from 'node:stream'
import { test } from 'node:test'
import type { ClientSummary, Page, SubscriptionInfo } from '../../../src/broker/admin.js'
import { Broker } from '../../../src/broker/broker.js'
import { startHttp } from '../../../src/http/server.js'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { duplexPair } from '../../helpers/duplex-pair.js'
import { fetchChecked } from '../../helpers/openapi.js'
import { connectPacket } from '../../helpers/raw-client.js'
import { until } from './admin-rig.js'

const CLIENTS = 10_000
/** A listing of 10,000 clients takes a few ms; this is for shared, busy CI machines. */
const BOUND_MS = 3000

const id = (i: number): string => `dev-${String(i).padStart(5, '0')}`

test(`lists, sorts, searches and pages ${CLIENTS} clients quickly`, { timeout: 120_000 }, async (t) => {
  const broker = new Broker({ sysInterval: 0, maxConnectionsPerIp: 0, connectionRatePerIp: 0 })
  await broker.ready
  const http = await startHttp(broker, { port: 0 })
  const ends: Duplex[] = []
  t.after(async () => {
    await http.close()
    // the broker ends each stream, and each client's end answers it: every connection closes
    await broker.close()
    for (const d of ends) d.destroy()
  })
  for (let i = 0; i < CLIENTS; i++) {
    const [client, server] = duplexPair()
    client.on('data', () => {}) // CONNACK, SUBACK, PUBLISH: read and forgotten
    ends.push(client)
    broker.handle(server, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
    client.write(encode(connectPacket({ clientId: id(i) })))
    client.write(
      encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: `dev/${i}/cmd`, qos: 1 }] }),
    )
    // some traffic, different for each client, to sort by
    for (let n = 0; n < i % 7; n++)
      client.write(
        encode({
          type: PacketType.PUBLISH,
          topic: `up/${i}`,
          payload: Buffer.from('x'),
          qos: 0,
          retain: false,
          dup: false,
          packetId: 0,
        }),
      )
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r))
  }
  await until(
    () => broker.connectedCount === CLIENTS && broker.subscriptionCount === CLIENTS,
    'every client in',
    60_000,
  )

  const timed = async <T>(path: string): Promise<T> => {
    const start = performance.now()
    const r = await fetchChecked<T>(http.url, 'GET', path)
    const ms = performance.now() - start
    assert.equal(r.status, 200, path)
    assert.ok(ms < BOUND_MS, `${path} took ${ms.toFixed(0)} ms`)
    return r.body
  }
  const first = await timed<Page<ClientSummary>>('/api/v1/clients')
  assert.equal(first.total, CLIENTS)
  assert.equal(first.items.length, 50)
  assert.equal(first.items[0]?.clientId, id(0))

  const busiest = await timed<Page<ClientSummary>>('/api/v1/clients?sort=messagesIn&order=desc&limit=100')
  assert.equal(busiest.items.length, 100)
  assert.ok(
    busiest.items.every((c) => c.messagesIn === 6),
    'the busiest send 6 each',
  )

  const last = await timed<Page<ClientSummary>>(
    `/api/v1/clients?sort=clientId&order=desc&offset=${CLIENTS - 10}&limit=1000`,
  )
  assert.deepEqual(
    last.items.map((c) => c.clientId),
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0].map(id),
  )

  const found = await timed<Page<ClientSummary>>('/api/v1/clients?search=10.0.39.15')
  assert.deepEqual(
    found.items.map((c) => c.clientId),
    [id(39 * 256 + 15)],
  )
  const bySince = await timed<Page<ClientSummary>>(
    '/api/v1/clients?connected=true&sort=connectedSince&limit=1000',
  )
  assert.equal(bySince.items.length, 1000)

  const subs = await timed<Page<SubscriptionInfo>>('/api/v1/subscriptions?match=dev%2F4242%2Fcmd')
  assert.deepEqual(
    subs.items.map((s) => s.clientId),
    [id(4242)],
  )
  const allSubs = await timed<Page<SubscriptionInfo>>('/api/v1/subscriptions?limit=1000&offset=9000')
  assert.equal(allSubs.total, CLIENTS)
  assert.equal(allSubs.items.length, 1000)
})
