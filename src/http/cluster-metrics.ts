import type { Registry } from 'prom-client'
import type { ClusterStatus } from '../broker/cluster-bridge.js'
import { custom, type Sample } from './broker-metrics.js'

/** What the cluster metrics read at a scrape: the node's cluster status (null: not a node) and its own connections. */
export interface ClusterScrape {
  status: ClusterStatus | null
  connections: number
}

/**
 * Registers the petrel_cluster_* metrics on `registry`, read from the cluster status at scrape.
 *
 * They are always registered but have no sample while the broker is not a cluster node (a
 * single node, or a node still joining), as petrel_store_size_bytes has none for the memory
 * store: a series that is absent says "does not apply", where a 0 would lie. A
 * petrel_cluster_connected of 0 on every single-node broker would fire the alert
 * `petrel_cluster_connected == 0`, and a petrel_cluster_nodes of 0 would read as a cluster
 * that lost every node; `absent()` and `unless` work on series that do not exist.
 */
export function registerClusterMetrics(registry: Registry, scrape: () => ClusterScrape): void {
  const metric = (
    name: string,
    help: string,
    type: 'gauge' | 'counter',
    read: (c: ClusterStatus, connections: number) => number | null,
  ): void => {
    registry.registerMetric(
      custom(name, help, type, (): Sample[] => {
        const { status, connections } = scrape()
        const value = status === null ? null : read(status, connections)
        return value === null ? [] : [{ metricName: name, labels: {}, value }]
      }),
    )
  }
  metric(
    'petrel_cluster_nodes',
    'Cluster nodes heard from in their last heartbeats, this one included.',
    'gauge',
    (c) => c.nodes.length + 1,
  )
  metric('petrel_cluster_connected', '1 while the NATS connection is up, else 0.', 'gauge', (c) =>
    c.connected ? 1 : 0,
  )
  metric(
    'petrel_cluster_messages_forwarded_total',
    'Messages this node sent to other nodes since start.',
    'counter',
    (c) => c.forwarded,
  )
  metric(
    'petrel_cluster_messages_received_total',
    'Messages this node received from other nodes since start.',
    'counter',
    (c) => c.received,
  )
  metric(
    'petrel_cluster_pending_acks',
    'QoS 1/2 messages sent to JetStream and not yet acknowledged by it.',
    'gauge',
    (c) => c.pendingAcks,
  )
  metric(
    'petrel_cluster_sessions',
    'Persistent sessions this node holds for the cluster.',
    'gauge',
    (c) => c.sessions,
  )
  metric(
    'petrel_cluster_stream_messages',
    "Messages in the cluster's JetStream stream not yet acknowledged by every consumer (the lag), as last read; no sample before the first reading.",
    'gauge',
    (c) => c.stream?.messages ?? null,
  )
  const perNode = 'petrel_cluster_node_connections'
  registry.registerMetric(
    custom(
      perNode,
      'MQTT connections open on each node, as its last heartbeat said (this node: now).',
      'gauge',
      (): Sample[] => {
        const { status, connections } = scrape()
        if (status === null) return []
        return [
          { metricName: perNode, labels: { node: status.node }, value: connections },
          ...status.nodes.map((n) => ({
            metricName: perNode,
            labels: { node: n.node },
            value: n.connections,
          })),
        ]
      },
    ),
  )
}
