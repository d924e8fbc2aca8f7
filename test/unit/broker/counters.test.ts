/**
 * BrokerStats with known traffic, over in-memory streams (broker.handle): every counter the
 * operations work added, checked against what the clients sent and received.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import type { NotableEvent } from '../../../src/broker/events.js'
import type { BrokerOptions } from '../../../src/broker/options.js'
import { encode, PacketType, type ProtocolVersion, type QoS } from '../../../src/protocol/index.js'
import { duplexPair } from '../../helpers/duplex-pair.js'
import { type ConnectOptions, delay, RawClient, uniqueId } from '../../helpers/raw-client.js'

interface Rig {
  broker: Broker
  notable: NotableEvent[]
  /** A client over an in-memory stream; no CONNECT sent. */
  open(): RawClient & { bytesIn: number }
  /** A client that has sent CONNECT and had CONNACK 0. */
  connect(o?: ConnectOptions): Promise<RawClient & { bytesIn: number }>
}

function rig(t: { after(fn: () => Promise<void>): void }, options: BrokerOptions = {}): Rig {
  const broker = new Broker({ sysInterval: 0, ...options })
  const notable: NotableEvent[] = []
  broker.on('notable', (e) => notable.push(e))
  const clients: RawClient[] = []
  // nothing else holds the event loop open: no socket, and the test helpers' timers are unref'd
  const alive = setInterval(() => {}, 1000)
  t.after(async () => {
    // the broker ends each stream, and the client's end closes it (a destroyed pair would not tell the other side)
    await broker.close()
    for (const c of clients) c.destroy()
    clearInterval(alive)
  })
  const open = (): RawClient & { bytesIn: number } => {
    const [server, client] = duplexPair()
    const c = Object.assign(RawClient.wrap(client), { bytesIn: 0 })
    client.on('data', (chunk: Buffer) => {
      c.bytesIn += chunk.length
    })
    broker.handle(server, '10.0.0.9')
    clients.push(c)
    return c
  }
  return {
    broker,
    notable,
    open,
    async connect(o = {}) {
      const c = open()
      const ack = await c.connect(o)
      assert.equal(ack.returnCode, 0)
      return c
    },
  }
}

/** Index of publishIn / publishOut (see ByVersionQos). */
const at = (version: ProtocolVersion | 3, qos: QoS): number => (version - 3) * 3 + qos

test('counts PUBLISH received and sent by protocol version and QoS, with packet and payload bytes', async (t) => {
  const r = rig(t)
  const s = r.broker.stats
  const sub4 = await r.connect()
  await sub4.subscribe('k/#', 2)
  const sub5 = await r.connect({ protocolVersion: 5 })
  await sub5.subscribe('k/#', 2)
  const pub3 = await r.connect({ protocolVersion: 3 })
  const pub4 = await r.connect()
  const pub5 = await r.connect({ protocolVersion: 5 })
  const sent = [
    { c: pub3, v: 3 as const, qos: 0 as QoS, topic: 'k/zero', payload: 'a' },
    { c: pub4, v: 4 as const, qos: 1 as QoS, topic: 'k/one', payload: 'bb' },
    { c: pub5, v: 5 as const, qos: 2 as QoS, topic: 'k/two', payload: 'ccc' },
  ]
  for (const m of sent) {
    const id = m.c.publish(m.topic, m.payload, { qos: m.qos })
    if (m.qos === 1) await m.c.next(PacketType.PUBACK)
    if (m.qos === 2) {
      await m.c.next(PacketType.PUBREC)
      m.c.send({ type: PacketType.PUBREL, packetId: id })
      await m.c.next(PacketType.PUBCOMP)
    }
  }
  const got4 = [
    await sub4.next(PacketType.PUBLISH),
    await sub4.next(PacketType.PUBLISH),
    await sub4.next(PacketType.PUBLISH),
  ]
  const got5 = [
    await sub5.next(PacketType.PUBLISH),
    await sub5.next(PacketType.PUBLISH),
    await sub5.next(PacketType.PUBLISH),
  ]
  const inExpected = new Array(9).fill(0)
  const inBytes = new Array(9).fill(0)
  for (const m of sent) {
    inExpected[at(m.v, m.qos)]++
    const packet = {
      type: PacketType.PUBLISH,
      topic: m.topic,
      payload: Buffer.from(m.payload),
      qos: m.qos,
      retain: false,
      dup: false,
      packetId: m.qos > 0 ? 1 : 0,
    } as const
    inBytes[at(m.v, m.qos)] += encode(packet, m.v === 5 ? 5 : 4).length
  }
  assert.deepEqual(s.publishIn, inExpected)
  assert.deepEqual(s.publishInBytes, inBytes)
  assert.equal(
    s.publishIn.reduce((a, b) => a + b),
    3,
  )
  assert.equal(s.publishPayloadIn, 6)
  const outExpected = new Array(9).fill(0)
  const outBytes = new Array(9).fill(0)
  for (const [c, v, got] of [
    [sub4, 4, got4],
    [sub5, 5, got5],
  ] as const) {
    for (const p of got) {
      outExpected[at(v, p.qos)]++
      outBytes[at(v, p.qos)] += c.raw(p).length
    }
  }
  assert.deepEqual(s.publishOut, outExpected)
  assert.deepEqual(s.publishOutBytes, outBytes)
  assert.deepEqual(
    [at(4, 0), at(4, 1), at(4, 2), at(5, 0), at(5, 1), at(5, 2)].map((i) => s.publishOut[i]),
    [1, 1, 1, 1, 1, 1],
  )
  assert.equal(s.publishPayloadOut, 12)
  assert.equal(s.drops.noSubscribers, 0)
})

test('counts every packet and byte sent to clients as messagesSent and bytesSent, and sockets and accepted connections', async (t) => {
  const r = rig(t)
  const s = r.broker.stats
  const a = await r.connect()
  await a.subscribe('x', 1)
  const b = await r.connect({ protocolVersion: 5 })
  b.publish('x', 'hello', { qos: 1 })
  await b.next(PacketType.PUBACK)
  const m = await a.next(PacketType.PUBLISH)
  a.send({ type: PacketType.PUBACK, packetId: m.packetId })
  const refused = r.open()
  await refused.connect({ protocolVersion: 3, clientId: '' }) // 3.1 needs a client id
  await delay(10)
  // CONNACK, SUBACK, PUBLISH to a; CONNACK, PUBACK to b; CONNACK to the refused one
  assert.equal(s.messagesSent, 6)
  assert.equal(s.bytesSent, a.bytesIn + b.bytesIn + refused.bytesIn)
  assert.equal(s.socketsOpened, 3)
  assert.equal(s.connectionsAccepted, 2)
  assert.equal(s.refused.clientId, 1)
})

test('counts refused connections by reason and tells each as a refused event', async (t) => {
  const r = rig(t, {
    maxConnections: 2,
    authenticate: (_c, username) => (username === 'nobody' ? false : username === 'banned' ? 5 : true),
  })
  const s = r.broker.stats
  const expect = async (o: ConnectOptions, code: number): Promise<void> => {
    const c = r.open()
    const ack = await c.connect(o)
    assert.equal(ack.returnCode, code, JSON.stringify(o))
    await c.closed()
  }
  await expect({ protocolVersion: 3, clientId: '' }, 2)
  await expect({ username: 'nobody' }, 4) // false: bad user name or password
  await expect({ username: 'banned' }, 5)
  await expect({ username: 'nobody', protocolVersion: 5 }, 0x86)
  const bad = r.open()
  bad.sendRaw('10 0c 00 04 4d 51 54 54 07 02 00 00 00 00') // level 7
  assert.equal((await bad.next(PacketType.CONNACK)).returnCode, 1)
  await bad.closed()
  const notConnect = r.open()
  notConnect.sendRaw('c0 00') // PINGREQ first [MQTT-3.1.0-1]
  await notConnect.closed()
  await r.connect()
  await r.connect()
  await expect({}, 3) // maxConnections
  assert.deepEqual(s.refused, {
    listener: 0,
    tls: 0,
    ipLimit: 0,
    protocolVersion: 1,
    clientId: 1,
    badCredentials: 2,
    notAuthorized: 1,
    other: 1,
    protocolError: 1,
  })
  assert.equal(s.connectionsAccepted, 2)
  const refused = r.notable.filter((e) => e.kind === 'refused')
  assert.equal(refused.length, 7)
  assert.ok(refused.every((e) => e.remoteAddress === '10.0.0.9'))
  assert.ok(refused.some((e) => e.detail === 'CONNECT refused: not authorised'))
})

test('counts denied publishes, subscriptions and reads, and messages nobody subscribed to', async (t) => {
  const r = rig(t, {
    authorizePublish: (_c, topic) => !topic.startsWith('secret/'),
    authorizeSubscribe: (_c, filter) => filter !== 'forbidden',
    hooks: [{ authorizeRead: (client, topic) => !(client.id.startsWith('blind') && topic === 'seen') }],
  })
  const s = r.broker.stats
  const sub = await r.connect()
  const suback = await sub.subscribe([
    { topic: 'seen', qos: 0 },
    { topic: 'forbidden', qos: 0 },
  ])
  assert.deepEqual(suback.granted, [0, 0x80])
  const blind = await r.connect({ clientId: uniqueId('blind') })
  await blind.subscribe('seen', 0)
  const pub = await r.connect()
  pub.publish('seen', '1')
  pub.publish('secret/x', '2', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  pub.publish('nobody/here', '3', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  await sub.next(PacketType.PUBLISH)
  await blind.nothingFor(20)
  assert.deepEqual(s.denied, { publish: 1, subscribe: 1, read: 1 })
  assert.equal(s.drops.notAuthorized, 2, 'the refused PUBLISH and the filtered delivery')
  assert.equal(s.drops.noSubscribers, 1)
  assert.equal(s.dropped, 0, 'Mosquitto does not count these as dropped')
})

test('counts messages dropped for a full offline queue and for a client Maximum Packet Size, within dropped', async (t) => {
  const r = rig(t, { maxQueuedMessages: 2 })
  const s = r.broker.stats
  const id = uniqueId('away')
  const away = await r.connect({ clientId: id, clean: false })
  await away.subscribe('q', 1)
  await away.disconnect()
  const small = await r.connect({ protocolVersion: 5, properties: { maximumPacketSize: 64 } })
  await small.subscribe('big', 0)
  const pub = await r.connect()
  for (let i = 0; i < 5; i++) {
    pub.publish('q', `m${i}`, { qos: 1 })
    await pub.next(PacketType.PUBACK)
  }
  pub.publish('big', Buffer.alloc(200))
  await small.nothingFor(20)
  assert.equal(s.drops.queueFull, 3)
  assert.equal(s.drops.tooLarge, 1)
  assert.equal(s.dropped, 4)
  const dropping = r.notable.filter((e) => e.kind === 'dropping')
  assert.ok(dropping.length >= 2, 'the first drop of each client is told')
  assert.ok(dropping.some((e) => e.clientId === id))
})

test('counts takeovers and expired sessions', async (t) => {
  const r = rig(t)
  const s = r.broker.stats
  const id = uniqueId('twice')
  const first = await r.connect({ clientId: id })
  await r.connect({ clientId: id })
  await first.closed()
  assert.equal(s.takeovers, 1)
  const taken = r.notable.filter((e) => e.kind === 'takeover')
  assert.deepEqual(
    taken.map((e) => e.clientId),
    [id],
  )
  const brief = await r.connect({
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 1 },
  })
  await brief.disconnect()
  r.broker.expireSessions(Date.now() + 5000)
  assert.equal(s.sessionsExpired, 1)
})

test('counts a will that authorizePublish refuses as a denied publish', async (t) => {
  const r = rig(t, { authorizePublish: (_c, topic) => !topic.startsWith('secret/') })
  const c = await r.connect({
    will: { topic: 'secret/will', payload: Buffer.from('bye'), qos: 0, retain: false },
  })
  c.socket.end() // no DISCONNECT: the will is due, and refused
  for (let i = 0; i < 50 && r.broker.stats.denied.publish === 0; i++) await delay(5)
  assert.equal(r.broker.stats.denied.publish, 1)
  assert.equal(r.broker.stats.drops.notAuthorized, 1)
})

test('a limit that bites is told as a limit event once per offender, and counted each time', async (t) => {
  const r = rig(t, { maxTopicLevels: 2 })
  const id = uniqueId('deep')
  const c = await r.connect({ clientId: id })
  await c.subscribe('a/b/c', 0)
  await c.subscribe('a/b/c/d', 0)
  assert.equal(r.broker.stats.limits['topic-levels'], 2)
  const limits = r.notable.filter((e) => e.kind === 'limit')
  assert.equal(limits.length, 1)
  assert.equal(limits[0]!.clientId, id)
  assert.match(limits[0]!.detail, /maxTopicLevels/)
})
