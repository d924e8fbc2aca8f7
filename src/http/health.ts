import type { ServerResponse } from 'node:http'
import { type HttpContext, type Route, sendError, sendJson } from './route.js'

/** What /readyz checked; every one must be as shown for 200. */
export interface ReadyChecks {
  /** The store's state is loaded (and the broker is not closing it). */
  store: boolean
  /** At least one MQTT listener is open. */
  listeners: boolean
  /** The broker or this endpoint is shutting down. */
  closing: boolean
}

/**
 * GET /healthz and GET /readyz, as Kubernetes probes expect: liveness answers 200 while the
 * process serves requests at all; readiness answers 503 until the broker can take clients
 * (store loaded, a listener open) and again once it is shutting down, so a load balancer
 * stops sending connections before they are refused.
 */
export function healthRoute(ctx: HttpContext): Route {
  let endpointClosing = false
  ctx.onClose(() => {
    endpointClosing = true
  })
  return (req, res, url) => {
    const path = url.pathname
    if (path !== '/healthz' && path !== '/readyz') return false
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      sendError(res, 405, 'method-not-allowed', `${path} takes GET`)
      return true
    }
    if (path === '/healthz') {
      send(res, req.method, 200, { status: 'ok' })
      return true
    }
    const { broker } = ctx
    const closing = broker.closingDown || endpointClosing
    const checks: ReadyChecks = {
      store: broker.loaded && !broker.closingDown,
      listeners: broker.openListeners.length > 0,
      closing,
    }
    const ready = checks.store && checks.listeners && !closing
    send(res, req.method, ready ? 200 : 503, { status: ready ? 'ready' : 'not-ready', checks })
    return true
  }
}

function send(res: ServerResponse, method: string | undefined, status: number, body: unknown): void {
  if (method !== 'HEAD') {
    sendJson(res, status, body)
    return
  }
  res.writeHead(status, { 'cache-control': 'no-store' })
  res.end()
}
