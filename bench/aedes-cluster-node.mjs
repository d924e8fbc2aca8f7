#!/usr/bin/env node
// One Aedes node of a cluster on Redis, for bench/cluster.mjs: Aedes 1.x on 127.0.0.1:<port>,
// messages between nodes through mqemitter-redis and sessions, subscriptions, retained and QoS 1/2
// messages in aedes-persistence-redis, both on the Redis at 127.0.0.1:<redis port>: the way the
// Aedes README clusters it. Like bench/aedes-server.mjs otherwise.
// Usage: node bench/aedes-cluster-node.mjs <port> <redis port>
import { createServer } from 'node:net'
import { Aedes } from 'aedes'
import persistence from 'aedes-persistence-redis'
import mqemitter from 'mqemitter-redis'

const port = Number(process.argv[2] ?? 18840)
const redisPort = Number(process.argv[3] ?? 6379)
const redis = { host: '127.0.0.1', port: redisPort }
const mq = mqemitter(redis)
const aedes = await Aedes.createBroker({ mq, persistence: persistence(redis) })
aedes.on('connectionError', (_client, err) =>
  process.stderr.write(`aedes connection error: ${err.message}\n`),
)
const server = createServer(aedes.handle)
server.listen(port, '127.0.0.1', () => process.stdout.write(`aedes listening on 127.0.0.1:${port}\n`))
const stop = () => {
  server.close(() => aedes.close(() => process.exit(0)))
  setTimeout(() => process.exit(0), 3000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
