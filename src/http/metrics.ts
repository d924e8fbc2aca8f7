import { collectDefaultMetrics, Registry } from 'prom-client'
import { registerBrokerMetrics, type Scrape } from './broker-metrics.js'
import { type ClusterScrape, registerClusterMetrics } from './cluster-metrics.js'
import { type HttpContext, type Route, sendError } from './route.js'

/**
 * prom-client's process and Node.js metrics (process_*, nodejs_* with the event-loop lag,
 * heap, GC), once per process: they describe the process, not a broker, and the monitors
 * behind them (an event-loop delay histogram, a GC observer) cannot be stopped, so each
 * endpoint shares them rather than adding its own.
 */
let processRegistry: Registry | null = null

/**
 * How often the event-loop delay monitors (prom-client's and the dashboard sampler's) wake the
 * loop, in ms. Each wake-up costs CPU whether or not anyone looks: at prom-client's default of 10
 * ms a monitor takes about 8 ms of CPU a second (0.8 % of a core) on an idle broker, at 50 ms
 * about 1.7 ms (bench/http-cost.mjs). A stall still shows: it delays the wake-ups it overlaps.
 */
export const EVENT_LOOP_RESOLUTION_MS = 50

/**
 * prom-client defaults left out. Collecting them lists every libuv handle or resource: on a
 * broker with 10,000 connections that is about 10 ms per scrape for one socket count that
 * petrel_connections already gives. (Their `_total` gauges also break Prometheus' naming rule.)
 */
const WITHOUT = [
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
]

function processMetrics(): Registry {
  if (processRegistry === null) {
    processRegistry = new Registry()
    collectDefaultMetrics({
      register: processRegistry,
      eventLoopMonitoringPrecision: EVENT_LOOP_RESOLUTION_MS,
    })
    for (const name of WITHOUT) processRegistry.removeSingleMetric(name)
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
  let cluster: ClusterScrape | null = null
  registerClusterMetrics(own, () => {
    cluster ??= { status: ctx.broker.clusterStatus, connections: ctx.broker.connectedCount }
    return cluster
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
    cluster = null
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
