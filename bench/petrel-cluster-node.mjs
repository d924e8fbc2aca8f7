#!/usr/bin/env node
// One Petrel node of a cluster, for bench/cluster.mjs: on 127.0.0.1:<port>, named <node>, joined
// over NATS JetStream at <urls> (comma-separated) with <replicas> replicas (default 3). Its state
// is the cluster's (JetStream); log records of level warn and above go to standard output as JSON
// lines.
// Needs the build: npx tsc -p tsconfig.build.json
// Usage: node bench/petrel-cluster-node.mjs <port> <node> <nats urls> [<replicas>]
import { createLogger } from '../dist/cli/logging.js'
import { Broker } from '../dist/index.js'

const [portArg, node, urls, replicasArg] = process.argv.slice(2)
if (!portArg || !node || !urls) {
  process.stderr.write('usage: node bench/petrel-cluster-node.mjs <port> <node> <nats urls> [<replicas>]\n')
  process.exit(2)
}
const port = Number(portArg)
const broker = new Broker({
  logger: createLogger({ level: 'warn', pretty: false }),
  cluster: { servers: urls.split(','), node, replicas: Number(replicasArg ?? 3) },
})
const info = await broker.listen({ port, host: '127.0.0.1' })
process.stderr.write(`petrel ${node} listening on 127.0.0.1:${info.port}\n`)
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  broker.close().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`petrel ${node}: close failed: ${err?.message ?? err}\n`)
      process.exit(1)
    },
  )
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
