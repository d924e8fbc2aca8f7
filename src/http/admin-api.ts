import type { IncomingMessage, ServerResponse } from 'node:http'
import { ConfigError } from '../errors.js'
import { BadQuery, clientQuery, retainedQuery, subscriptionQuery, topicName } from './admin-query.js'
import { brokerInfo } from './broker-info.js'
import { type HttpContext, type Route, sendError, sendJson } from './route.js'

const API = '/api/v1/'
const CLIENTS = '/api/v1/clients/'

/** One admin API resource: the handler of each method it answers. */
type Methods = Partial<Record<string, () => void>>

/**
 * The admin API (JSON, described in docs/openapi.yaml): the broker's info and settings, the
 * cluster as this node sees it, clients (list, look up, kick), subscriptions and retained
 * messages (list, delete one). Reads and acts
 * through `broker.admin`; a bad query parameter is a 400, an unknown client or topic a 404, a
 * method a path does not take a 405 (with `Allow`). Paths under /api/v1/ it does not know are
 * left to the other parts (the dashboard's data).
 */
export function adminRoute(ctx: HttpContext): Route {
  const { broker } = ctx
  const admin = broker.admin
  /** The user's settings, when startHttp was given them (see HttpOptions.config). */
  const given = (ctx as HttpContext & { readonly config?: Readonly<Record<string, unknown>> }).config
  return (req, res, url) => {
    const path = url.pathname
    if (!path.startsWith(API)) return false
    const q = url.searchParams
    let methods: Methods
    if (path === '/api/v1/broker') methods = { GET: () => sendJson(res, 200, brokerInfo(broker, given)) }
    else if (path === '/api/v1/cluster') methods = { GET: () => sendCluster(broker, res) }
    else if (path === '/api/v1/clients')
      methods = { GET: () => sendJson(res, 200, admin.clients(clientQuery(q))) }
    else if (path === '/api/v1/subscriptions')
      methods = { GET: () => sendJson(res, 200, admin.subscriptions(subscriptionQuery(q))) }
    else if (path === '/api/v1/retained')
      methods = {
        GET: () => sendJson(res, 200, admin.retained(retainedQuery(q))),
        DELETE: () => {
          const topic = topicName('topic', q.get('topic'))
          if (admin.deleteRetained(topic)) sendJson(res, 200, { deleted: true })
          else sendError(res, 404, 'not-found', `no retained message on topic '${topic}'`)
        },
      }
    else if (path.startsWith(CLIENTS)) {
      const found = clientMethods(ctx, req, res)
      if (found === null) return false
      methods = found
    } else return false
    answer(req, res, methods)
    return true
  }
}

/**
 * GET /api/v1/cluster: the cluster status of this node; a 404 when the broker is not a cluster
 * node (or not yet joined), as for any other thing the broker does not have.
 */
function sendCluster(broker: HttpContext['broker'], res: ServerResponse): void {
  const status = broker.clusterStatus
  if (status !== null) sendJson(res, 200, status)
  else
    sendError(res, 404, 'not-found', 'this broker is not a cluster node (or has not joined its cluster yet)')
}

/**
 * /api/v1/clients/{clientId} and /api/v1/clients/{clientId}/kick, the id URL-encoded (a client id
 * may hold '/', '?' or '%'). Read from the raw request path: a parsed URL would have turned an id
 * such as '..' into a path step. Null when the path is none of these.
 */
function clientMethods(ctx: HttpContext, req: IncomingMessage, res: ServerResponse): Methods | null {
  const raw = (req.url ?? '').split('?', 1)[0]!
  const at = raw.indexOf(CLIENTS)
  if (at < 0) return null
  const parts = raw.slice(at + CLIENTS.length).split('/')
  if (parts.length > 2 || (parts.length === 2 && parts[1] !== 'kick') || parts[0] === '') return null
  const admin = ctx.broker.admin
  const id = (): string => {
    try {
      return decodeURIComponent(parts[0]!)
    } catch {
      throw new BadQuery(`the client id in the path is not valid URL encoding: '${parts[0]}'`)
    }
  }
  if (parts.length === 1)
    return {
      GET: () => {
        const clientId = id()
        const detail = admin.client(clientId)
        if (detail !== null) sendJson(res, 200, detail)
        else sendError(res, 404, 'not-found', `no client '${clientId}'`)
      },
    }
  return {
    POST: () => {
      const clientId = id()
      if (admin.kick(clientId)) sendJson(res, 200, { kicked: true })
      else sendError(res, 404, 'not-found', `client '${clientId}' is not connected`)
    },
  }
}

/** Runs the handler of the request's method (HEAD as GET), or answers 405; bad parameters are 400. */
function answer(req: IncomingMessage, res: ServerResponse, methods: Methods): void {
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET')
  const run = methods[method]
  if (run === undefined) {
    const allow = Object.keys(methods)
      .flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))
      .join(', ')
    res.setHeader('allow', allow)
    sendError(res, 405, 'method-not-allowed', `${req.method} is not allowed here; use ${allow}`)
    return
  }
  try {
    run()
  } catch (err) {
    // a query the parsers let through and the broker still refuses is the caller's mistake too
    if (err instanceof BadQuery || err instanceof ConfigError) sendError(res, 400, 'bad-request', err.message)
    else throw err
  }
}
