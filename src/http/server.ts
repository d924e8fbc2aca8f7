import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { type AddressInfo, isIP } from 'node:net'
import type { Broker } from '../broker/broker.js'
import { ConfigError } from '../errors.js'
import { adminRoute } from './admin-api.js'
import { dashboardRoute } from './dashboard.js'
import { healthRoute } from './health.js'
import { metricsRoute } from './metrics.js'
import { type HttpContext, type Route, sendError } from './route.js'
import { BearerToken, isProbe } from './token.js'

/** PEM text as node:tls takes it: one, or several (a chain). */
export type Pem = string | Buffer | Array<string | Buffer>

export interface HttpOptions {
  /** 0 picks a free port. */
  port: number
  /** Default 127.0.0.1: the endpoint is for operators, not the internet. */
  host?: string
  /** PEM certificate (with its chain): with `key`, the endpoint speaks HTTPS only. */
  cert?: Pem
  /** PEM private key of `cert`. */
  key?: Pem
  /**
   * When set, /metrics and /api/ answer only requests with `Authorization: Bearer <token>`
   * (401 otherwise); /healthz, /readyz and the dashboard's static files stay open.
   */
  token?: string
  /** The settings the broker was started with, shown (secrets redacted) by /api/v1/broker. */
  config?: Record<string, unknown>
}

/** The HTTP endpoint, listening. */
export interface HttpEndpoint {
  readonly port: number
  readonly host: string
  /** `http://host:port` or `https://host:port` (IPv6 in brackets). */
  readonly url: string
  /** Stops listening, runs the parts' close work and ends every open connection. Idempotent. */
  close(): Promise<void>
}

/** Nothing the endpoint serves takes a body: a larger one is refused unread. */
export const MAX_BODY_BYTES = 16 * 1024
/** A client has this long for the TLS handshake and to send its headers (slowloris), and for the whole request. */
const HEADERS_TIMEOUT_MS = 10_000
const REQUEST_TIMEOUT_MS = 30_000
/** Prometheus, a few dashboards and `petrel top`: more at once is a mistake or an attack. */
export const MAX_HTTP_CONNECTIONS = 256

/**
 * Starts the operator's HTTP endpoint for a broker: /metrics, /healthz and /readyz, the admin
 * API under /api/v1/, and the dashboard at /. Throws a ConfigError for a bad option.
 */
export async function startHttp(broker: Broker, options: HttpOptions): Promise<HttpEndpoint> {
  const tls = tlsOf(options)
  const token = options.token === undefined ? null : new BearerToken(options.token)
  const host = options.host ?? '127.0.0.1'
  // open to this machine only: a browser's request must name this machine too (DNS rebinding)
  const hostChecked = token === null && isLoopback(host)
  const closers: (() => void | Promise<void>)[] = []
  const ctx: HttpContext = {
    broker,
    log: broker.log,
    config: options.config ?? {},
    onClose: (fn) => {
      closers.push(fn)
    },
  }
  const routes: Route[] = [healthRoute(ctx), metricsRoute(ctx), adminRoute(ctx), dashboardRoute(ctx)]
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    void handle(req, res, routes, token, hostChecked).catch((err: unknown) => {
      // the path without its query: /api/v1/stream?access_token= must not put the token in a log
      ctx.log.error({ err: String(err), path: (req.url ?? '').split('?', 1)[0] }, 'http: request failed')
      if (!res.headersSent) sendError(res, 500, 'internal', 'internal error')
      else res.destroy()
    })
  }
  const runClosers = async (): Promise<void> => {
    for (const fn of closers.splice(0)) {
      try {
        await fn()
      } catch (err) {
        ctx.log.warn({ err: String(err) }, 'http: close work failed')
      }
    }
  }
  let server: Server
  try {
    server = await listen(tls, options.port, host, onRequest)
  } catch (err) {
    await runClosers() // the parts started (the dashboard's sampler) stop again
    throw err
  }
  // After listening, an error (EMFILE on accept ...) is logged: the broker goes on.
  server.on('error', (err) => ctx.log.error({ err: String(err) }, 'http: server error'))
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | null = null
  return {
    port,
    host,
    url: `${tls === null ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        await runClosers()
        server.closeAllConnections()
        await closed
      })()
      return closing
    },
  }
}

async function listen(
  tls: { cert: Pem; key: Pem } | null,
  port: number,
  host: string,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Server> {
  const limits = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS }
  let server: Server
  try {
    server =
      tls === null
        ? createHttpServer(limits, onRequest)
        : createHttpsServer({ ...limits, handshakeTimeout: HEADERS_TIMEOUT_MS, ...tls }, onRequest)
  } catch (err) {
    // node:tls refuses the certificate or key as it builds the secure context
    throw new ConfigError('cert', `the certificate or key is not usable: ${(err as Error).message}`)
  }
  server.maxConnections = MAX_HTTP_CONNECTIONS
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    // exclusive: in a worker of `petrel broker --workers`, the endpoint is this process's own
    // (its figures, its clients), not a port shared with the other workers by node:cluster
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return server
}

function tlsOf(options: HttpOptions): { cert: Pem; key: Pem } | null {
  const { cert, key } = options
  if (cert === undefined && key === undefined) return null
  if (cert === undefined || key === undefined) {
    throw new ConfigError(cert === undefined ? 'cert' : 'key', 'HTTPS needs both a certificate and its key')
  }
  return { cert, key }
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  routes: readonly Route[],
  token: BearerToken | null,
  hostChecked: boolean,
): Promise<void> {
  req.on('error', () => {}) // a client gone mid-request: nothing to answer
  res.on('error', () => {})
  const url = requestUrl(req.url)
  if (url === null) return sendError(res, 400, 'bad-request', 'the request target must be a path')
  if (!(await bodyWithin(req, MAX_BODY_BYTES))) {
    res.setHeader('connection', 'close')
    return sendError(res, 413, 'too-large', `request bodies are limited to ${MAX_BODY_BYTES} bytes`)
  }
  if (hostChecked && !isProbe(url.pathname) && !namesLoopback(req.headers.host)) {
    return sendError(
      res,
      403,
      'forbidden',
      'without a token this endpoint answers only requests for localhost or an IP address (Host header)',
    )
  }
  if (token !== null && !token.allows(req, url)) {
    res.setHeader('www-authenticate', 'Bearer realm="petrel"')
    return sendError(res, 401, 'unauthorized', 'this path needs Authorization: Bearer <token>')
  }
  if (crossSite(req)) {
    return sendError(res, 403, 'forbidden', 'a request that changes state may not come from another site')
  }
  for (const r of routes) if (await r(req, res, url)) return
  sendError(res, 404, 'not-found', `no such path: ${url.pathname}`)
}

/**
 * True for a request that may change state (not GET, HEAD or OPTIONS) sent by a browser on
 * behalf of another site: a page anywhere can POST a form to 127.0.0.1 (cross-site request
 * forgery), and without a token nothing else would stop it kicking a client. Browsers say
 * where a request comes from in `Sec-Fetch-Site` (older ones only in `Origin`); tools such as
 * curl send neither and are let through, as is the dashboard itself (same origin).
 */
function crossSite(req: IncomingMessage): boolean {
  const method = req.method ?? 'GET'
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return false
  // the browser's own word (a page cannot set it), and right behind a proxy that rewrites Host
  const site = req.headers['sec-fetch-site']
  if (site !== undefined) return site !== 'same-origin' && site !== 'none'
  // an older browser: its Origin against the Host it sent
  const origin = req.headers.origin
  if (origin === undefined) return false
  try {
    return new URL(origin).host !== req.headers.host
  } catch {
    return true // "null" (a sandboxed page, a file:) or garbage: not this endpoint's page
  }
}

/** A listening address that only this machine reaches. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/**
 * True when a request's Host names this machine the way a local user does: an IP address or
 * localhost. A page on another site that has its own name resolve to 127.0.0.1 (DNS rebinding)
 * sends its own name, and could otherwise read the API of an endpoint that has no token. No
 * Host at all (HTTP/1.0 tools) is no browser.
 */
function namesLoopback(header: string | undefined): boolean {
  if (header === undefined) return true
  let name: string
  try {
    name = new URL(`http://${header}`).hostname
  } catch {
    return false
  }
  if (name.startsWith('[')) name = name.slice(1, -1)
  return name === 'localhost' || isIP(name) !== 0
}

/** The request's path and query; null for a target that names none ("*"). */
function requestUrl(target: string | undefined): URL | null {
  try {
    // origin-form "/path?query", put after a fixed origin: as a base URL, "//host/x" would name a host
    if (target?.startsWith('/')) return new URL(`http://localhost${target}`)
    // absolute-form, as sent to proxies: only its path and query count
    const u = new URL(target ?? '')
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null
    return new URL(`http://localhost${u.pathname}${u.search}`)
  } catch {
    return null
  }
}

/**
 * Reads and discards the request body (the endpoint takes none); false as soon as it is
 * known to be larger than `max`, by its Content-Length or by what arrived.
 */
function bodyWithin(req: IncomingMessage, max: number): Promise<boolean> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (!(declared <= max)) return Promise.resolve(false)
  if (req.complete) return Promise.resolve(true)
  return new Promise((resolve) => {
    let seen = 0
    const done = (ok: boolean): void => {
      req.off('data', onData).off('end', onEnd).off('close', onEnd)
      if (!ok) req.pause()
      resolve(ok)
    }
    const onData = (chunk: Buffer): void => {
      seen += chunk.length
      if (seen > max) done(false)
    }
    const onEnd = (): void => done(seen <= max)
    req.on('data', onData).on('end', onEnd).on('close', onEnd)
  })
}
