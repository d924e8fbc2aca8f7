/**
 * The cluster layer, loaded by the broker (a dynamic import) only when `cluster` is configured:
 * nothing of NATS is loaded by a single node.
 */
import type { ClusterBridge, ClusterHost } from '../broker/cluster-bridge.js'
import { Cluster } from './cluster.js'
import type { ClusterOptions } from './options.js'

/** `maxAckPending`: how many messages of one subscription JetStream hands a session at once. */
export function joinCluster(
  o: ClusterOptions,
  host: ClusterHost,
  connections: () => number,
  maxAckPending: number,
): Promise<ClusterBridge> {
  return Cluster.join(o, host, connections, maxAckPending)
}
