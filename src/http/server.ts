import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Broker } from '../broker/broker.js'
import { adminRoute } from './admin-api.js'
import { dashboardRoute } from './dashboard.js'
import { healthRoute } from './health.js'
import { metricsRoute } from './metrics.js'
import { type HttpContext, type Route, sendError } from './route.js'

export interface HttpOptions {
  /** 0 picks a free port. */
  port: number
  /** Default 127.0.0.1: the endpoint is for operators, not the internet. */
  host?: string
}

/** The HTTP endpoint, listening. */
export interface HttpEndpoint {
  readonly port: number
  readonly host: string
  readonly url: string
  close(): Promise<void>
}

/**
 * Starts the operator's HTTP endpoint for a broker: /metrics, /healthz and /readyz, the admin
 * API under /api/v1/, and the dashboard at /.
 */
export async function startHttp(broker: Broker, options: HttpOptions): Promise<HttpEndpoint> {
  const closers: (() => void | Promise<void>)[] = []
  const ctx: HttpContext = { broker, log: broker.log, config: {}, onClose: (fn) => closers.push(fn) }
  const routes: Route[] = [healthRoute(ctx), metricsRoute(ctx), adminRoute(ctx), dashboardRoute(ctx)]
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    void serve(routes, req, res, url).catch((err: unknown) => {
      ctx.log.error({ err: String(err), path: url.pathname }, 'http: request failed')
      if (!res.headersSent) sendError(res, 500, 'internal', 'internal error')
      else res.destroy()
    })
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    host,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: async () => {
      for (const fn of closers.splice(0)) await fn()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}

async function serve(
  routes: Route[],
  req: Parameters<Route>[0],
  res: Parameters<Route>[1],
  url: URL,
): Promise<void> {
  for (const r of routes) if (await r(req, res, url)) return
  sendError(res, 404, 'not-found', `no such path: ${url.pathname}`)
}
