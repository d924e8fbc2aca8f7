/**
 * Petrel nodes of a cluster in the test process, over real nats-server processes (test/helpers/nats.ts),
 * with MQTT.js clients that are ended with the cluster.
 *
 *   const c = await startCluster({ nodes: 3, servers: 3, prefix: 'n' })
 *   const sub = await c.client(1)
 *   after(() => c.close())
 */
import { Broker } from '../../src/index.js'
import { connectMqttJs, type MqttJsPeer } from './mqttjs.js'
import { type NatsCluster, startNats } from './nats.js'

export interface TestCluster {
  nats: NatsCluster
  nodes: Broker[]
  ports: number[]
  /** An MQTT.js client of node `node` (ended by close()). */
  client(node: number, options?: Parameters<typeof connectMqttJs>[1]): Promise<MqttJsPeer>
  /** Ends the clients, closes the nodes, stops NATS. */
  close(): Promise<void>
}

export interface ClusterOptions {
  nodes: number
  /** NATS servers (replicas: as many, up to 3). */
  servers: number
  /** Node names: `${prefix}-${i}`. */
  prefix: string
  /** The nodes join at once (they make the stream and buckets together), or one after the other. */
  together?: boolean
}

export async function startCluster(o: ClusterOptions): Promise<TestCluster> {
  const nats = await startNats({ servers: o.servers })
  const replicas = Math.min(o.servers, 3)
  const start = async (i: number): Promise<{ b: Broker; port: number }> => {
    // each node prefers a different NATS server
    const servers = [...nats.urls.slice(i % nats.urls.length), ...nats.urls.slice(0, i % nats.urls.length)]
    const b = new Broker({ sysInterval: 0, cluster: { servers, node: `${o.prefix}-${i}`, replicas } })
    const info = await b.listen({ port: 0, host: '127.0.0.1' })
    return { b, port: info.port }
  }
  const indexes = Array.from({ length: o.nodes }, (_, i) => i)
  const started: { b: Broker; port: number }[] = []
  if (o.together === true) started.push(...(await Promise.all(indexes.map(start))))
  else for (const i of indexes) started.push(await start(i))
  const peers: MqttJsPeer[] = []
  const nodes = started.map((s) => s.b)
  const ports = started.map((s) => s.port)
  return {
    nats,
    nodes,
    ports,
    async client(node, options = {}) {
      const p = await connectMqttJs(ports[node]!, options)
      peers.push(p)
      return p
    },
    async close() {
      await Promise.allSettled(peers.map((p) => p.end()))
      await Promise.allSettled(nodes.map((b) => b.close()))
      await nats.stop()
    },
  }
}
