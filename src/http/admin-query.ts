import { MAX_PAGE_LIMIT } from '../broker/admin-listing.js'
import {
  CLIENT_SORTS,
  type ClientQuery,
  type ClientSort,
  type PageQuery,
  type RetainedQuery,
  type SubscriptionQuery,
} from '../broker/admin-types.js'
import { PetrelError } from '../errors.js'
import { isValidTopicFilter, isValidTopicName } from '../protocol/topic.js'

/** A query parameter or path that is not valid: answered 400 `bad-request` with this message. */
export class BadQuery extends PetrelError {
  constructor(message: string) {
    super('PETREL_BAD_QUERY', message)
  }
}

const DIGITS = /^\d{1,15}$/

/** `offset` and `limit` (default 0 and 50; limit at most 1000). */
export function pageQuery(p: URLSearchParams): PageQuery {
  const q: PageQuery = {}
  const offset = p.get('offset')
  if (offset !== null) q.offset = whole('offset', offset, Number.MAX_SAFE_INTEGER)
  const limit = p.get('limit')
  if (limit !== null) q.limit = whole('limit', limit, MAX_PAGE_LIMIT)
  return q
}

function whole(name: string, text: string, max: number): number {
  const n = DIGITS.test(text) ? Number(text) : Number.NaN
  if (!(n <= max)) throw new BadQuery(`${name} must be a whole number from 0 to ${max}; got '${text}'`)
  return n
}

/** GET /api/v1/clients: `search`, `connected`, `sort`, `order` and the page. */
export function clientQuery(p: URLSearchParams): ClientQuery {
  const q: ClientQuery = pageQuery(p)
  const search = p.get('search')
  if (search !== null && search !== '') q.search = search
  const connected = p.get('connected')
  if (connected !== null && connected !== '') {
    if (connected !== 'true' && connected !== 'false')
      throw new BadQuery(`connected must be true or false; got '${connected}'`)
    q.connected = connected === 'true'
  }
  const sort = p.get('sort')
  if (sort !== null && sort !== '') {
    if (!(CLIENT_SORTS as readonly string[]).includes(sort))
      throw new BadQuery(`sort must be one of ${CLIENT_SORTS.join(', ')}; got '${sort}'`)
    q.sort = sort as ClientSort
  }
  const order = p.get('order')
  if (order !== null && order !== '') {
    if (order !== 'asc' && order !== 'desc') throw new BadQuery(`order must be asc or desc; got '${order}'`)
    q.order = order
  }
  return q
}

/** GET /api/v1/subscriptions: `match` (a topic name), `search`, `clientId` and the page. */
export function subscriptionQuery(p: URLSearchParams): SubscriptionQuery {
  const q: SubscriptionQuery = pageQuery(p)
  const match = p.get('match')
  if (match !== null && match !== '') q.match = topicName('match', match)
  const search = p.get('search')
  if (search !== null && search !== '') q.search = search
  const clientId = p.get('clientId')
  if (clientId !== null && clientId !== '') q.clientId = clientId
  return q
}

/** GET /api/v1/retained: `filter` (an MQTT topic filter, default #) and the page. */
export function retainedQuery(p: URLSearchParams): RetainedQuery {
  const q: RetainedQuery = pageQuery(p)
  const filter = p.get('filter')
  if (filter !== null && filter !== '') {
    if (!isValidTopicFilter(filter))
      throw new BadQuery(`filter must be a valid MQTT topic filter; got '${filter}'`)
    q.filter = filter
  }
  return q
}

/** A topic name parameter (no wildcards, not empty). */
export function topicName(name: string, value: string | null): string {
  if (value === null || value === '') throw new BadQuery(`${name} is required: a topic name`)
  if (!isValidTopicName(value)) throw new BadQuery(`${name} must be a topic name (no + or #); got '${value}'`)
  return value
}
