import { hostname } from 'node:os'

/**
 * How a broker joins a cluster of Petrel nodes over NATS with JetStream (`new Broker({ cluster })`,
 * `petrel broker --cluster nats://host:4222`, or `cluster:` in the config file). Without it the
 * broker is a single node and nothing of NATS is loaded.
 */
export interface ClusterOptions {
  /** NATS server URLs, e.g. ['nats://127.0.0.1:4222']; several for a NATS cluster. */
  servers: string[]
  /**
   * This node's name in the cluster: unique among the nodes, stable across its restarts
   * (default: the host name and the process id).
   */
  node?: string | undefined
  /** User name and password for the NATS connection, or a token (not both). */
  user?: string | undefined
  password?: string | undefined
  token?: string | undefined
  /** TLS for the NATS connection: PEM contents (not paths) of the CA, client certificate and key. */
  tls?: { ca?: string | undefined; cert?: string | undefined; key?: string | undefined } | undefined
  /**
   * Replicas of the cluster's JetStream streams and buckets (1 to 5; default 1). Use 3 with a
   * NATS cluster of 3 or more servers: any one server may then fail and nothing acknowledged is lost.
   */
  replicas?: number | undefined
  /** How long to wait for NATS at start before failing, in ms (default 5000). */
  connectTimeout?: number | undefined
}

/** A node's name when none is given: the host and the process. */
export function defaultNodeName(): string {
  return `${hostname()}-${process.pid}`
}
