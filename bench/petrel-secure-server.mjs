#!/usr/bin/env node
// Petrel for bench/security.mjs: one in-memory Broker serving MQTT over TCP, TLS and WebSocket
// (ws://127.0.0.1:<ws port>/mqtt, subprotocol mqtt) on 127.0.0.1 at once.
//
// How to run:
//   node bench/petrel-secure-server.mjs --tcp 18950 --tls 18951 --ws 18952 --cert server.pem --key server.key
//   ... --via api     Petrel's own listeners: Broker.listen({ protocol: 'mqtts' | 'ws', ... }) (issue 13)
//   ... --via handle  node:tls and the `ws` package here, each stream handed to broker.handle(stream)
//   ... --via auto    (default) api when this build's Broker.listen knows `protocol`, else handle
//   ... --root DIR    the Petrel checkout whose dist/ is served (default: this one)
// Prints "petrel via <api|handle> ..." once everything listens; SIGTERM/SIGINT close the broker.
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { dirname, join, resolve } from 'node:path'
import { createServer as createTlsServer } from 'node:tls'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createWebSocketStream, WebSocketServer } from 'ws'

const args = new Map()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i], process.argv[i + 1])
const need = (k) => {
  const v = args.get(k)
  if (v === undefined) {
    process.stderr.write(`petrel-secure-server: ${k} is required\n`)
    process.exit(2)
  }
  return v
}
const host = '127.0.0.1'
const tcpPort = Number(need('--tcp'))
const tlsPort = Number(need('--tls'))
const wsPort = Number(need('--ws'))
const cert = readFileSync(need('--cert'))
const key = readFileSync(need('--key'))
const via = args.get('--via') ?? 'auto'
if (!['api', 'handle', 'auto'].includes(via)) {
  process.stderr.write(`petrel-secure-server: --via must be api, handle or auto; got ${via}\n`)
  process.exit(2)
}
const root = resolve(args.get('--root') ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
const { Broker } = await import(pathToFileURL(join(root, 'dist/index.js')).href)

const broker = new Broker({})
const closers = []
await broker.listen({ port: tcpPort, host })

/** Whether this Broker has Petrel's own listeners (issue 13): asked of a throw-away Broker. */
async function hasListeners() {
  const probe = new Broker({})
  try {
    // a Broker from before issue 13 ignores `protocol` and opens plain TCP (on a free port here)
    const l = await probe.listen({ protocol: 'mqtts', port: 0, host, cert, key })
    return l?.protocol === 'mqtts'
  } catch (err) {
    process.stderr.write(
      `petrel-secure-server: Broker.listen({ protocol: 'mqtts' }) failed: ${err.message}\n`,
    )
    return false
  } finally {
    await probe.close()
  }
}

/** Petrel's own TLS and WebSocket listeners. */
async function viaApi() {
  await broker.listen({ protocol: 'mqtts', port: tlsPort, host, cert, key })
  await broker.listen({ protocol: 'ws', port: wsPort, host })
}

/** node:tls and `ws` in this script; broker.handle() serves each stream. */
async function viaHandle() {
  const tls = createTlsServer({ cert, key, noDelay: true }, (socket) =>
    broker.handle(socket, socket.remoteAddress),
  )
  tls.on('tlsClientError', () => {})
  await new Promise((res, rej) => tls.once('error', rej).listen(tlsPort, host, res))
  closers.push(() => tls.close())
  const http = createHttpServer({ noDelay: true })
  const wss = new WebSocketServer({
    server: http,
    path: '/mqtt',
    perMessageDeflate: false,
    handleProtocols: (offered) => (offered.has('mqtt') ? 'mqtt' : false),
  })
  wss.on('connection', (ws, req) => broker.handle(createWebSocketStream(ws), req.socket.remoteAddress))
  await new Promise((res, rej) => http.once('error', rej).listen(wsPort, host, res))
  closers.push(() => http.close())
}

const api = via !== 'handle' && (await hasListeners())
if (via === 'api' && !api) {
  process.stderr.write('petrel-secure-server: --via api, but this Broker has no mqtts/ws listeners\n')
  process.exit(3)
}
if (api) await viaApi()
else await viaHandle()
const used = api ? 'api' : 'handle'
process.stdout.write(
  `petrel via ${used} tcp=${host}:${tcpPort} tls=${host}:${tlsPort} ws=ws://${host}:${wsPort}/mqtt\n`,
)

const stop = () => {
  for (const c of closers) c()
  broker.close().then(() => process.exit(0))
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
