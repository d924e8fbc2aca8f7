#!/usr/bin/env node
// Aedes 1.x, in memory, on 127.0.0.1:<port> — the Node incumbent in the broker benchmarks.
// With a second port, Aedes over WebSocket too, as its README serves it: a `ws` WebSocketServer
// (path /mqtt, subprotocol mqtt) whose connections go through createWebSocketStream to aedes.handle.
// Usage: node bench/aedes-server.mjs <port> [<ws port>]
import { createServer as createHttpServer } from 'node:http'
import { createServer } from 'node:net'
import { Aedes } from 'aedes'
import { createWebSocketStream, WebSocketServer } from 'ws'

const port = Number(process.argv[2] ?? 18840)
const wsPort = process.argv[3] === undefined ? null : Number(process.argv[3])
const aedes = await Aedes.createBroker()
const server = createServer(aedes.handle)
server.listen(port, '127.0.0.1', () => process.stdout.write(`aedes listening on 127.0.0.1:${port}\n`))
let http = null
if (wsPort !== null) {
  http = createHttpServer()
  const wss = new WebSocketServer({
    server: http,
    path: '/mqtt',
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
  })
  wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws), req))
  http.listen(wsPort, '127.0.0.1', () =>
    process.stdout.write(`aedes listening on ws://127.0.0.1:${wsPort}/mqtt\n`),
  )
}
const stop = () => {
  http?.close()
  server.close(() => aedes.close(() => process.exit(0)))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
