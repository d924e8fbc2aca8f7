import { collectDefaultMetrics, Registry } from 'prom-client'
import { registerBrokerMetrics, type Scrape } from './broker-metrics.js'
import { type HttpContext, type Route, sendError } from './route.js'

/**
 * prom-client's process and Node.js metrics (process_*, nodejs_* with the event-loop lag,
 * heap, GC), once per process: they describe the process, not a broker, and the monitors
 * behind them (an event-loop delay histogram, a GC observer) cannot be stopped, so each
 * endpoint shares them rather than adding its own.
 */
let processRegistry: Registry | null = null

function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/**
 * GET /metrics: Prometheus text format, read from the broker's counters at scrape time
 * (see docs/metrics.md). Each endpoint has its own Registry: two brokers in one process
 * each show their own figures.
 */
export function metricsRoute(ctx: HttpContext): Route {
  const own = new Registry()
  let current: Scrape | null = null
  registerBrokerMetrics(own, ctx.broker, () => {
    current ??= { totals: ctx.broker.admin.totals() }
    return current
  })
  const shared = processMetrics()
  return async (req, res, url) => {
    if (url.pathname !== '/metrics') return false
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      sendError(res, 405, 'method-not-allowed', '/metrics takes GET')
      return true
    }
    current = null // walk the sessions again, once, for this scrape
    const registry = Registry.merge([own, shared])
    const text = await registry.metrics()
    res.writeHead(200, {
      'content-type': registry.contentType,
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    })
    res.end(req.method === 'HEAD' ? undefined : text)
    return true
  }
}
