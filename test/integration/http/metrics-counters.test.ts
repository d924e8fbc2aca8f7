/**
 * /metrics counters against traffic with known counts: PUBLISH packets and bytes by protocol
 * version and QoS, in and out; drops and refusals by reason; authorisation failures;
 * takeovers; the store's commit histogram and size. Parsed with the Prometheus parser.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { type Client, connect } from '../../../src/client/client.js'
import type { ClientOptions } from '../../../src/client/options.js'
import { startHttp } from '../../../src/http/server.js'
import type { QoS } from '../../../src/protocol/index.js'
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js'
import { LOOPBACK } from '../../helpers/net.js'
import { family, prometheusParserSkip, sample, scrapeParsed } from '../../helpers/prometheus.js'
import { metricsRig, quiet } from './metrics-rig.js'

const skip = prometheusParserSkip()

/** Resolves once `client` has received `n` messages (bounded by the test's timeout). */
function received(client: Client, n: number): Promise<void> {
  let seen = 0
  return new Promise((resolve) => {
    const on = (): void => {
      if (++seen === n) {
        client.off('message', on)
        resolve()
      }
    }
    client.on('message', on)
  })
}

/**
 * Size of a PUBLISH packet with a short topic and payload (remaining length under 128: one
 * byte): fixed header 2, topic length 2 + topic, packet id 2 at QoS 1/2, and in MQTT 5 one
 * byte of (empty) properties.
 */
function publishSize(topic: string, payload: string, qos: QoS, v5: boolean): number {
  return 2 + 2 + topic.length + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length
}

describe('/metrics counters by protocol version and QoS', { skip, timeout: 30_000 }, () => {
  const rig = metricsRig()

  test('counts PUBLISH packets and bytes in and out by protocol version and QoS', async () => {
    const open = (protocolVersion: 4 | 5): Promise<Client> =>
      rig.open({ protocolVersion, topicAliases: false })
    const sub4 = await open(4)
    const sub5 = await open(5)
    await sub4.subscribe('m/#', { qos: 2 })
    await sub5.subscribe('m/#', { qos: 2 })
    const pub4 = await open(4)
    const pub5 = await open(5)
    // 3.1.1: 3 at QoS 0, 2 at QoS 1, 1 at QoS 2; MQTT 5: 1, 2 and 3
    const plan: [Client, QoS, number][] = [
      [pub4, 0, 3],
      [pub4, 1, 2],
      [pub4, 2, 1],
      [pub5, 0, 1],
      [pub5, 1, 2],
      [pub5, 2, 3],
    ]
    const all = Promise.all([received(sub4, 12), received(sub5, 12)])
    for (const [c, qos, n] of plan) for (let i = 0; i < n; i++) await c.publish('m/a', 'hello', { qos })
    await all
    const f = await scrapeParsed(rig.http)
    const at = (name: string, protocol: string, qos: number): number =>
      sample(f, name, { protocol, qos: String(qos) })
    const counts: Record<string, number[]> = { '3.1.1': [3, 2, 1], '5.0': [1, 2, 3] }
    for (const [protocol, perQos] of Object.entries(counts)) {
      const v5 = protocol === '5.0'
      for (const qos of [0, 1, 2] as const) {
        const n = perQos[qos]!
        assert.equal(at('petrel_messages_received_total', protocol, qos), n, `in ${protocol} QoS ${qos}`)
        assert.equal(
          at('petrel_received_bytes_total', protocol, qos),
          n * publishSize('m/a', 'hello', qos, v5),
          `bytes in ${protocol} QoS ${qos}`,
        )
        // each subscriber (one per version) gets all 12, each at the QoS it was published with (4 per QoS)
        assert.equal(at('petrel_messages_sent_total', protocol, qos), 4, `out ${protocol} QoS ${qos}`)
        assert.equal(
          at('petrel_sent_bytes_total', protocol, qos),
          4 * publishSize('m/a', 'hello', qos, v5),
          `bytes out ${protocol} QoS ${qos}`,
        )
        assert.equal(at('petrel_messages_received_total', '3.1', qos), 0)
      }
    }
    assert.equal(sample(f, 'petrel_connections_accepted_total'), 4)
    assert.ok(sample(f, 'petrel_sockets_accepted_total') >= 4)
  })
})

/** Sends a CONNECT with protocol level 7 on a raw socket; resolves when the broker closes it. */
function connectWithBadVersion(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, LOOPBACK)
    s.on('error', reject)
    s.on('close', () => resolve())
    s.resume() // read (and drop) the CONNACK: 'close' comes after the readable side ends
    // CONNECT, remaining length 13: "MQTT", level 7, clean session, keep-alive 60, client id "a"
    s.end(Buffer.from('100d00044d5154540702003c000161', 'hex'))
  })
}

describe('/metrics counters of refusals, drops and failures', { skip, timeout: 30_000 }, () => {
  const rig = metricsRig({
    maxQueuedMessages: 1,
    authenticate: (_c, username) => username !== 'intruder',
    authorizePublish: (_c, topic) => !topic.startsWith('forbidden/'),
    authorizeSubscribe: (_c, filter) => !filter.startsWith('secret/'),
  })
  const open = (options: ClientOptions = {}): Promise<Client> => rig.open(options)

  test('refused connections by reason, and authentication failures', async () => {
    await assert.rejects(connect(rig.url, { reconnect: false, username: 'intruder', password: 'x' }))
    await assert.rejects(
      connect(rig.url, { reconnect: false, username: 'intruder', password: 'x', protocolVersion: 5 }),
    )
    await connectWithBadVersion(rig.port)
    const f = await scrapeParsed(rig.http)
    assert.equal(sample(f, 'petrel_connections_refused_total', { reason: 'bad_credentials' }), 2)
    assert.equal(sample(f, 'petrel_connections_refused_total', { reason: 'protocol_version' }), 1)
    assert.equal(sample(f, 'petrel_authentication_failures_total'), 2)
  })

  test('dropped messages by reason: no subscribers, not authorised, too large, queue full', async () => {
    const pub = await open({ protocolVersion: 5 })
    // nobody subscribes to nobody/...
    await pub.publish('nobody/1', 'x', { qos: 1 })
    await pub.publish('nobody/2', 'x', { qos: 0 })
    // refused by authorizePublish
    await pub.publish('forbidden/1', 'x', { qos: 1 }).catch(() => {})
    // larger than the subscriber's Maximum Packet Size [MQTT-3.1.2-25]
    const small = await open({ protocolVersion: 5, maximumPacketSize: 64 })
    await small.subscribe('big/#', { qos: 1 })
    await pub.publish('big/1', 'x'.repeat(200), { qos: 1 })
    // an absent persistent session with room for one queued message
    const away = await connect(rig.url, { reconnect: false, clientId: 'away-drops', clean: false })
    await away.subscribe('queue/#', { qos: 1 })
    await away.end()
    for (let i = 0; i < 3; i++) await pub.publish('queue/1', `q${i}`, { qos: 1 })
    const f = await scrapeParsed(rig.http)
    const dropped = (reason: string): number => sample(f, 'petrel_messages_dropped_total', { reason })
    assert.equal(dropped('no_subscribers'), 2)
    assert.equal(dropped('not_authorized'), 1)
    assert.equal(dropped('too_large'), 1)
    assert.equal(dropped('queue_full'), 2)
    assert.equal(sample(f, 'petrel_authorization_failures_total', { action: 'publish' }), 1)
  })

  test('authorisation failures of SUBSCRIBE, and takeovers', async () => {
    const c = await open()
    await c.subscribe('secret/#').catch(() => {})
    await open({ clientId: 'twice' })
    await open({ clientId: 'twice' })
    const f = await scrapeParsed(rig.http)
    assert.equal(sample(f, 'petrel_authorization_failures_total', { action: 'subscribe' }), 1)
    assert.equal(sample(f, 'petrel_takeovers_total'), 1)
  })
})

describe('/metrics of the SQLite store', { skip, timeout: 30_000 }, () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-metrics-'))
  })
  after(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  test('times commits into the histogram and shows the store size', async () => {
    const store = await SqliteStore.open({ dataDir: dir })
    const broker = new Broker({ logger: quiet, store })
    const l = await broker.listen({ port: 0, host: LOOPBACK })
    const http = await startHttp(broker, { port: 0 })
    const c = await connect(`mqtt://${LOOPBACK}:${l.port}`, {
      reconnect: false,
      clientId: 'durable',
      clean: false,
    })
    try {
      await c.subscribe('d/#', { qos: 1 })
      for (let i = 0; i < 5; i++) await c.publish('d/1', `m${i}`, { qos: 1, retain: true })
      const f = await scrapeParsed(http)
      const h = family(f, 'petrel_store_commit_duration_seconds')
      const count = sample(f, 'petrel_store_commit_duration_seconds_count')
      assert.ok(count > 0, 'commits were timed')
      assert.equal(sample(f, 'petrel_store_commit_duration_seconds_bucket', { le: '+Inf' }), count)
      assert.ok(sample(f, 'petrel_store_commit_duration_seconds_sum') > 0)
      assert.ok(h.samples.length > 3)
      assert.ok(sample(f, 'petrel_store_size_bytes') > 0)
      assert.equal(sample(f, 'petrel_store_errors_total'), 0)
    } finally {
      await c.end()
      await http.close()
      await broker.close()
    }
  })
})
