import type { Logger } from './options.js'

/**
 * The limits against abuse (issue 13), by the name they have in $SYS
 * (`$SYS/broker/limits/<name>/<what>`, see LIMITS) and in the one warning logged per offender.
 */
export type LimitName =
  | 'connections'
  | 'connections-per-ip'
  | 'connection-rate-per-ip'
  | 'packet-size'
  | 'keepalive'
  | 'topic-levels'
  | 'subscriptions-per-client'
  | 'inbound-rate'
  | 'inbound-bytes-rate'

/** How often each limit refused (or, for the inbound rates, slowed) someone. */
export type LimitCounts = Record<LimitName, number>

/** Each limit, the option that sets it, and what its $SYS counter counts. */
export const LIMITS: readonly { name: LimitName; option: string; counts: 'refused' | 'throttled' }[] = [
  { name: 'connections', option: 'maxConnections', counts: 'refused' },
  { name: 'connections-per-ip', option: 'maxConnectionsPerIp', counts: 'refused' },
  { name: 'connection-rate-per-ip', option: 'connectionRatePerIp', counts: 'refused' },
  { name: 'packet-size', option: 'maxPacketSize / maxConnectSize', counts: 'refused' },
  { name: 'keepalive', option: 'maxKeepalive', counts: 'refused' },
  { name: 'topic-levels', option: 'maxTopicLevels', counts: 'refused' },
  { name: 'subscriptions-per-client', option: 'maxSubscriptionsPerClient', counts: 'refused' },
  { name: 'inbound-rate', option: 'maxInboundRate', counts: 'throttled' },
  { name: 'inbound-bytes-rate', option: 'maxInboundBytesRate', counts: 'throttled' },
]

export function limitCounts(): LimitCounts {
  const c = {} as LimitCounts
  for (const l of LIMITS) c[l.name] = 0
  return c
}

/** Where a logged hit is also told as a `notable` event (Notable; not imported: events.ts imports this file). */
export interface LimitEvents {
  event(
    kind: 'limit',
    detail: string,
    fields: { clientId?: string | undefined; remoteAddress?: string | undefined },
  ): void
}

/** Offenders remembered per limit: past this, the longest-remembered one is forgotten (and may be logged again). */
const OFFENDERS_KEPT = 1024
/** Warnings per limit per minute at most; the offenders past it are summed up in one line the next minute. */
const LINES_PER_MINUTE = 100
const MINUTE = 60_000

/** What one limit remembers of its offenders. */
interface Offenders {
  seen: Set<string>
  since: number
  lines: number
  unlogged: number
}

/**
 * Counts each time a limit bites and logs a warning the first time a given offender (an
 * address, a client id) meets a given limit. A client hammering a limit cannot flood the log,
 * nor can many offenders (at most LINES_PER_MINUTE lines per limit a minute, the rest summed
 * up), and what is remembered is bounded (OFFENDERS_KEPT per limit, the oldest forgotten first).
 */
export class LimitLog {
  private readonly counts: LimitCounts
  private readonly logger: Logger
  private readonly offenders = new Map<LimitName, Offenders>()
  private readonly now: () => number
  private readonly notable: LimitEvents | null

  constructor(
    counts: LimitCounts,
    logger: Logger,
    now: () => number = Date.now,
    notable: LimitEvents | null = null,
  ) {
    this.counts = counts
    this.logger = logger
    this.now = now
    this.notable = notable
  }

  /** `limit` refused (or slowed) `offender`; `message` says what happened and which option sets it. */
  hit(limit: LimitName, offender: string, message: string, fields: object = {}): void {
    this.counts[limit]++
    let o = this.offenders.get(limit)
    if (o === undefined)
      this.offenders.set(limit, (o = { seen: new Set(), since: this.now(), lines: 0, unlogged: 0 }))
    const seen = o.seen
    if (seen.has(offender)) return
    if (seen.size >= OFFENDERS_KEPT) seen.delete(seen.values().next().value!)
    seen.add(offender)
    const now = this.now()
    if (now - o.since >= MINUTE) {
      if (o.unlogged > 0) {
        this.logger.warn(
          { limit, offenders: o.unlogged },
          `${o.unlogged} more offenders of ${limit} were not logged`,
        )
      }
      o.since = now
      o.lines = 0
      o.unlogged = 0
    }
    if (o.lines >= LINES_PER_MINUTE) {
      o.unlogged++
      return
    }
    o.lines++
    this.logger.warn({ limit, offender, ...fields }, `${message} (logged once per offender)`)
    const who = fields as { clientId?: string; remoteAddress?: string }
    this.notable?.event('limit', message, { clientId: who.clientId, remoteAddress: who.remoteAddress })
  }
}
