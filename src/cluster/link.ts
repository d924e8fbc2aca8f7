import { type JetStreamManager, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node'
import type { ClusterOptions } from './options.js'

/** The stream that holds QoS 1/2 messages between nodes (subjects `petrel.d.>`). */
export const MESSAGES_STREAM = 'PETREL_MSGS'
/** The key-value bucket of the cluster's retained messages (key: the topic's subject). */
export const RETAINED_BUCKET = 'petrel_retained'

export { defaultNodeName } from '../broker/cluster-options.js'

/**
 * Connects to NATS. Fails (rejects) when no server answers within `connectTimeout`: the
 * broker does not start. Later losses are reconnected by the NATS client, forever.
 */
export async function connectNats(o: ClusterOptions, node: string): Promise<NatsConnection> {
  const opts: NodeConnectionOptions = {
    servers: o.servers,
    name: `petrel ${node}`,
    timeout: o.connectTimeout ?? 5000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    pingInterval: 5000,
  }
  if (o.user !== undefined) opts.user = o.user
  if (o.password !== undefined) opts.pass = o.password
  if (o.token !== undefined) opts.token = o.token
  if (o.tls !== undefined) {
    const tls: Record<string, string> = {}
    if (o.tls.ca !== undefined) tls.ca = o.tls.ca
    if (o.tls.cert !== undefined) tls.cert = o.tls.cert
    if (o.tls.key !== undefined) tls.key = o.tls.key
    opts.tls = tls
  }
  try {
    return await connect(opts)
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err)
    throw new Error(
      `cannot join the cluster: no NATS server answered at ${o.servers.join(', ')} (${why}); start nats-server (with JetStream) there, or fix --cluster`,
    )
  }
}

/**
 * Makes the stream of QoS 1/2 messages, or updates it to these settings. It keeps a message
 * while a consumer of it has not acknowledged it (interest retention), on disk, `replicas` times.
 */
export async function ensureStreams(nc: NatsConnection, replicas: number): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc)
  const config = {
    name: MESSAGES_STREAM,
    subjects: ['petrel.d.>'],
    retention: RetentionPolicy.Interest,
    storage: StorageType.File,
    num_replicas: replicas,
  }
  try {
    await jsm.streams.info(MESSAGES_STREAM)
    await jsm.streams.update(MESSAGES_STREAM, config)
  } catch (err) {
    if (!isNotFound(err)) throw err
    await jsm.streams.add(config)
  }
  return jsm
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message)
}
