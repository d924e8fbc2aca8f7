import {
  createServer as httpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http'
import { Server as HttpsServer, createServer as httpsServer } from 'node:https'
import type { Duplex } from 'node:stream'
import type { TLSSocket } from 'node:tls'
import { WebSocketServer } from 'ws'
import { bindServer, Handshakes } from './tcp.js'
import {
  peerIdentity,
  secureContextOptions,
  type TlsListener,
  type TlsServerOptions,
  tlsServerOptions,
  watchHandshakes,
} from './tls.js'
import { authority, type Incoming, type ListenBase, type Listener } from './transport.js'
import { wrapWebSocket } from './ws-duplex.js'

export const DEFAULT_WS_PATH = '/mqtt'
/** The subprotocols served: 'mqtt' (MQTT 3.1.1 and 5 [MQTT-6.0.0-4]) and 'mqttv3.1' (MQTT 3.1 clients). */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1']

export interface WsListenOptions extends ListenBase {
  /** The URL path served; others get 404. Default '/mqtt'. */
  path?: string
  /** Origin header values accepted; when set, any other (or none) gets 403. Default: any. */
  origins?: readonly string[]
  /** Largest WebSocket message accepted, bytes (the broker's maxPacketSize). */
  maxPayload: number
  /**
   * Largest WebSocket message accepted until the broker accepts the client (ServedDuplex.accepted),
   * bytes: the broker's maxConnectSize. `ws` buffers a whole message before MQTT sees a byte of it,
   * so without this an unauthenticated client could make it hold maxPayload. Default maxPayload.
   */
  maxConnectPayload?: number
  /** wss: the TLS server's settings (not with `server`). */
  tls?: TlsServerOptions
  /**
   * An http.Server or https.Server of the application to attach to: its upgrade requests for
   * `path` become MQTT connections; its other requests are left to it. Not with port/host/tls.
   */
  server?: Server | HttpsServer
  /** Milliseconds the HTTP upgrade request (and TLS handshake) may take on our own server. Default 10000. */
  handshakeTimeout?: number
}

export type WsListener = Listener & Partial<Pick<TlsListener, 'reload'>>

/**
 * A WebSocket listener (the `ws` package) on its own http/https server or attached to one
 * the application owns. Each upgrade is checked (path, Origin, subprotocol, maxConnections)
 * before it is completed; a refused one gets its HTTP status and is counted.
 */
export async function listenWs(
  options: WsListenOptions,
  accept: (incoming: Incoming) => void,
): Promise<WsListener> {
  const path = options.path ?? DEFAULT_WS_PATH
  const own = options.server === undefined
  const server = options.server ?? ownServer(options, path)
  const secure = server instanceof HttpsServer
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayload,
    perMessageDeflate: false,
    clientTracking: false,
    // asked only when the client offers subprotocols; upgrade() has refused those without one of ours
    handleProtocols: (offered) => SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
  })
  let name = ''
  let open = 0
  // on our own server, a connection not upgraded within handshakeTimeout (TLS included) is closed:
  // Node's headersTimeout alone leaves a silent or trickling one open
  const deadline = options.handshakeTimeout ?? 10_000
  const handshakes = new Handshakes(deadline, (s) =>
    options.report?.refused('websocket-upgrade', `no upgrade within ${deadline} ms`, s.remoteAddress),
  )
  if (own) handshakes.watch(server)
  const refuse = (socket: Duplex, req: IncomingMessage, status: number, why: string): void => {
    const kind = status === 503 ? 'max-connections' : 'websocket-upgrade'
    options.report?.refused(kind, `${status} ${why}`, req.socket.remoteAddress)
    answer(socket, status)
  }
  // handleUpgrade's own checks (method, headers, version) come here instead of answering themselves
  wss.on('wsClientError', (err, socket, req) => refuse(socket, req, 400, err.message))

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => {}) // a peer gone mid-upgrade: the 'close' that follows is enough
    if (pathOf(req.url) !== path) {
      // another path of the application's server is the application's (if it listens for upgrades)
      if (own || server.listenerCount('upgrade') === 1) refuse(socket, req, 404, `path ${pathOf(req.url)}`)
      return
    }
    const origin = req.headers.origin
    if (options.origins !== undefined && (origin === undefined || !options.origins.includes(origin))) {
      refuse(socket, req, 403, `origin ${origin ?? '(none)'} not allowed`)
      return
    }
    const offered = req.headers['sec-websocket-protocol']
    if (offered !== undefined && !offered.split(',').some((p) => SUBPROTOCOLS.includes(p.trim()))) {
      refuse(socket, req, 400, `subprotocol ${offered} (expected mqtt)`)
      return
    }
    if (options.maxConnections !== undefined && open >= options.maxConnections) {
      refuse(socket, req, 503, 'over maxConnections')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      handshakes.done(req.socket)
      open++
      ws.once('close', () => open--)
      const tlsSocket = secure ? (req.socket as TLSSocket) : undefined
      accept({
        remoteAddress: req.socket.remoteAddress,
        identity: tlsSocket === undefined ? undefined : peerIdentity(tlsSocket),
        listener: name,
        open: (events) => wrapWebSocket(ws, socket, events, options),
      })
    })
  }
  server.on('upgrade', upgrade)

  const scheme = secure ? 'wss' : 'ws'
  let l: Listener
  if (own) {
    const base: ListenBase = {}
    if (options.port !== undefined) base.port = options.port
    if (options.host !== undefined) base.host = options.host
    if (options.report !== undefined) base.report = options.report
    l = await bindServer(server, scheme, base, secure ? 8081 : 8080, handshakes)
  } else l = attached(server, scheme, () => server.off('upgrade', upgrade))
  name = `${l.name}${path}`
  const listener: WsListener = { ...l, name }
  if (own && secure)
    listener.reload = (o) => (server as HttpsServer).setSecureContext(secureContextOptions(o))
  return listener
}

/** Our own http (or https, with `tls`) server: a plain request gets 426 on our path, 404 elsewhere. */
function ownServer(options: WsListenOptions, path: string): Server {
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(pathOf(req.url) === path ? 426 : 404, { Connection: 'close' }).end()
  }
  let server: Server
  if (options.tls === undefined) server = httpServer(onRequest)
  else {
    const s = httpsServer(tlsServerOptions(options.tls), onRequest)
    watchHandshakes(s, options)
    server = s
  }
  // an upgrade request that never completes: closed like a TLS handshake that never does
  server.headersTimeout = options.handshakeTimeout ?? 10_000
  return server
}

/** The application's server, as a Listener: closing it only stops taking its upgrades. */
function attached(server: Server, scheme: string, detach: () => void): Listener {
  const addr = server.address()
  const bound = typeof addr === 'object' && addr !== null
  const port = bound ? addr.port : 0
  const host = bound ? addr.address : ''
  return {
    name: `${scheme}://${authority(host, port)}`,
    port,
    host,
    close: async () => detach(),
  }
}

function pathOf(url: string | undefined): string {
  const u = url ?? '/'
  const q = u.indexOf('?')
  return q === -1 ? u : u.slice(0, q)
}

/** Answers an upgrade request with an HTTP status and closes. */
function answer(socket: Duplex, status: number): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}
