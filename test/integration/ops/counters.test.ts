/**
 * Operations counters over real sockets: what only a listener, a timer or a real store shows
 * (listener and per-address refusals, CONNECT timeouts, slow consumers, SQLite commit latency
 * and size), and the busiest topics of real traffic.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import type { NotableEvent } from '../../../src/broker/events.js'
import { PacketType } from '../../../src/protocol/index.js'
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js'
import { flood, rawConnect, sleep } from '../../helpers/flood.js'
import { delay, RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

function notable(b: Broker): NotableEvent[] {
  const seen: NotableEvent[] = []
  b.on('notable', (e) => seen.push(e))
  return seen
}

/** A connected raw client over a socket that counts the bytes it receives. */
async function countingClient(port: number): Promise<{ c: RawClient; received: () => number }> {
  const socket = netConnect({ port, host: '127.0.0.1' })
  let received = 0
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length
  })
  await new Promise((resolve) => socket.once('connect', resolve))
  const c = RawClient.wrap(socket)
  await c.connect()
  return { c, received: () => received }
}

test('counts sockets a listener refuses over its maxConnections, and tells them', async (t) => {
  const broker = new Broker({ sysInterval: 0 })
  t.after(() => broker.close())
  const events = notable(broker)
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1', maxConnections: 1 })
  const first = await RawClient.open(port)
  await first.connect()
  const second = await RawClient.open(port)
  await second.closed()
  first.destroy()
  assert.equal(broker.stats.refused.listener, 1)
  assert.equal(broker.stats.listenerRefused, 1)
  assert.equal(broker.stats.socketsOpened, 1, 'a socket refused by the listener never reached the broker')
  const e = events.find((x) => x.kind === 'refused')
  assert.ok(e !== undefined && e.remoteAddress !== undefined, JSON.stringify(events))
})

test('counts connections refused by a per-address limit, and CONNECTs that never came', async (t) => {
  const tb = await startBroker({ maxConnectionsPerIp: 1, connectTimeout: 200 }, t)
  const events = notable(tb.broker)
  const idle = await tb.open() // sends nothing: closed after connectTimeout
  const refused = await tb.open()
  await refused.closed()
  await idle.closed(2000)
  const s = tb.broker.stats
  assert.equal(s.refused.ipLimit, 1)
  assert.equal(s.refused.protocolError, 1)
  assert.equal(s.socketsOpened, 2)
  assert.equal(s.connectionsAccepted, 0)
  assert.deepEqual(
    events.filter((e) => e.kind === 'refused').map((e) => e.detail),
    ['connection refused by a per-address limit', 'no CONNECT within connectTimeout'],
  )
})

test('counts a subscriber disconnected as a slow consumer, and the QoS 0 dropped for it', async (t) => {
  const tb = await startBroker(
    { stuckConsumerWindow: 200, slowConsumerTimeout: 1000, maxOutputBuffer: 64 * 1024 },
    t,
  )
  const events = notable(tb.broker)
  const stuck = await tb.connect({ clientId: 'stuck-one' })
  await stuck.subscribe('flood', 0)
  stuck.socket.pause() // reads nothing from now on
  const publisher = await rawConnect(tb.port, uniqueId('pub'))
  t.after(() => publisher.destroy())
  await flood(publisher, 'flood', 1500)
  for (let i = 0; i < 40 && tb.broker.stats.slowConsumerDisconnects === 0; i++) await sleep(100)
  const s = tb.broker.stats
  assert.equal(s.slowConsumerDisconnects, 1)
  assert.ok(s.drops.qos0Budget > 0, 'its QoS 0 over the output budget was dropped')
  assert.equal(s.dropped, s.drops.qos0Budget + s.drops.queueFull + s.drops.tooLarge)
  const slow = events.filter((e) => e.kind === 'slow-consumer')
  assert.deepEqual(
    slow.map((e) => e.clientId),
    ['stuck-one'],
  )
  assert.ok(events.some((e) => e.kind === 'dropping' && e.clientId === 'stuck-one'))
})

test('times SQLite commits that had writes, and tells the size of the database and its WAL', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-ops-'))
  const store = await SqliteStore.open({ dataDir: dir })
  const tb = await startBroker({ store }, t)
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const sub = await tb.connect({ clientId: uniqueId('keep'), clean: false })
  await sub.subscribe('durable', 1)
  const pub = await tb.connect()
  for (let i = 0; i < 20; i++) {
    pub.publish('durable', `m${i}`, { qos: 1 })
    await pub.next(PacketType.PUBACK)
  }
  const h = tb.broker.stats.commits
  assert.ok(h.count >= 20, `${h.count} commits timed`)
  assert.equal(
    h.counts.reduce((a, b) => a + b, 0),
    h.count,
  )
  assert.ok(h.sum > 0)
  assert.equal(tb.broker.stats.storeErrors, 0)
  const size = tb.broker.storeSizeBytes()
  assert.ok(size !== null && size >= 4096, `store size ${size}`)
  const memory = new Broker()
  t.after(() => memory.close())
  assert.equal(memory.storeSizeBytes(), null, 'the memory store has no size to tell')
})

test('busiestTopics estimates the busiest topics of real traffic', async (t) => {
  const tb = await startBroker({}, t)
  const pub = await tb.connect()
  for (let i = 0; i < 3000; i++) pub.publish(i % 3 === 0 ? 'quiet' : 'busy', 'x')
  pub.publish('end', 'x', { qos: 1 })
  await pub.next(PacketType.PUBACK, 5000)
  const top = tb.broker.busiestTopics(2)
  assert.deepEqual(
    top.items.map((i) => i.topic),
    ['busy', 'quiet'],
  )
  assert.ok(top.windowSeconds > 0)
  const busy = top.items[0]!
  assert.ok(Math.abs(busy.messages - 2000) <= 2 * 64, `${busy.messages}`)
  assert.ok(busy.share > 0.6 && busy.share < 0.72, `${busy.share}`)
  assert.ok(busy.messagesPerSecond > 0)
})

test('counts bytes received and sent on the wire as the socket sees them', async (t) => {
  const tb = await startBroker({}, t)
  const { c, received } = await countingClient(tb.port)
  await c.subscribe('echo', 1)
  c.publish('echo', 'ping', { qos: 1 })
  const got = [(await c.next()).type, (await c.next()).type].sort()
  assert.deepEqual(got, [PacketType.PUBLISH, PacketType.PUBACK].sort())
  await delay(20)
  const s = tb.broker.stats
  assert.equal(s.bytesSent, received())
  assert.equal(s.messagesSent, 4) // CONNACK, SUBACK, PUBACK, PUBLISH
  c.destroy()
})

test('a retained message nobody subscribes to is kept, not counted as dropped for no subscribers', async (t) => {
  const tb = await startBroker({}, t)
  const pub = await tb.connect()
  pub.publish('kept/1', 'x', { qos: 1, retain: true })
  await pub.next(PacketType.PUBACK)
  pub.publish('gone/1', 'x', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  assert.equal(tb.broker.retainedCount, 1)
  assert.equal(tb.broker.stats.drops.noSubscribers, 1, 'only the message that went nowhere')
})

test('a retained replay counts each PUBLISH once, in messages and bytes sent as the socket sees them', async (t) => {
  const tb = await startBroker({}, t)
  const count = 3000
  let payload = 0
  for (let i = 0; i < count; i++) {
    const p = `value ${i}`
    payload += p.length
    tb.broker.publish({ topic: `replay/${i % 10}/${i}`, payload: p, retain: true })
  }
  const { c, received } = await countingClient(tb.port)
  const before = { ...tb.broker.stats, publishOut: [...tb.broker.stats.publishOut] }
  await c.subscribe('replay/#', 0)
  for (let i = 0; i < count; i++) await c.next(PacketType.PUBLISH)
  await c.nothingFor(50)
  const s = tb.broker.stats
  assert.equal(s.messagesSent - before.messagesSent, count + 1) // the SUBACK and each PUBLISH
  assert.equal(s.bytesSent, received())
  assert.equal(s.publishOut[3]! - before.publishOut[3]!, count, '3.1.1 QoS 0')
  assert.equal(s.publishOut.reduce((a, b) => a + b, 0) - before.publishOut.reduce((a, b) => a + b, 0), count)
  assert.equal(s.publishPayloadOut - before.publishPayloadOut, payload)
  c.destroy()
})
