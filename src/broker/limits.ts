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

/** Offenders remembered per limit: past this, the longest-remembered one is forgotten (and may be logged again). */
const OFFENDERS_KEPT = 1024

/**
 * Counts each time a limit bites and logs a warning the first time a given offender (an
 * address, a client id) meets a given limit: a client hammering a limit cannot flood the
 * log, and what is remembered is bounded (OFFENDERS_KEPT per limit, oldest forgotten first).
 */
export class LimitLog {
  private readonly counts: LimitCounts
  private readonly logger: Logger
  private readonly seen = new Map<LimitName, Set<string>>()

  constructor(counts: LimitCounts, logger: Logger) {
    this.counts = counts
    this.logger = logger
  }

  /** `limit` refused (or slowed) `offender`; `message` says what happened and which option sets it. */
  hit(limit: LimitName, offender: string, message: string, fields: object = {}): void {
    this.counts[limit]++
    let seen = this.seen.get(limit)
    if (seen === undefined) this.seen.set(limit, (seen = new Set()))
    if (seen.has(offender)) return
    if (seen.size >= OFFENDERS_KEPT) seen.delete(seen.values().next().value!)
    seen.add(offender)
    this.logger.warn({ limit, offender, ...fields }, `${message} (logged once per offender)`)
  }
}
