/**
 * Petrel's client at MQTT 5 against a real Mosquitto 2 (a v5 broker): the limits
 * Mosquitto announces in its CONNACK are honoured (a breach would make it
 * disconnect us), properties and subscription options round-trip, topic aliases
 * survive a connection cut mid-flow, sessions outlive connections by their
 * expiry, and the will goes out on DISCONNECT 0x04.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  type Client,
  type ClientOptions,
  connect,
  type Message,
  ReasonCode,
  ServerLimitError,
} from '../../src/index.js'
import { type MosquittoBroker, mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js'
import { startProxy, type TcpProxy } from '../integration/client/proxy.js'
import { publishAcrossCuts } from '../integration/client/suite.js'

const T = { timeout: 20_000 }
let ids = 0
const uid = (p: string): string => `${p}-${process.pid}-${++ids}`

function collect(c: Client): Message[] {
  const got: Message[] = []
  c.on('message', (_t, _p, m) => got.push(m))
  return got
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

describe('Petrel client (MQTT 5) against Mosquitto 2', { skip: mosquittoSkip() }, () => {
  let m: MosquittoBroker
  const clients: Client[] = []
  const v5 = async (url: string, o: ClientOptions = {}): Promise<Client> => {
    const c = await connect(url, { protocolVersion: 5, reconnect: false, ...o })
    clients.push(c)
    return c
  }
  before(async () => {
    m = await startMosquitto({
      config: ['max_inflight_messages 3', 'max_topic_alias 4', 'max_keepalive 30', 'max_packet_size 2000'],
    })
  })
  after(async () => {
    for (const c of clients) await c.end({ force: true })
    await m?.stop()
  })

  test(
    'takes the limits from the CONNACK: Receive Maximum, Topic Alias Maximum, Server Keep Alive, Maximum Packet Size',
    T,
    async () => {
      const c = await v5(m.url, { keepalive: 60 })
      const p = c.connack!.properties
      assert.equal(p.receiveMaximum, 3)
      assert.equal(p.topicAliasMaximum, 4)
      assert.equal(p.serverKeepAlive, 30) // the client's keep-alive becomes 30 [MQTT-3.1.2-21]
      assert.equal(p.maximumPacketSize, 2000)
    },
  )

  test('500 QoS 1 and 2 publishes within a Receive Maximum of 3 all complete [MQTT-3.3.4-7]', T, async () => {
    const sub = await v5(m.url)
    const got = collect(sub)
    const t = uid('rm')
    await sub.subscribe(`${t}/#`, { qos: 2 })
    const pub = await v5(m.url)
    let most = 0
    const all: Promise<unknown>[] = []
    for (let i = 0; i < 500; i++) {
      all.push(pub.publish(`${t}/${i % 7}`, String(i), { qos: i % 2 === 0 ? 1 : 2 }))
      most = Math.max(most, pub.inflight)
    }
    const poll = setInterval(() => {
      most = Math.max(most, pub.inflight)
    }, 1)
    await Promise.all(all)
    clearInterval(poll)
    assert.ok(most <= 3, `at most 3 in flight, saw ${most}`)
    await until(() => got.length === 500, 5000, '500 messages')
    assert.equal(pub.connected, true)
  })

  test(
    "a message over Mosquitto's max_packet_size is refused locally and the connection lives on [MQTT-3.2.2-15]",
    T,
    async () => {
      const c = await v5(m.url)
      await assert.rejects(
        c.publish(uid('big'), Buffer.alloc(3000), { qos: 1 }),
        (e: unknown) => e instanceof ServerLimitError && e.limit === 'maximumPacketSize',
      )
      assert.deepEqual(await c.publish(uid('small'), 'ok', { qos: 1 }), {
        reasonCode: ReasonCode.NO_MATCHING_SUBSCRIBERS,
      })
      assert.equal(c.connected, true)
    },
  )

  test('properties round-trip through Mosquitto, with the subscription identifier added', T, async () => {
    const sub = await v5(m.url)
    const got = collect(sub)
    const t = uid('props')
    await sub.subscribe(t, { qos: 1, subscriptionIdentifier: 99 })
    const pub = await v5(m.url)
    const properties = {
      payloadFormatIndicator: 1 as const,
      contentType: 'text/plain',
      responseTopic: 'r/t',
      correlationData: Buffer.from([9, 8]),
      userProperties: [
        ['a', '1'],
        ['b', '2'],
        ['a', '3'],
      ] as [string, string][],
    }
    assert.deepEqual(await pub.publish(t, 'hi', { qos: 1, properties }), { reasonCode: 0 })
    await until(() => got.length === 1, 3000, 'the message')
    const p = got[0]!.properties!
    assert.deepEqual(p.subscriptionIdentifiers, [99])
    assert.equal(p.contentType, 'text/plain')
    assert.equal(p.responseTopic, 'r/t')
    assert.deepEqual(p.correlationData, Buffer.from([9, 8]))
    assert.deepEqual(p.userProperties, properties.userProperties)
    assert.equal(p.payloadFormatIndicator, 1)
  })

  test(
    'No Local keeps our own messages from us; Retain Handling 2 sends no retained message',
    T,
    async () => {
      const c = await v5(m.url)
      const got = collect(c)
      const t = uid('nl')
      await c.publish(`${t}/kept`, 'old', { retain: true, qos: 1 })
      await c.subscribe(`${t}/#`, { qos: 1, noLocal: true, retainHandling: 2 })
      await c.publish(`${t}/x`, 'mine', { qos: 1 })
      const other = await v5(m.url)
      await other.publish(`${t}/x`, 'theirs', { qos: 1 })
      await until(() => got.length >= 1, 3000, "the other client's message")
      await new Promise((r) => setTimeout(r, 100))
      assert.deepEqual(
        got.map((g) => g.payload.toString()),
        ['theirs'],
      )
    },
  )

  test(
    'topic aliases stay right when the connection is cut mid-flow (re-sent PUBLISHes carry their topic)',
    T,
    async () => {
      let proxy: TcpProxy | undefined
      try {
        proxy = await startProxy(m.port)
        const sub = await v5(m.url)
        const got = collect(sub)
        const t = uid('alias')
        await sub.subscribe(`${t}/#`, { qos: 1 })
        const pub = await v5(proxy.url, {
          reconnect: { minDelay: 20, maxDelay: 50 },
          clean: false,
          sessionExpiryInterval: 60,
        })
        await publishAcrossCuts(pub, proxy, t)
        await until(
          () => new Set(got.map((g) => g.payload.toString())).size === 300,
          8000,
          '300 distinct messages',
        )
        for (const g of got) assert.equal(g.topic, `${t}/${Number(g.payload.toString()) % 6}`)
      } finally {
        await proxy?.close()
      }
    },
  )

  test('a session with an expiry outlives its connection; messages wait for it', T, async () => {
    const id = uid('sess')
    const t = uid('sess-t')
    const a = await v5(m.url, { clientId: id, clean: true, sessionExpiryInterval: 60 })
    await a.subscribe(t, { qos: 1 })
    await a.end()
    const pub = await v5(m.url)
    await pub.publish(t, 'while away', { qos: 1 })
    const b = await v5(m.url, { clientId: id, clean: false, sessionExpiryInterval: 60 })
    assert.equal(b.sessionPresent, true)
    const got = collect(b)
    await until(() => got.length === 1, 3000, 'the queued message')
    assert.equal(got[0]!.payload.toString(), 'while away')
    // a session without expiry does not outlive its connection
    await b.end({ sessionExpiryInterval: 0 })
    const c = await v5(m.url, { clientId: id, clean: false })
    assert.equal(c.sessionPresent, false)
  })

  test('DISCONNECT 0x04 publishes the will; a normal DISCONNECT does not', T, async () => {
    const watcher = await v5(m.url)
    const got = collect(watcher)
    const t = uid('will')
    await watcher.subscribe(`${t}/#`, { qos: 1 })
    const a = await v5(m.url, {
      will: { topic: `${t}/a`, payload: 'a gone', qos: 1, properties: { contentType: 'text/plain' } },
    })
    const b = await v5(m.url, { will: { topic: `${t}/b`, payload: 'b gone', qos: 1 } })
    await a.end({ reasonCode: ReasonCode.DISCONNECT_WITH_WILL_MESSAGE })
    await b.end()
    await until(() => got.length >= 1, 3000, 'the will')
    await new Promise((r) => setTimeout(r, 100))
    assert.deepEqual(
      got.map((g) => [g.topic, g.payload.toString(), g.properties?.contentType]),
      [[`${t}/a`, 'a gone', 'text/plain']],
    )
  })
})

describe('Petrel client (MQTT 5) against a Mosquitto with max_qos 1 and no retained messages', {
  skip: mosquittoSkip(),
}, () => {
  let m: MosquittoBroker
  let c: Client
  before(async () => {
    m = await startMosquitto({ config: ['max_qos 1', 'retain_available false'] })
    c = await connect(m.url, { protocolVersion: 5, reconnect: false })
  })
  after(async () => {
    await c?.end({ force: true })
    await m?.stop()
  })

  test(
    'QoS 2 and RETAIN are refused locally, before Mosquitto would disconnect [MQTT-3.2.2-11] [MQTT-3.2.2-14]',
    T,
    async () => {
      assert.equal(c.connack!.properties.maximumQoS, 1)
      assert.equal(c.connack!.properties.retainAvailable, false)
      await assert.rejects(
        c.publish('q/x', 'x', { qos: 2 }),
        (e: unknown) => e instanceof ServerLimitError && e.limit === 'maximumQoS',
      )
      await assert.rejects(
        c.publish('q/x', 'x', { retain: true }),
        (e: unknown) => e instanceof ServerLimitError && e.limit === 'retainAvailable',
      )
      await c.publish('q/x', 'fine', { qos: 1 })
      assert.equal(c.connected, true)
    },
  )
})
