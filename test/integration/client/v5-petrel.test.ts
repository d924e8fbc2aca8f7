/**
 * The MQTT 5 client against Petrel's own broker at MQTT 5: the same scenarios
 * as against Mosquitto (test/interop/mosquitto-broker-v5.test.ts), plus what
 * Mosquitto does not do (Response Information, DISCONNECT 0x8E on takeover).
 * Skipped, with the reason shown, while the broker does not speak MQTT 5.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { type Client, type ClientOptions, connect, type Message, ReasonCode } from '../../../src/index.js'
import { LOOPBACK } from '../../helpers/net.js'
import { startProxy } from './proxy.js'
import { publishAcrossCuts, T, uniqueClientId, until } from './suite.js'

const OPTIONS = {
  sysInterval: 0,
  receiveMaximum: 3,
  topicAliasMaximum: 4,
  maxKeepalive: 30,
  responseInformation: 'replies/',
} as ConstructorParameters<typeof Broker>[0]

function collect(c: Client): Message[] {
  const got: Message[] = []
  c.on('message', (_t, _p, m) => got.push(m))
  return got
}

describe('MQTT 5 client against the Petrel broker', () => {
  let broker: Broker
  let url: string
  let port: number
  const clients: Client[] = []
  const v5 = async (o: ClientOptions = {}, at = url): Promise<Client> => {
    const c = await connect(at, { protocolVersion: 5, reconnect: false, ...o })
    clients.push(c)
    return c
  }
  before(async () => {
    broker = new Broker(OPTIONS)
    ;({ port } = await broker.listen({ port: 0, host: LOOPBACK }))
    url = `mqtt://${LOOPBACK}:${port}`
  })
  after(async () => {
    for (const c of clients) await c.end({ force: true })
    await broker?.close()
  })

  test(
    'takes the CONNACK: assigned client id, Server Keep Alive, Receive Maximum, Topic Alias Maximum',
    T,
    async () => {
      const c = await v5({ clientId: '', keepalive: 120 })
      const p = c.connack!.properties
      assert.ok(p.assignedClientIdentifier !== undefined && c.clientId === p.assignedClientIdentifier)
      assert.equal(p.serverKeepAlive, 30) // [MQTT-3.1.2-21]
      assert.equal(p.receiveMaximum, 3)
      assert.equal(p.topicAliasMaximum, 4)
    },
  )

  test(
    'publishes with properties; the subscriber gets them with its subscription identifier',
    T,
    async () => {
      const t = uniqueClientId('props')
      const sub = await v5()
      const got = collect(sub)
      await sub.subscribe(`${t}/#`, { qos: 1, subscriptionIdentifier: 12 })
      const pub = await v5()
      const properties = {
        contentType: 'text/plain',
        correlationData: Buffer.from('c'),
        userProperties: [
          ['x', '1'],
          ['x', '2'],
        ] as [string, string][],
      }
      await pub.publish(`${t}/a`, 'hi', { qos: 1, properties })
      await until(() => got.length === 1, 3000, 'the message')
      assert.deepEqual(got[0]!.properties?.subscriptionIdentifiers, [12])
      assert.equal(got[0]!.properties?.contentType, 'text/plain')
      assert.deepEqual(got[0]!.properties?.userProperties, properties.userProperties)
    },
  )

  test("200 QoS 1/2 publishes within the broker's Receive Maximum of 3 [MQTT-3.3.4-7]", T, async () => {
    const t = uniqueClientId('rm')
    const sub = await v5()
    const got = collect(sub)
    await sub.subscribe(`${t}/#`, { qos: 2 })
    const pub = await v5()
    let most = 0
    const all: Promise<unknown>[] = []
    for (let i = 0; i < 200; i++) {
      all.push(pub.publish(`${t}/${i % 5}`, String(i), { qos: i % 2 === 0 ? 1 : 2 }))
      most = Math.max(most, pub.inflight)
    }
    await Promise.all(all)
    assert.ok(most <= 3, `at most 3 in flight, saw ${most}`)
    await until(() => got.length === 200, 5000, '200 messages')
  })

  test('topic aliases both ways stay right across connection cuts', T, async () => {
    const proxy = await startProxy(port)
    try {
      const t = uniqueClientId('alias')
      const sub = await v5({ topicAliasMaximum: 3 })
      const got = collect(sub)
      await sub.subscribe(`${t}/#`, { qos: 1 })
      const pub = await v5(
        { reconnect: { minDelay: 20, maxDelay: 50 }, clean: false, sessionExpiryInterval: 60 },
        proxy.url,
      )
      await publishAcrossCuts(pub, proxy, t)
      await until(
        () => new Set(got.map((g) => g.payload.toString())).size === 300,
        8000,
        '300 distinct messages',
      )
      for (const g of got) assert.equal(g.topic, `${t}/${Number(g.payload.toString()) % 6}`)
    } finally {
      await proxy.close()
    }
  })

  test("request/response under the broker's Response Information", T, async () => {
    const t = uniqueClientId('svc')
    const responder = await v5()
    await responder.subscribe(t, { qos: 1 })
    responder.on('message', (topic, payload, m) => {
      if (topic === t) void responder.respond(m, `re:${payload.toString()}`)
    })
    const requester = await v5({ requestResponseInformation: true })
    assert.equal(requester.connack!.properties.responseInformation, 'replies/')
    const replies = await Promise.all([1, 2, 3].map((i) => requester.request(t, `q${i}`, { timeout: 3000 })))
    assert.deepEqual(
      replies.map((r) => r.payload.toString()),
      ['re:q1', 're:q2', 're:q3'],
    )
    assert.ok(replies[0]!.topic.startsWith('replies/'))
  })

  test(
    'a session taken over is reported as DISCONNECT 0x8E; DISCONNECT 0x04 publishes the will',
    T,
    async () => {
      const id = uniqueClientId('take')
      const t = uniqueClientId('will')
      const watcher = await v5()
      const got = collect(watcher)
      await watcher.subscribe(`${t}/#`, { qos: 1 })
      const a = await v5({ clientId: id })
      const disconnected = new Promise<number>((resolve) =>
        a.once('disconnect', (d) => resolve(d.reasonCode)),
      )
      const b = await v5({ clientId: id, will: { topic: `${t}/b`, payload: 'b gone', qos: 1 } })
      assert.equal(await disconnected, ReasonCode.SESSION_TAKEN_OVER)
      await b.end({ reasonCode: ReasonCode.DISCONNECT_WITH_WILL_MESSAGE })
      await until(() => got.length === 1, 3000, 'the will')
      assert.equal(got[0]!.payload.toString(), 'b gone')
    },
  )

  test('a session with an expiry outlives its connection', T, async () => {
    const id = uniqueClientId('sess')
    const t = uniqueClientId('sess-t')
    const a = await v5({ clientId: id, sessionExpiryInterval: 60 })
    await a.subscribe(t, { qos: 1 })
    await a.end()
    const pub = await v5()
    await pub.publish(t, 'while away', { qos: 1 })
    const b = await v5({ clientId: id, clean: false, sessionExpiryInterval: 60 })
    assert.equal(b.sessionPresent, true)
    const got = collect(b)
    await until(() => got.length === 1, 3000, 'the queued message')
    assert.equal(got[0]!.payload.toString(), 'while away')
  })
})
