/**
 * `petrel top --http-port`: the broker's HTTP endpoint as a source of figures.
 * GET /api/v1/overview for the figures, GET /api/v1/clients for the busiest clients,
 * with the bearer token of --http-token-file and, over HTTPS, the TLS flags of pub/sub.
 */
import http from 'node:http'
import https from 'node:https'
import type { TransportOptions } from '../client/transport-for.js'
import { ToolError } from './client-flags.js'
import {
  type ClientRow,
  clientsFromPage,
  type Figures,
  figuresFromOverview,
  type SortKey,
} from './top-figures.js'

export interface HttpSource {
  /** `http://host:port`, for the header and messages. */
  readonly base: string
  /** `host:port`. */
  readonly where: string
  readonly token: string | null
  /** The --http-token-file it came from, for messages. */
  readonly tokenFile: string | null
  /** TLS options (HTTPS only). */
  readonly tls: TransportOptions | null
  readonly timeoutMs: number
}

/** The largest body read: a page of 1000 clients is well under it. */
const MAX_BODY = 8 * 1024 * 1024

/** One keep-alive connection for the polls of a run (closed by closeAgents()). */
const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 2 }), https: null as https.Agent | null }

export function closeAgents(): void {
  agents.http.destroy()
  agents.https?.destroy()
}

/** GET a JSON document; every failure is a ToolError of one line naming what to check. */
export function getJson(src: HttpSource, path: string): Promise<unknown> {
  const url = new URL(path, src.base)
  const headers: Record<string, string> = { accept: 'application/json' }
  if (src.token !== null) headers.authorization = `Bearer ${src.token}`
  return new Promise((resolve, reject) => {
    const onResponse = (res: http.IncomingMessage): void => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > MAX_BODY) {
          req.destroy()
          reject(new ToolError(`Error: ${url.pathname} on ${src.where} sent more than ${MAX_BODY} bytes.`))
          return
        }
        chunks.push(c)
      })
      res.on('error', (err) => reject(requestFailure(src, err)))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        const status = res.statusCode ?? 0
        if (status !== 200) {
          reject(statusFailure(src, url, status, text))
          return
        }
        try {
          resolve(JSON.parse(text))
        } catch {
          reject(new ToolError(`Error: ${url.pathname} on ${src.where} did not answer with JSON.`))
        }
      })
    }
    let req: http.ClientRequest
    if (src.tls !== null) {
      agents.https ??= new https.Agent({ keepAlive: true, maxSockets: 2 })
      req = https.request(url, { headers, agent: agents.https, ...src.tls }, onResponse)
    } else {
      req = http.request(url, { headers, agent: agents.http }, onResponse)
    }
    req.setTimeout(src.timeoutMs, () => {
      req.destroy()
      reject(new ToolError(`Error: No answer from ${src.base} within ${src.timeoutMs / 1000} s.`))
    })
    req.on('error', (err) => reject(requestFailure(src, err)))
    req.end()
  })
}

function requestFailure(src: HttpSource, err: Error): ToolError {
  if (err instanceof ToolError) return err
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ECONNREFUSED') {
    return new ToolError(
      `Error: Connection refused by ${src.where}; is the broker running with --http-port ${src.where.replace(/^.*:/, '')}?`,
    )
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ToolError(`Error: Unable to connect: host ${src.where.replace(/:\d+$/, '')} not found.`)
  }
  if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return new ToolError(
      `Error: ${src.base}: ${err.message}; does the endpoint speak ${src.tls === null ? 'HTTPS (add --https)' : 'plain HTTP (drop --https)'}?`,
    )
  }
  if (code === 'ECONNRESET' && src.tls === null) {
    return new ToolError(`Error: ${src.where} closed the connection; does it want HTTPS (--https)?`)
  }
  if (/certificate|self[- ]signed|altnames/i.test(err.message)) {
    return new ToolError(
      `Error: ${src.base}: ${err.message}; give the CA that signed its certificate with --cafile (or, for a name mismatch, --insecure).`,
    )
  }
  return new ToolError(`Error: Unable to read ${src.base}: ${err.message}.`)
}

/** The API's error body's message, if it has one. */
function apiMessage(text: string): string | null {
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message
    return typeof m === 'string' ? m : null
  } catch {
    return null
  }
}

function statusFailure(src: HttpSource, url: URL, status: number, text: string): ToolError {
  if (status === 401) {
    return new ToolError(
      src.token === null
        ? `Error: ${src.base} wants a bearer token; give the file holding it with --http-token-file.`
        : `Error: ${src.base} refused the token in ${src.tokenFile}.`,
    )
  }
  if (status === 404 && url.pathname === '/api/v1/overview') {
    return new ToolError(
      `Error: ${src.base} has no ${url.pathname}; is it the --http-port of a petrel broker (version with the admin API)?`,
    )
  }
  const why = apiMessage(text)
  return new ToolError(
    `Error: ${url.pathname} on ${src.where}: HTTP ${status}${why === null ? '' : ` (${why})`}.`,
  )
}

export function readOverview(src: HttpSource): Promise<Figures> {
  return getJson(src, '/api/v1/overview').then(figuresFromOverview)
}

export function readClients(
  src: HttpSource,
  sort: SortKey,
  limit: number,
): Promise<{ rows: ClientRow[]; total: number | null }> {
  const q = new URLSearchParams({ sort, order: 'desc', limit: String(limit) })
  return getJson(src, `/api/v1/clients?${q}`).then(clientsFromPage)
}
