import type { ServerResponse } from 'node:http'
import type { NotableEvent } from '../broker/events.js'
import type { Overview, Sampler } from './sampler.js'

/** Notable events one stream passes on per second; more are left to GET /api/v1/events. */
export const NOTABLE_PER_SECOND = 20
/** Streams open at once (one per open page); more are refused with 503. */
export const MAX_STREAMS = 64
/**
 * Overviews a stream may miss in a row (one a second) while its socket stays backed up: then it
 * is closed, so a reader that stopped reading does not hold one of the MAX_STREAMS for ever.
 */
export const STALLED_TICKS = 30
/** How long EventSource waits before reconnecting a dropped stream. */
const RETRY_MS = 2000

/**
 * GET /api/v1/stream: Server-Sent Events for one page. `event: overview` once a second (as the
 * sampler ticks), `event: notable` as events happen, at most NOTABLE_PER_SECOND a second. A
 * client that does not read is not buffered for: while its socket is backed up, overviews are
 * skipped (the next one supersedes them) and notable events are left to /api/v1/events; one
 * backed up for STALLED_TICKS overviews is closed (EventSource reconnects a reader still there).
 */
export function openStream(sampler: Sampler, res: ServerResponse): boolean {
  if (sampler.listenerCount >= MAX_STREAMS) return false
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  let backedUp = false
  let missed = 0
  let second = 0
  let sentThisSecond = 0
  const send = (event: string, data: unknown): void => {
    if (backedUp || res.destroyed) return
    if (!res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)) {
      backedUp = true
      res.once('drain', () => {
        backedUp = false
        missed = 0
      })
    }
  }
  // the reconnect delay EventSource uses, then the current figures at once
  res.write(`retry: ${RETRY_MS}\n\n`)
  send('overview', sampler.latest())
  const stop = sampler.listen({
    overview: (o: Overview) => {
      if (backedUp && ++missed > STALLED_TICKS) res.destroy()
      else send('overview', o)
    },
    notable: (e: NotableEvent) => {
      const s = Math.floor(Date.now() / 1000)
      if (s !== second) {
        second = s
        sentThisSecond = 0
      }
      if (++sentThisSecond <= NOTABLE_PER_SECOND) send('notable', e)
    },
  })
  res.on('close', stop)
  return true
}
