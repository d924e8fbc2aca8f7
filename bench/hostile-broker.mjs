// The broker side of bench/hostile.mjs: an embedded Petrel broker (from dist/) in its own
// process, started with --expose-gc, that answers its parent's questions over IPC:
//   { op: 'mem' }  -> { heapUsed, heapTotal, external, rss } after a forced GC
//   { op: 'rss' }  -> { rss } (no GC: for sampling peaks while an attack runs)
//   { op: 'stats' } -> connection, session, subscription counts, dropped messages, and why and
//                      when (ms since start) each client id last disconnected
// argv[2] is a JSON object of broker options.
import { Broker } from '../dist/index.js'

const options = JSON.parse(process.argv[2] ?? '{}')
const broker = new Broker({ sysInterval: 0, ...options })
const { port } = await broker.listen({ port: 0, host: '127.0.0.1' })
const t0 = performance.now()
const disconnects = new Map() // client id -> { reason, ms since start }
broker.on('clientDisconnected', (c, reason) => disconnects.set(c.id, { reason, ms: performance.now() - t0 }))

process.on('message', (m) => {
  if (m.op === 'mem') {
    globalThis.gc()
    globalThis.gc()
    const u = process.memoryUsage()
    process.send({ id: m.id, heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external, rss: u.rss })
  } else if (m.op === 'rss') {
    process.send({ id: m.id, rss: process.memoryUsage.rss() })
  } else if (m.op === 'stats') {
    process.send({
      id: m.id,
      connected: broker.connectedCount,
      sessions: broker.sessionCount,
      subscriptions: broker.subscriptionCount,
      dropped: broker.stats.dropped,
      disconnects: Object.fromEntries(disconnects),
      uptimeMs: performance.now() - t0,
    })
  } else if (m.op === 'exit') {
    broker.close().then(() => process.exit(0))
  }
})
process.send({ ready: true, port })
