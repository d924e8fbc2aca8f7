import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { ConfigError } from '../errors.js'

/** Paths anyone may read: Kubernetes probes carry no token. */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz'])
/** The one path that also takes the token as `?access_token=`: a browser's EventSource cannot set headers. */
const QUERY_TOKEN_PATH = '/api/v1/stream'

/**
 * The bearer token check of the HTTP endpoint. Only /metrics and /api/ hold data; the
 * dashboard's static files (which hold none) and the probes are open, so a browser can load
 * the page and then ask for the token.
 */
export class BearerToken {
  private readonly digest: Buffer

  constructor(token: string) {
    if (token === '' || /\s/.test(token)) {
      throw new ConfigError('token', 'the HTTP token must be one word of visible characters')
    }
    this.digest = sha256(token)
  }

  /** True when the request may be served: an open path, or the right token. */
  allows(req: IncomingMessage, url: URL): boolean {
    if (!needsToken(url.pathname)) return true
    const given = presented(req, url)
    return given !== null && this.matches(given)
  }

  /**
   * Constant time whatever is presented: both sides are hashed first, so the comparison sees
   * equal lengths and a wrong guess learns nothing from the time taken, not even the length.
   */
  matches(given: string): boolean {
    return timingSafeEqual(sha256(given), this.digest)
  }
}

/** Reads a token as it sits in a file: surrounding white space (a final newline) is not part of it. */
export function tokenFromFile(text: string): string {
  return text.trim()
}

/** The probes: open to anyone, with or without a token, by whatever name. */
export function isProbe(path: string): boolean {
  return OPEN_PATHS.has(path)
}

function needsToken(path: string): boolean {
  if (OPEN_PATHS.has(path)) return false
  return path === '/metrics' || path === '/api' || path.startsWith('/api/')
}

function presented(req: IncomingMessage, url: URL): string | null {
  const header = req.headers.authorization
  if (header !== undefined) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
    return m === null ? null : m[1]!
  }
  if (url.pathname === QUERY_TOKEN_PATH) return url.searchParams.get('access_token')
  return null
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}
