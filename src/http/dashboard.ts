import { existsSync, readFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { Broker } from '../broker/broker.js'
import { MAX_STREAMS, openStream } from './event-stream.js'
import { type HttpContext, type Route, sendError, sendJson } from './route.js'
import { EVENT_RING, type Sampler, startSampler } from './sampler.js'

const TOPICS_MAX = 100
const TOPICS_DEFAULT = 10
const EVENTS_DEFAULT = 100

interface Asset {
  /** Where it is: resolved once, read on first request. */
  file: string
  type: string
  body?: Buffer
}

/** The page's own files (the package's dashboard/ folder) and uPlot's, by URL path. */
function assets(): Map<string, Asset> {
  const dir = dashboardDir()
  const require = createRequire(import.meta.url)
  const page = (name: string, type: string): Asset => ({ file: `${dir}/${name}`, type })
  const index = page('index.html', 'text/html; charset=utf-8')
  return new Map<string, Asset>([
    ['/', index],
    ['/index.html', index],
    ...['app.js', 'format.js', 'api.js', 'charts.js'].map((name): [string, Asset] => [
      `/${name}`,
      page(name, 'text/javascript; charset=utf-8'),
    ]),
    ['/style.css', page('style.css', 'text/css; charset=utf-8')],
    ['/favicon.svg', page('favicon.svg', 'image/svg+xml')],
    [
      '/vendor/uPlot.iife.min.js',
      { file: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    ],
    [
      '/vendor/uPlot.min.css',
      { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
    ],
  ])
}

/** The dashboard/ folder beside dist/ (a package) or build/ (the repository's tests): the first one up. */
function dashboardDir(): string {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    const candidate = new URL('dashboard/', dir)
    if (existsSync(new URL('index.html', candidate))) return fileURLToPath(candidate).replace(/\/$/, '')
    if (dir.pathname === '/') throw new Error('dashboard: the dashboard/ folder is missing from the package')
  }
}

/**
 * The page loads only its own files: no inline script, nothing from elsewhere, not framed.
 * uPlot sets styles through the CSSOM, which style-src does not govern.
 */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
}

function sendAsset(res: ServerResponse, a: Asset, head: boolean): void {
  a.body ??= readFileSync(a.file)
  res.writeHead(200, {
    ...PAGE_HEADERS,
    'content-type': a.type,
    'content-length': a.body.length,
    'cache-control': 'no-cache',
  })
  res.end(head ? undefined : a.body)
}

/** `limit` from the query: default when absent, a whole number 1..max or null (bad request). */
function limitParam(url: URL, fallback: number, max: number): number | null {
  const raw = url.searchParams.get('limit')
  if (raw === null) return fallback
  if (!/^\d+$/.test(raw)) return null
  const n = Number(raw)
  return n >= 1 && n <= max ? n : null
}

/**
 * GET /api/v1/topics: the broker's sampled estimate (Broker.busiestTopics), in the API's shape:
 * each topic with its messages per second over the window.
 */
function busiestTopics(broker: Broker, n: number): { windowSeconds: number; items: TopicRate[] } {
  const b = broker.busiestTopics(n)
  return {
    windowSeconds: b.windowSeconds,
    items: b.items.map((t) => ({ topic: t.topic, messagesPerSecond: t.messagesPerSecond })),
  }
}

/** One busiest topic as GET /api/v1/topics gives it. */
export interface TopicRate {
  topic: string
  messagesPerSecond: number
}

/** The data endpoints under /api/v1/ that the dashboard reads. */
function dataRoute(
  ctx: HttpContext,
  sampler: Sampler,
  res: ServerResponse,
  url: URL,
  head: boolean,
): boolean {
  switch (url.pathname) {
    case '/api/v1/overview':
      sendJson(res, 200, sampler.latest())
      return true
    case '/api/v1/history':
      sendJson(res, 200, sampler.history())
      return true
    case '/api/v1/events': {
      const limit = limitParam(url, EVENTS_DEFAULT, EVENT_RING)
      if (limit === null) sendError(res, 400, 'bad-request', `limit must be a whole number 1..${EVENT_RING}`)
      else sendJson(res, 200, { items: sampler.recentEvents(limit) })
      return true
    }
    case '/api/v1/topics': {
      const limit = limitParam(url, TOPICS_DEFAULT, TOPICS_MAX)
      if (limit === null) sendError(res, 400, 'bad-request', `limit must be a whole number 1..${TOPICS_MAX}`)
      else sendJson(res, 200, busiestTopics(ctx.broker, limit))
      return true
    }
    case '/api/v1/stream':
      if (head) {
        // the headers a stream would have, and no stream
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
        })
        res.end()
      } else if (!openStream(sampler, res))
        sendError(res, 503, 'busy', `at most ${MAX_STREAMS} dashboard streams may be open at once`)
      return true
    default:
      return false
  }
}

const DATA_PATHS = new Set([
  '/api/v1/overview',
  '/api/v1/history',
  '/api/v1/events',
  '/api/v1/topics',
  '/api/v1/stream',
])

/**
 * The dashboard: the page at / with its files, and the data it reads (overview, history,
 * stream, events, topics). Its Sampler starts with the HTTP endpoint, so the charts hold the
 * hour before the page was opened, and stops when the endpoint closes.
 */
export function dashboardRoute(ctx: HttpContext): Route {
  const files = assets()
  const running = startSampler(ctx.broker)
  ctx.onClose(() => running.stop())
  return (req, res, url) => {
    const asset = files.get(url.pathname)
    if (asset === undefined && !DATA_PATHS.has(url.pathname)) return false
    const method = req.method ?? 'GET'
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      sendError(res, 405, 'method-not-allowed', `${method} is not allowed on ${url.pathname}`)
      return true
    }
    if (asset !== undefined) {
      sendAsset(res, asset, method === 'HEAD')
      return true
    }
    return dataRoute(ctx, running.sampler, res, url, method === 'HEAD')
  }
}
