/**
 * A cluster as operators see it: two Petrel nodes over one nats-server (JetStream, replicas 1),
 * the first with the HTTP endpoint and $SYS every second. /metrics, $SYS, GET /api/v1/cluster
 * and the dashboard's overview and history show the nodes, their connections, the messages
 * between them and the JetStream stream. Every JSON answer is checked against docs/openapi.yaml.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ClusterStatus } from '../../../src/broker/cluster-bridge.js'
import { type Client, connect } from '../../../src/client/client.js'
import type { History, Overview } from '../../../src/http/sampler.js'
import { type HttpEndpoint, startHttp } from '../../../src/http/server.js'
import { Broker } from '../../../src/index.js'
import { type NatsCluster, natsSkip, startNats } from '../../helpers/nats.js'
import { LOOPBACK } from '../../helpers/net.js'
import { fetchChecked } from '../../helpers/openapi.js'
import { scrape } from '../../helpers/prometheus.js'

const skip = natsSkip()
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
/** Messages published on n0 for the subscriber on n1. */
const SENT = 20

/** Polls `check` until it is true; fails saying what was awaited. */
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`)
    await sleep(100)
  }
}

describe('cluster state for operators', { skip, timeout: 60_000 }, () => {
  let nats: NatsCluster
  const nodes: Broker[] = []
  const clients: Client[] = []
  let http: HttpEndpoint
  const urls: string[] = []
  /** $SYS/broker/cluster/... as n0 published them last. */
  const sys = new Map<string, string>()

  before(async () => {
    nats = await startNats({ servers: 1 })
    for (const node of ['n0', 'n1']) {
      const b = new Broker({
        logger: quiet,
        sysInterval: node === 'n0' ? 1 : 0,
        cluster: { servers: nats.urls, node, replicas: 1 },
      })
      const l = await b.listen({ port: 0, host: LOOPBACK })
      nodes.push(b)
      urls.push(`mqtt://${LOOPBACK}:${l.port}`)
    }
    http = await startHttp(nodes[0]!, { port: 0 })
    const watcher = await open(0, 'watcher')
    watcher.on('message', (topic, payload) => sys.set(topic, payload.toString()))
    await watcher.subscribe('$SYS/broker/cluster/#')
    const sub = await open(1, 'sub')
    let got = 0
    sub.on('message', () => got++)
    await sub.subscribe('ops/#', { qos: 1 })
    // n0 learns n1's interest through NATS, and of n1 and its connection from its heartbeat (every 2 s)
    await until(
      'n0 hears of n1 and its connection',
      () => nodes[0]!.clusterStatus?.nodes[0]?.connections === 1,
    )
    const pub = await open(0, 'pub')
    for (let i = 0; i < SENT; i++) {
      await pub.publish(`ops/${i}`, `m${i}`, { qos: i % 2 === 0 ? 0 : 1 })
      if (got === 0) await sleep(20) // the first messages may race the interest
    }
    await until(`the subscriber on n1 got ${SENT} messages`, () => got >= SENT)
  })

  after(async () => {
    await Promise.allSettled(clients.map((c) => c.end()))
    await http?.close()
    await Promise.allSettled(nodes.map((b) => b.close()))
    await nats?.stop()
  })

  async function open(node: number, clientId: string): Promise<Client> {
    const c = await connect(urls[node]!, { clientId, reconnect: false })
    clients.push(c)
    return c
  }

  test('GET /api/v1/cluster: this node, its NATS server, the other node with its connections, the messages forwarded', async () => {
    await until('the stream read', () => nodes[0]!.clusterStatus?.stream != null)
    const r = await fetchChecked<ClusterStatus>(http.url, 'GET', '/api/v1/cluster')
    assert.equal(r.status, 200)
    const c = r.body
    assert.equal(c.node, 'n0')
    assert.equal(c.connected, true)
    assert.ok(c.server?.endsWith(`:${nats.servers[0]!.port}`), `server ${c.server}`)
    assert.deepEqual(
      c.nodes.map((n) => [n.node, n.connections]),
      [['n1', 1]],
    )
    assert.ok(c.forwarded >= SENT, `forwarded ${c.forwarded}`)
    assert.ok(c.stream !== null && c.stream.consumers >= 0)
  })

  test("/metrics: nodes, connection, cross-node counters, pending acks, sessions, the stream and each node's connections", async () => {
    await until('the stream read', () => nodes[0]!.clusterStatus?.stream != null)
    const text = await scrape(http)
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `))
      assert.ok(line !== undefined, `/metrics has ${series}`)
      return Number(line.slice(series.length + 1))
    }
    assert.equal(value('petrel_cluster_nodes'), 2)
    assert.equal(value('petrel_cluster_connected'), 1)
    assert.ok(value('petrel_cluster_messages_forwarded_total') >= SENT)
    assert.equal(value('petrel_cluster_messages_received_total'), nodes[0]!.clusterStatus!.received)
    assert.ok(value('petrel_cluster_pending_acks') >= 0)
    assert.ok(value('petrel_cluster_sessions') >= 0)
    assert.ok(value('petrel_cluster_stream_messages') >= 0)
    assert.equal(value('petrel_cluster_node_connections{node="n0"}'), 2) // watcher and pub
    assert.equal(value('petrel_cluster_node_connections{node="n1"}'), 1)
    assert.match(text, /# TYPE petrel_cluster_messages_forwarded_total counter/)
    // n1 counts what it received from n0
    assert.ok(nodes[1]!.clusterStatus!.received >= SENT)
  })

  test('$SYS/broker/cluster/...: node, nodes, messages forwarded and received, stream messages', async () => {
    await until(
      '$SYS with the stream and the messages',
      () =>
        sys.has('$SYS/broker/cluster/stream/messages') &&
        Number(sys.get('$SYS/broker/cluster/messages/forwarded')) >= SENT,
    )
    assert.equal(sys.get('$SYS/broker/cluster/node'), 'n0')
    assert.equal(sys.get('$SYS/broker/cluster/nodes'), '2')
    assert.match(sys.get('$SYS/broker/cluster/messages/received')!, /^\d+$/)
    assert.match(sys.get('$SYS/broker/cluster/stream/messages')!, /^\d+$/)
  })

  test("the dashboard's overview and history carry the cluster, with cross-node rates from successive readings", async () => {
    const o = await fetchChecked<Overview>(http.url, 'GET', '/api/v1/overview')
    const c = o.body.cluster
    assert.ok(c !== null)
    assert.equal(c.node, 'n0')
    assert.ok(c.rates.forwarded >= 0 && c.rates.received >= 0)
    // the messages went out in the last second or two: the next sample, at most a second away, has them
    let h = await fetchChecked<History>(http.url, 'GET', '/api/v1/history')
    await until('a forwarded rate above 0 in the history', async () => {
      h = await fetchChecked<History>(http.url, 'GET', '/api/v1/history')
      return h.body.series.clusterForwarded.some((v) => v !== null && v > 0)
    })
    assert.equal(h.body.series.clusterForwarded.length, h.body.time.length)
    assert.ok(h.body.series.clusterReceived.every((v) => v !== null && v >= 0))
  })
})
