import { ConfigError } from '../errors.js'
import type { Page, PageQuery, RetainedInfo, SubscriptionInfo } from './admin-types.js'
import type { Message } from './message.js'
import { parseShared, type Sub } from './subscription.js'

/** Items per page when a query gives no limit, and the most it may ask for. */
export const DEFAULT_PAGE_LIMIT = 50
export const MAX_PAGE_LIMIT = 1000

/** The offset and limit of a query, checked (a ConfigError names the bad one). */
export function pageOf(q: PageQuery): { offset: number; limit: number } {
  const offset = q.offset ?? 0
  const limit = q.limit ?? DEFAULT_PAGE_LIMIT
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw new ConfigError('offset', `offset must be a whole number from 0; got ${String(offset)}`)
  if (!Number.isSafeInteger(limit) || limit < 0 || limit > MAX_PAGE_LIMIT)
    throw new ConfigError(
      'limit',
      `limit must be a whole number from 0 to ${MAX_PAGE_LIMIT}; got ${String(limit)}`,
    )
  return { offset, limit }
}

/** The page of `rows` a query asks for, each made into what the listing shows. */
export function pageFrom<R, T>(rows: readonly R[], q: PageQuery, show: (row: R) => T): Page<T> {
  const { offset, limit } = pageOf(q)
  const end = Math.min(rows.length, offset + limit)
  const items: T[] = []
  for (let i = offset; i < end; i++) items.push(show(rows[i]!))
  return { total: rows.length, offset, limit, items }
}

/** A sort key's value: null (unknown, not connected) sorts after every value, in either order. */
export type SortValue = string | number | null

/** A row to sort: its key, and a unique string that breaks ties. */
export interface Keyed {
  key: SortValue
  tie: string
}

/**
 * Sorts `rows` in place by key, then by tie (unique: the order is the same from one request to the
 * next, so pages neither overlap nor skip). Keys are computed once per row, not per comparison;
 * plain `<` on strings: code-unit order, fast.
 */
export function sortRows<R extends Keyed>(rows: R[], descending: boolean): void {
  const sign = descending ? -1 : 1
  rows.sort((a, b) => {
    const x = a.key
    const y = b.key
    if (x !== y) {
      if (x === null) return 1
      if (y === null) return -1
      return (x < y ? -1 : 1) * sign
    }
    return a.tie === b.tie ? 0 : (a.tie < b.tie ? -1 : 1) * sign
  })
}

/** Up to this many payload bytes shown of a retained message. */
const PREVIEW_BYTES = 256

/** The filter a subscription matches topics with: a shared one's own (after `$share/{group}/`). */
export function innerFilter(filter: string): string {
  const shared = parseShared(filter)
  return shared === null || shared === 'invalid' ? filter : shared.filter
}

export function subscriptionInfo(clientId: string, filter: string, sub: Sub): SubscriptionInfo {
  if (typeof sub === 'number')
    return {
      clientId,
      filter,
      qos: sub,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      subscriptionId: 0,
    }
  return {
    clientId,
    filter,
    qos: sub.qos,
    noLocal: sub.noLocal,
    retainAsPublished: sub.retainAsPublished,
    retainHandling: sub.retainHandling,
    subscriptionId: sub.subscriptionId,
  }
}

export function retainedInfo(m: Message): RetainedInfo {
  return {
    topic: m.topic,
    qos: m.qos,
    bytes: m.payload.length,
    preview: m.payload.subarray(0, PREVIEW_BYTES).toString('utf8'),
    expiresAt: m.expiresAt === 0 ? null : new Date(m.expiresAt).toISOString(),
  }
}
