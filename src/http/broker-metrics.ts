import { performance } from 'node:perf_hooks'
import { Counter, Gauge, type Metric, type Registry } from 'prom-client'
import type { DeliveryTotals } from '../broker/admin.js'
import type { Broker } from '../broker/broker.js'
import type {
  BrokerStats,
  ByVersionQos,
  CommitHistogram,
  DropCounts,
  RefusedCounts,
} from '../broker/events.js'
import { LIMITS } from '../broker/limits.js'
import { VERSION } from '../version.js'

/**
 * What a scrape reads once and every metric shares: the walk over the sessions
 * (BrokerAdmin.totals, O(sessions)) is done once per scrape, not once per metric.
 */
export interface Scrape {
  totals: DeliveryTotals
}

/** The `protocol` label of each protocol version (index: version - 3). */
const PROTOCOLS = ['3.1', '3.1.1', '5.0'] as const
const QOS = ['0', '1', '2'] as const

/** `reason` labels of petrel_connections_refused_total: the RefusedCounts keys in snake_case. */
const REFUSED: readonly (readonly [keyof RefusedCounts, string])[] = [
  ['listener', 'listener'],
  ['tls', 'tls'],
  ['ipLimit', 'ip_limit'],
  ['protocolVersion', 'protocol_version'],
  ['clientId', 'client_id'],
  ['badCredentials', 'bad_credentials'],
  ['notAuthorized', 'not_authorized'],
  ['other', 'other'],
  ['protocolError', 'protocol_error'],
]

/** `reason` labels of petrel_messages_dropped_total (with `expired` from BrokerStats.expired). */
const DROPS: readonly (readonly [keyof DropCounts, string])[] = [
  ['queueFull', 'queue_full'],
  ['qos0Budget', 'qos0_budget'],
  ['tooLarge', 'too_large'],
  ['notAuthorized', 'not_authorized'],
  ['noSubscribers', 'no_subscribers'],
]

type Emit = (value: number, labels?: Record<string, string>) => void

/** The BrokerStats fields that are one running total each. */
type StatTotal = { [K in keyof BrokerStats]: BrokerStats[K] extends number ? K : never }[keyof BrokerStats]

/**
 * Registers every petrel_* metric on `registry`. Each reads the broker's counters when
 * scraped (prom-client's collect()): the message path only ever increments integers.
 */
export function registerBrokerMetrics(registry: Registry, broker: Broker, scrape: () => Scrape): void {
  const s = broker.stats
  type Read = (emit: Emit) => void
  const named = (name: string, help: string, labelNames: string[]) => ({
    name,
    help,
    labelNames,
    registers: [registry],
  })
  const gauge = (name: string, help: string, read: Read, labelNames: string[] = []): void => {
    new Gauge({
      ...named(name, help, labelNames),
      collect() {
        this.reset()
        read((v, labels) => (labels === undefined ? this.set(v) : this.set(labels, v)))
      },
    })
  }
  const counter = (name: string, help: string, read: Read, labelNames: string[] = []): void => {
    new Counter({
      ...named(name, help, labelNames),
      // the broker keeps the running total; a scrape shows it as it is now
      collect() {
        this.reset()
        read((v, labels) => (labels === undefined ? this.inc(v) : this.inc(labels, v)))
      },
    })
  }
  /** A counter of one BrokerStats running total. */
  const total = (name: string, help: string, key: StatTotal): void => counter(name, help, (e) => e(s[key]))
  const byVersionQos = (counts: ByVersionQos) => (emit: Emit) => {
    for (let v = 0; v < PROTOCOLS.length; v++) {
      for (let q = 0; q < QOS.length; q++) {
        emit(counts[v * 3 + q] ?? 0, { protocol: PROTOCOLS[v]!, qos: QOS[q]! })
      }
    }
  }

  gauge(
    'petrel_build_info',
    'Always 1; the version label tells which Petrel is running.',
    (e) => e(1, { version: VERSION }),
    ['version'],
  )
  // connections
  gauge('petrel_connections', 'MQTT connections open now (CONNECT accepted).', (e) =>
    e(broker.connectedCount),
  )
  gauge('petrel_connections_maximum', 'Most MQTT connections open at once since start.', (e) =>
    e(s.maxConnected),
  )
  total('petrel_connections_accepted_total', 'CONNECTs accepted since start.', 'connectionsAccepted')
  counter(
    'petrel_connections_refused_total',
    'Connections refused, by reason: a listener or TLS refusal, a per-address limit, or the CONNACK reason.',
    (e) => {
      for (const [key, reason] of REFUSED) e(s.refused[key], { reason })
    },
    ['reason'],
  )
  total(
    'petrel_sockets_accepted_total',
    'TCP connections accepted by any listener since start.',
    'socketsOpened',
  )
  total(
    'petrel_tls_handshake_failures_total',
    'TLS handshakes that failed or did not finish in time.',
    'tlsHandshakeFailures',
  )
  total(
    'petrel_takeovers_total',
    'Sessions taken over by a new connection with the same client id.',
    'takeovers',
  )
  total(
    'petrel_slow_consumer_disconnects_total',
    'Subscribers disconnected for taking no messages for slowConsumerTimeout.',
    'slowConsumerDisconnects',
  )
  // sessions and subscriptions
  gauge('petrel_sessions', 'Sessions held now, connected or not.', (e) => e(broker.sessionCount))
  gauge('petrel_sessions_persistent', 'Sessions held now that outlive their connection.', (e) =>
    e(scrape().totals.persistentSessions),
  )
  total(
    'petrel_sessions_expired_total',
    'Sessions ended because their expiry interval passed.',
    'sessionsExpired',
  )
  gauge('petrel_subscriptions', 'Subscriptions held now, shared ones included.', (e) =>
    e(broker.subscriptionCount),
  )
  gauge('petrel_shared_subscriptions', 'Shared subscriptions ($share/...) held now.', (e) =>
    e(scrape().totals.sharedSubscriptions),
  )
  gauge('petrel_retained_messages', 'Retained messages held now.', (e) => e(broker.retainedCount))
  // messages
  const pq = ['protocol', 'qos']
  counter(
    'petrel_messages_received_total',
    'PUBLISH packets received, by protocol version and QoS.',
    byVersionQos(s.publishIn),
    pq,
  )
  counter(
    'petrel_received_bytes_total',
    'Bytes of the PUBLISH packets received, by protocol version and QoS.',
    byVersionQos(s.publishInBytes),
    pq,
  )
  counter(
    'petrel_messages_sent_total',
    "PUBLISH packets sent, by the receiver's protocol version and the QoS sent at.",
    byVersionQos(s.publishOut),
    pq,
  )
  counter(
    'petrel_sent_bytes_total',
    "Bytes of the PUBLISH packets sent, by the receiver's protocol version and the QoS sent at.",
    byVersionQos(s.publishOutBytes),
    pq,
  )
  counter(
    'petrel_messages_dropped_total',
    'Messages not delivered, by reason.',
    (e) => {
      for (const [key, reason] of DROPS) e(s.drops[key], { reason })
      e(s.expired, { reason: 'expired' })
    },
    ['reason'],
  )
  gauge('petrel_messages_inflight', 'QoS 1/2 messages sent and not yet acknowledged.', (e) =>
    e(scrape().totals.inflight),
  )
  gauge('petrel_messages_queued', 'Messages waiting to be sent to their subscribers.', (e) =>
    e(scrape().totals.queued),
  )
  total('petrel_packets_received_total', 'MQTT packets of any kind received.', 'messagesReceived')
  total('petrel_packets_sent_total', 'MQTT packets of any kind sent.', 'messagesSent')
  total('petrel_network_received_bytes_total', 'Bytes of every MQTT packet received.', 'bytesReceived')
  total('petrel_network_sent_bytes_total', 'Bytes of every MQTT packet sent.', 'bytesSent')
  // security
  counter(
    'petrel_authentication_failures_total',
    'CONNECTs refused for their credentials: bad user name, password or authentication data, or not allowed in.',
    (e) => e(s.refused.badCredentials + s.refused.notAuthorized),
  )
  counter(
    'petrel_authorization_failures_total',
    'Authorisation refusals, by action: publish (and wills), subscribe, read (deliveries filtered).',
    (e) => {
      e(s.denied.publish, { action: 'publish' })
      e(s.denied.subscribe, { action: 'subscribe' })
      e(s.denied.read, { action: 'read' })
    },
    ['action'],
  )
  counter(
    'petrel_limit_events_total',
    'Times a limit against abuse refused or slowed someone, by limit.',
    (e) => {
      for (const l of LIMITS) e(s.limits[l.name], { limit: l.name.replaceAll('-', '_') })
    },
    ['limit'],
  )
  // store
  registry.registerMetric(commitHistogramMetric(s.commits))
  registry.registerMetric(
    custom(
      'petrel_store_size_bytes',
      'Bytes the store takes on disk (no sample when the store cannot tell: memory).',
      'gauge',
      () => {
        const size = broker.storeSizeBytes()
        return size === null ? [] : [{ metricName: 'petrel_store_size_bytes', labels: {}, value: size }]
      },
    ),
  )
  total('petrel_store_errors_total', 'Store commits or writes that failed.', 'storeErrors')
  // event loop
  let lastElu = performance.eventLoopUtilization()
  let utilization = 0
  gauge(
    'petrel_event_loop_utilization_ratio',
    'Share of time the event loop was busy since the previous scrape (0 to 1).',
    (e) => {
      const now = performance.eventLoopUtilization()
      const u = performance.eventLoopUtilization(now, lastElu).utilization
      lastElu = now
      if (Number.isFinite(u)) utilization = u // two scrapes in the same instant: keep the last
      e(utilization)
    },
  )
  counter(
    'petrel_event_loop_active_seconds_total',
    'Seconds the event loop was busy since the process started (rate() of it: the utilisation).',
    (e) => e(performance.eventLoopUtilization().active / 1000),
  )
}

/**
 * The Flusher's commit histogram as a Prometheus histogram. prom-client's Histogram only
 * observes; this one reads bucket counts the broker keeps, made cumulative here.
 */
function commitHistogramMetric(h: CommitHistogram): Metric {
  const name = 'petrel_store_commit_duration_seconds'
  return custom(name, 'Store commit latency (stores that commit: SQLite), seconds.', 'histogram', () => {
    const values: Sample[] = []
    let cumulative = 0
    for (let i = 0; i < h.bounds.length; i++) {
      cumulative += h.counts[i] ?? 0
      values.push({ metricName: `${name}_bucket`, labels: { le: h.bounds[i]! }, value: cumulative })
    }
    cumulative += h.counts[h.bounds.length] ?? 0
    values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: cumulative })
    values.push({ metricName: `${name}_sum`, labels: {}, value: h.sum })
    values.push({ metricName: `${name}_count`, labels: {}, value: cumulative })
    return values
  })
}

/** One sample of a metric made at scrape time (see custom()). */
export interface Sample {
  metricName: string
  labels: Record<string, string | number>
  value: number
}

/**
 * A metric whose samples are made at scrape time, for what prom-client's classes cannot show:
 * a histogram whose buckets the broker counts, a gauge or counter with no sample when there is no
 * value.
 * prom-client's Registry takes any object with a name, a type and get(); its types list only
 * its own classes, hence the cast.
 */
export function custom(
  name: string,
  help: string,
  type: 'gauge' | 'counter' | 'histogram',
  read: () => Sample[],
): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: () => Promise.resolve({ name, help, type, aggregator: 'sum', values: read() }),
  }
  return metric as unknown as Metric
}
