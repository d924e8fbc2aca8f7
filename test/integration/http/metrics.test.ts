/**
 * GET /metrics read by the Prometheus project's own parser and linter: the format, the names
 * and types docs/metrics.md promises, prom-client's process metrics, and the current figures
 * (gauges) against a broker in a known state. The counters' values: metrics-counters.test.ts.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { connect } from '../../../src/client/client.js'
import { startHttp } from '../../../src/http/server.js'
import { VERSION } from '../../../src/version.js'
import {
  family,
  lintMetrics,
  parseMetrics,
  prometheusParserSkip,
  promtoolSkip,
  sample,
  scrape,
} from '../../helpers/prometheus.js'
import { metricsRig, quiet } from './metrics-rig.js'

/** Every petrel_* family docs/metrics.md lists, with its type (a counter by its name without _total). */
const PETREL_FAMILIES: Record<string, string> = {
  petrel_build_info: 'gauge',
  petrel_connections: 'gauge',
  petrel_connections_maximum: 'gauge',
  petrel_connections_accepted: 'counter',
  petrel_connections_refused: 'counter',
  petrel_sockets_accepted: 'counter',
  petrel_tls_handshake_failures: 'counter',
  petrel_takeovers: 'counter',
  petrel_slow_consumer_disconnects: 'counter',
  petrel_sessions: 'gauge',
  petrel_sessions_persistent: 'gauge',
  petrel_sessions_expired: 'counter',
  petrel_subscriptions: 'gauge',
  petrel_shared_subscriptions: 'gauge',
  petrel_retained_messages: 'gauge',
  petrel_messages_received: 'counter',
  petrel_received_bytes: 'counter',
  petrel_messages_sent: 'counter',
  petrel_sent_bytes: 'counter',
  petrel_messages_dropped: 'counter',
  petrel_messages_inflight: 'gauge',
  petrel_messages_queued: 'gauge',
  petrel_packets_received: 'counter',
  petrel_packets_sent: 'counter',
  petrel_network_received_bytes: 'counter',
  petrel_network_sent_bytes: 'counter',
  petrel_authentication_failures: 'counter',
  petrel_authorization_failures: 'counter',
  petrel_limit_events: 'counter',
  petrel_store_commit_duration_seconds: 'histogram',
  petrel_store_size_bytes: 'gauge',
  petrel_store_errors: 'counter',
  petrel_event_loop_utilization_ratio: 'gauge',
  petrel_event_loop_active_seconds: 'counter',
  petrel_cluster_nodes: 'gauge',
  petrel_cluster_connected: 'gauge',
  petrel_cluster_messages_forwarded: 'counter',
  petrel_cluster_messages_received: 'counter',
  petrel_cluster_pending_acks: 'gauge',
  petrel_cluster_sessions: 'gauge',
  petrel_cluster_stream_messages: 'gauge',
  petrel_cluster_node_connections: 'gauge',
}

describe('/metrics format', { skip: prometheusParserSkip(), timeout: 30_000 }, () => {
  const rig = metricsRig()

  test('parses as Prometheus text, every petrel_* family with HELP and the documented type, and nothing undocumented', async () => {
    const families = await parseMetrics(await scrape(rig.http))
    const petrel = families.filter((f) => f.name.startsWith('petrel_'))
    assert.deepEqual(
      Object.fromEntries(petrel.map((f) => [f.name, f.type])),
      PETREL_FAMILIES,
      'the families and types docs/metrics.md lists',
    )
    for (const f of petrel) assert.ok(f.help.length > 10, `${f.name} has a HELP line`)
  })

  test('labels messages by protocol ("3.1", "3.1.1", "5.0") and QoS, drops and refusals by reason', async () => {
    const families = await parseMetrics(await scrape(rig.http))
    const labelSets = (name: string): string[] =>
      family(families, name)
        .samples.filter((s) => s.name === name)
        .map((s) => JSON.stringify(s.labels))
        .sort()
    const pq: string[] = []
    for (const protocol of ['3.1', '3.1.1', '5.0'])
      for (const qos of ['0', '1', '2']) pq.push(JSON.stringify({ protocol, qos }))
    for (const name of [
      'petrel_messages_received_total',
      'petrel_messages_sent_total',
      'petrel_received_bytes_total',
      'petrel_sent_bytes_total',
    ]) {
      assert.deepEqual(labelSets(name), [...pq].sort(), name)
    }
    const reasons = (name: string): string[] =>
      family(families, name)
        .samples.filter((s) => s.name === name)
        .map((s) => s.labels.reason ?? '')
        .sort()
    assert.deepEqual(reasons('petrel_messages_dropped_total'), [
      'expired',
      'no_subscribers',
      'not_authorized',
      'qos0_budget',
      'queue_full',
      'too_large',
    ])
    assert.deepEqual(reasons('petrel_connections_refused_total'), [
      'bad_credentials',
      'client_id',
      'ip_limit',
      'listener',
      'not_authorized',
      'other',
      'protocol_error',
      'protocol_version',
      'tls',
    ])
    for (const action of ['publish', 'subscribe', 'read']) {
      assert.equal(sample(families, 'petrel_authorization_failures_total', { action }), 0)
    }
    assert.equal(sample(families, 'petrel_limit_events_total', { limit: 'connections_per_ip' }), 0)
  })

  test('the commit histogram has cumulative buckets up to +Inf; the memory store gives no size sample', async () => {
    const families = await parseMetrics(await scrape(rig.http))
    const h = family(families, 'petrel_store_commit_duration_seconds')
    const buckets = h.samples.filter((s) => s.name.endsWith('_bucket'))
    assert.equal(buckets.at(-1)?.labels.le, '+Inf')
    assert.ok(buckets.length >= 10)
    assert.equal(family(families, 'petrel_store_size_bytes').samples.length, 0)
  })

  test('a single node gives the petrel_cluster_* families no sample: absent, not 0', async () => {
    const families = await parseMetrics(await scrape(rig.http))
    const cluster = families.filter((f) => f.name.startsWith('petrel_cluster_'))
    assert.equal(cluster.length, 8)
    for (const f of cluster) assert.deepEqual(f.samples, [], f.name)
  })

  test("carries prom-client's process and Node.js metrics: CPU, memory, heap, event-loop lag; and the event-loop utilisation", async () => {
    const families = await parseMetrics(await scrape(rig.http))
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      assert.ok(sample(families, name) >= 0, name)
    }
    assert.ok(sample(families, 'nodejs_heap_size_used_bytes') > 0)
    const elu = sample(families, 'petrel_event_loop_utilization_ratio')
    assert.ok(elu >= 0 && elu <= 1, `utilisation ${elu}`)
    assert.ok(sample(families, 'petrel_event_loop_active_seconds_total') > 0)
    assert.equal(sample(families, 'petrel_build_info', { version: VERSION }), 1)
  })

  test('passes promtool check metrics', { skip: promtoolSkip() }, async () => {
    assert.deepEqual(await lintMetrics(await scrape(rig.http)), [])
  })

  test("leaves out prom-client's per-handle counts (O(connections) per scrape)", async () => {
    const names = (await parseMetrics(await scrape(rig.http))).map((f) => f.name)
    assert.ok(names.includes('process_open_fds'))
    for (const n of names) assert.doesNotMatch(n, /^nodejs_active_/)
  })

  test('answers other methods than GET and HEAD 405', async () => {
    const r = await fetch(`${rig.http.url}/metrics`, { method: 'DELETE' })
    assert.equal(r.status, 405)
    assert.equal(r.headers.get('allow'), 'GET, HEAD')
  })
})

describe('/metrics current figures', { skip: prometheusParserSkip(), timeout: 30_000 }, () => {
  const rig = metricsRig({ maxQueuedMessages: 100 })

  test('connections, sessions (persistent ones too), subscriptions (shared ones too), retained and queued messages', async () => {
    // a persistent session left offline with 3 QoS 1 messages queued for it
    const away = await connect(rig.url, { reconnect: false, clientId: 'away', clean: false })
    await away.subscribe('figures/#', { qos: 1 })
    await away.end()
    const a = await rig.open({ clientId: 'a', protocolVersion: 5 })
    await a.subscribe(['figures/x', '$share/g/figures/#', 'other/+'], { qos: 1 })
    const b = await rig.open({ clientId: 'b' })
    for (let i = 0; i < 3; i++) await b.publish('figures/q', `m${i}`, { qos: 1 })
    await b.publish('kept/1', 'r1', { retain: true })
    await b.publish('kept/2', 'r2', { retain: true })
    const families = await parseMetrics(await scrape(rig.http))
    assert.equal(sample(families, 'petrel_connections'), 2)
    assert.equal(sample(families, 'petrel_connections_maximum'), 2)
    assert.equal(sample(families, 'petrel_sessions'), 3)
    assert.equal(sample(families, 'petrel_sessions_persistent'), 1)
    assert.equal(sample(families, 'petrel_subscriptions'), 4)
    assert.equal(sample(families, 'petrel_shared_subscriptions'), 1)
    assert.equal(sample(families, 'petrel_retained_messages'), 2)
    assert.equal(sample(families, 'petrel_messages_queued'), 3, 'the QoS 1 messages for the absent session')
    assert.ok(sample(families, 'petrel_packets_received_total') >= 12)
    assert.ok(sample(families, 'petrel_network_received_bytes_total') > 0)
  })

  test('two brokers in one process: each endpoint shows its own broker', async () => {
    const other = new Broker({ logger: quiet })
    const otherHttp = await startHttp(other, { port: 0 })
    try {
      const mine = await parseMetrics(await scrape(rig.http))
      const theirs = await parseMetrics(await scrape(otherHttp))
      assert.ok(sample(mine, 'petrel_sessions') > 0)
      assert.equal(sample(theirs, 'petrel_sessions'), 0)
      assert.equal(sample(theirs, 'petrel_connections'), 0)
    } finally {
      await otherHttp.close()
      await other.close()
    }
  })
})
