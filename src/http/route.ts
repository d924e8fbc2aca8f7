import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Broker } from '../broker/broker.js'
import type { Logger } from '../broker/options.js'

/** What every part of the HTTP endpoint is given. */
export interface HttpContext {
  readonly broker: Broker
  readonly log: Logger
  /**
   * The settings the broker was started with (a config file's keys, or an embedder's choice), for
   * /api/v1/broker; unredacted: the admin API redacts them. Empty when none were given.
   */
  readonly config: Readonly<Record<string, unknown>>
  /**
   * Registers work to do when the endpoint closes (a sampler's timer, open event streams): run
   * once, in registration order, before the listener's connections are closed.
   */
  onClose(fn: () => void | Promise<void>): void
}

/**
 * One part of the HTTP endpoint (metrics, health, admin API, dashboard): answers a request it
 * knows and returns true, or returns false to let the next part look. The server has checked
 * the bearer token (when one is set) before any part sees the request.
 */
export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>

/** Sends a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  res.end(text)
}

/** Sends the API's error body: `{ "error": { "code", "message" } }`. */
export function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } })
}
