/**
 * TLS and WebSocket servers in front of a Broker, made with node:tls, node:http(s) and
 * `ws` in the test, each accepted stream handed to `broker.handle()`: the client's TLS
 * and WebSocket transports are tested without the broker's own listeners. Each server
 * records what the client showed it (SNI, certificate CN, path, offered subprotocols), which
 * the broker's own listeners do not tell; test/integration/client/own-listeners.test.ts runs
 * the client against those (Broker.listen) end to end.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type Socket } from 'node:net'
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls'
import { createWebSocketStream, WebSocketServer } from 'ws'
import type { Broker } from '../../src/broker/broker.js'
import { LOOPBACK } from './net.js'

/** What a server saw of one accepted connection. */
export interface Seen {
  /** The SNI name the client sent (TLS), or false. */
  servername: string | false | null | undefined
  /** CN of the client certificate, when one was given and verified. */
  clientCn: string | undefined
  /** HTTP path of the upgrade (WebSocket). */
  path: string | undefined
  /** Subprotocols the client offered (WebSocket). */
  protocols: string[]
}

export interface TestServer {
  readonly port: number
  /** One entry per accepted connection, in order. */
  readonly seen: Seen[]
  /** The server-side sockets (TLS sockets, or the TCP sockets under WebSocket) still open. */
  readonly sockets: Set<Socket>
  close(): Promise<void>
}

function listen(
  server: Server | ReturnType<typeof createTlsServer> | ReturnType<typeof createNetServer>,
  host = LOOPBACK,
) {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => {
      const addr = server.address()
      resolve(typeof addr === 'object' && addr !== null ? addr.port : 0)
    })
  })
}

function closer(server: { close(cb: () => void): void }, sockets: Set<Socket>): () => Promise<void> {
  return () => {
    for (const s of sockets) s.destroy()
    return new Promise((resolve) => server.close(() => resolve()))
  }
}

function track(sockets: Set<Socket>, socket: Socket): void {
  sockets.add(socket)
  socket.once('close', () => sockets.delete(socket))
}

function cnOf(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined
  const cn = socket.getPeerCertificate().subject?.CN
  return Array.isArray(cn) ? cn[0] : cn
}

/** An MQTT-over-TLS server (like a broker's mqtts listener), on `host` (another loopback address, say). */
export async function tlsBrokerServer(broker: Broker, tls: TlsOptions, host = LOOPBACK): Promise<TestServer> {
  const seen: Seen[] = []
  const sockets = new Set<Socket>()
  const server = createTlsServer(tls, (socket) => {
    seen.push({ servername: socket.servername, clientCn: cnOf(socket), path: undefined, protocols: [] })
    broker.handle(socket, socket.remoteAddress)
  })
  server.on('connection', (s: Socket) => track(sockets, s))
  server.on('tlsClientError', () => {}) // a refused handshake is what some tests want
  const port = await listen(server, host)
  return { port, seen, sockets, close: closer(server, sockets) }
}

/** An MQTT-over-WebSocket server (ws://, or wss:// when `tls` is given) serving `path`. */
export async function wsBrokerServer(
  broker: Broker,
  options: { path?: string; tls?: TlsOptions; protocol?: string | false } = {},
): Promise<TestServer> {
  const seen: Seen[] = []
  const sockets = new Set<Socket>()
  const http = options.tls === undefined ? createHttpServer() : createHttpsServer(options.tls)
  http.on('connection', (s: Socket) => track(sockets, s))
  const pick = options.protocol ?? 'mqtt'
  const wss = new WebSocketServer({
    server: http,
    path: options.path ?? '/mqtt',
    handleProtocols: (offered) => (pick === false ? false : offered.has(pick) ? pick : false),
  })
  wss.on('connection', (ws, req: IncomingMessage) => {
    const socket = req.socket as TLSSocket
    seen.push({
      servername: options.tls === undefined ? undefined : socket.servername,
      clientCn: options.tls === undefined ? undefined : cnOf(socket),
      path: req.url,
      protocols: (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()),
    })
    broker.handle(createWebSocketStream(ws), socket.remoteAddress)
  })
  wss.on('error', () => {})
  const port = await listen(http)
  const closeHttp = closer(http, sockets)
  return {
    port,
    seen,
    sockets,
    close: async () => {
      for (const c of wss.clients) c.terminate()
      wss.close()
      await closeHttp()
    },
  }
}

/** A TCP server that accepts and then says nothing (a handshake that never finishes). */
export async function silentServer(): Promise<TestServer> {
  const sockets = new Set<Socket>()
  const server = createNetServer((s) => {
    track(sockets, s)
    s.resume() // read (and drop) what comes, so that the client's close is seen
  })
  const port = await listen(server)
  return { port, seen: [], sockets, close: closer(server, sockets) }
}
