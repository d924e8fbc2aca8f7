#!/usr/bin/env node
// Aedes 1.x, in memory, on 127.0.0.1:<port> — the Node incumbent in the broker benchmarks.
// Usage: node bench/aedes-server.mjs <port>
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2] ?? 18840)
const aedes = await Aedes.createBroker()
const server = createServer(aedes.handle)
server.listen(port, '127.0.0.1', () => process.stdout.write(`aedes listening on 127.0.0.1:${port}\n`))
const stop = () => server.close(() => aedes.close(() => process.exit(0)))
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
