import { ConfigError } from '../errors.js'
import { ReasonCode } from '../protocol/constants.js'
import { isValidTopicFilter, isValidTopicName, topicMatches } from '../protocol/topic.js'
import {
  innerFilter,
  type Keyed,
  pageFrom,
  pageOf,
  retainedInfo,
  type SortValue,
  sortRows,
  subscriptionInfo,
} from './admin-listing.js'
import {
  CLIENT_SORTS,
  type ClientDetail,
  type ClientQuery,
  type ClientSort,
  type ClientSummary,
  type DeliveryTotals,
  type Page,
  type RetainedInfo,
  type RetainedQuery,
  type SubscriptionInfo,
  type SubscriptionQuery,
} from './admin-types.js'
import type { Core } from './core.js'
import type { Message } from './message.js'
import type { Peer } from './peer.js'
import type { Session } from './session.js'
import type { Sub } from './subscription.js'

export * from './admin-types.js'

/** What a session's last connection was, kept for the listing once it is gone. */
interface LastSeen {
  protocolVersion: number
  username: string | null
}

/** A session with its connection (null: none) and its sort key, for one listing. */
interface ClientRow extends Keyed {
  s: Session
  p: Peer | null
}

interface SubRow extends Keyed {
  clientId: string
  filter: string
  sub: Sub
}

/**
 * The broker as an operator sees it: listings, look-ups and the few actions the admin
 * API offers. Reads the Core; never on the message path. Listings walk the sessions (or the
 * retained trie) per request, which is what keeps the message path free of any bookkeeping:
 * 10,000 sessions take a few milliseconds.
 */
export class BrokerAdmin {
  private readonly core: Core
  /** By session: what its last connection was (the summary of a client that is away). */
  private readonly lastSeen = new WeakMap<Session, LastSeen>()

  constructor(core: Core) {
    this.core = core
    core.events.on('clientDisconnected', (client) => {
      const s = core.sessions.get(client.id)
      if (s !== undefined && s.link === null)
        this.lastSeen.set(s, { protocolVersion: client.protocolVersion, username: client.username ?? null })
    })
  }

  totals(): DeliveryTotals {
    const t: DeliveryTotals = {
      persistentSessions: 0,
      inflight: 0,
      queued: 0,
      sharedSubscriptions: 0,
      storedMessages: 0,
      storedBytes: 0,
    }
    for (const s of this.core.sessions.values()) {
      if (!s.clean) t.persistentSessions++
      t.inflight += s.outbound.size
      t.queued += s.queued
      for (const f of s.subscriptions.keys()) if (f.startsWith('$share/')) t.sharedSubscriptions++
    }
    t.storedMessages = t.inflight + t.queued + this.core.router.retainedCount
    // payloads of retained messages (counted as they are set); those queued or in flight are not counted yet
    t.storedBytes = this.core.router.retainedBytes
    return t
  }

  /** Clients (every session, connected or not), filtered, sorted and paged. ConfigError for a bad query. */
  clients(q: ClientQuery = {}): Page<ClientSummary> {
    pageOf(q) // a bad page is refused before any work
    const sort = q.sort ?? 'clientId'
    if (!CLIENT_SORTS.includes(sort))
      throw new ConfigError('sort', `sort must be one of ${CLIENT_SORTS.join(', ')}`)
    const needle = q.search === undefined || q.search === '' ? null : q.search.toLowerCase()
    const rows: ClientRow[] = []
    for (const s of this.core.sessions.values()) {
      const p = this.peerOf(s)
      if (q.connected !== undefined && q.connected !== (p !== null)) continue
      if (needle !== null && !this.found(s, p, needle)) continue
      rows.push({ s, p, key: null, tie: s.clientId })
    }
    if (sort !== 'clientId') for (const r of rows) r.key = this.sortKey(r, sort)
    else for (const r of rows) r.key = r.tie
    sortRows(rows, q.order === 'desc')
    return pageFrom(rows, q, (r) => this.summary(r.s, r.p))
  }

  /** A client by its id (connected or not), with its subscriptions; null when there is no such session. */
  client(clientId: string): ClientDetail | null {
    const s = this.core.sessions.get(clientId)
    if (s === undefined) return null
    const subscriptionList: SubscriptionInfo[] = []
    for (const [filter, sub] of s.subscriptions)
      subscriptionList.push(subscriptionInfo(clientId, filter, sub))
    subscriptionList.sort((a, b) => (a.filter < b.filter ? -1 : a.filter > b.filter ? 1 : 0))
    return { ...this.summary(s, this.peerOf(s)), subscriptionList }
  }

  /**
   * Disconnects a client as an operator: an MQTT 5 client is first sent DISCONNECT 0x98
   * (Administrative action), a 3.1.1 one is just closed. It is not a normal disconnect: its will
   * is published [MQTT-3.1.2-8]. Its session stays when it is persistent. False when not connected.
   */
  kick(clientId: string): boolean {
    const s = this.core.sessions.get(clientId)
    const p = s === undefined ? null : this.peerOf(s)
    if (p === null) return false
    const remoteAddress = p.remoteAddress
    // one log line and one notable event, rate-limited with the others (notable.ts)
    this.core.notable.report('kicked', 'info', `client ${clientId} kicked by an operator (admin API)`, {
      clientId,
      remoteAddress,
    })
    p.close('kicked by an operator', true, false, ReasonCode.ADMINISTRATIVE_ACTION)
    return true
  }

  /** Subscriptions, by client id then filter, paged. ConfigError for a `match` that is not a topic name. */
  subscriptions(q: SubscriptionQuery = {}): Page<SubscriptionInfo> {
    pageOf(q)
    const match = q.match
    if (match !== undefined && !isValidTopicName(match))
      throw new ConfigError('match', `match must be a topic name (no + or #, not empty); got '${match}'`)
    const needle = q.search === undefined || q.search === '' ? null : q.search.toLowerCase()
    const rows: SubRow[] = []
    const add = (s: Session): void => {
      for (const [filter, sub] of s.subscriptions) {
        if (needle !== null && !filter.toLowerCase().includes(needle)) continue
        if (match !== undefined && !topicMatches(innerFilter(filter), match)) continue
        rows.push({ clientId: s.clientId, filter, sub, key: s.clientId, tie: filter })
      }
    }
    if (q.clientId !== undefined) {
      const s = this.core.sessions.get(q.clientId)
      if (s !== undefined) add(s)
    } else for (const s of this.core.sessions.values()) add(s)
    sortRows(rows, false)
    return pageFrom(rows, q, (r) => subscriptionInfo(r.clientId, r.filter, r.sub))
  }

  /**
   * Retained messages whose topic matches an MQTT filter (default '#'), by topic, paged; those
   * already expired are left out. ConfigError for a filter that is not valid.
   */
  retained(q: RetainedQuery = {}): Page<RetainedInfo> {
    pageOf(q)
    const filter = q.filter ?? '#'
    if (!isValidTopicFilter(filter))
      throw new ConfigError('filter', `filter must be a valid MQTT topic filter; got '${filter}'`)
    const now = Date.now()
    const rows: (Keyed & { m: Message })[] = []
    for (const m of this.core.router.retained.match(filter)) {
      if (m.expiresAt === 0 || m.expiresAt > now) rows.push({ m, key: null, tie: m.topic })
    }
    sortRows(rows, false)
    return pageFrom(rows, q, (r) => retainedInfo(r.m))
  }

  /**
   * Deletes the retained message of a topic, in memory and in the store, as an empty retained
   * PUBLISH would [MQTT-3.3.1-10] (but nobody is sent anything). False when there was none.
   */
  deleteRetained(topic: string): boolean {
    if (!isValidTopicName(topic))
      throw new ConfigError('topic', `topic must be a topic name (no + or #, not empty); got '${topic}'`)
    return this.core.router.deleteRetained(topic)
  }

  /** The connection a session is attached to, when it is one of the broker's (it always is). */
  private peerOf(s: Session): Peer | null {
    const link = s.link as Peer | null
    return link !== null && this.core.peers.has(link) ? link : null
  }

  private found(s: Session, p: Peer | null, needle: string): boolean {
    if (s.clientId.toLowerCase().includes(needle)) return true
    const user = p !== null ? p.username : this.lastSeen.get(s)?.username
    if (user?.toLowerCase().includes(needle) === true) return true
    return p?.remoteAddress?.toLowerCase().includes(needle) === true
  }

  private sortKey(r: ClientRow, sort: ClientSort): SortValue {
    const { s, p } = r
    switch (sort) {
      case 'clientId':
        return s.clientId
      case 'username':
        return (p !== null ? p.username : this.lastSeen.get(s)?.username) ?? null
      case 'address':
        return p?.remoteAddress ?? null
      case 'connectedSince':
        return p === null ? null : p.figures.connectedAt
      case 'inflight':
        return s.outbound.size
      case 'queued':
        return s.queued
      case 'subscriptions':
        return s.subscriptions.size
      case 'bytesIn':
        return p === null ? 0 : p.figures.bytesIn
      case 'bytesOut':
        return p === null ? 0 : p.flushed
      case 'messagesIn':
        return p === null ? 0 : p.figures.messagesIn
      case 'messagesOut':
        return p === null ? 0 : p.figures.messagesOut
    }
  }

  private summary(s: Session, p: Peer | null): ClientSummary {
    const last = p === null ? this.lastSeen.get(s) : undefined
    return {
      clientId: s.clientId,
      username: p !== null ? (p.username ?? null) : (last?.username ?? null),
      address: p?.remoteAddress ?? null,
      protocolVersion: p !== null ? p.protocolVersion : (last?.protocolVersion ?? 0),
      connected: p !== null,
      connectedSince:
        p === null || p.figures.connectedAt === 0 ? null : new Date(p.figures.connectedAt).toISOString(),
      keepalive: p === null ? 0 : p.figures.keepaliveSeconds,
      cleanSession: s.expiryInterval === 0,
      sessionExpiryInterval: s.expiryInterval,
      subscriptions: s.subscriptions.size,
      inflight: s.outbound.size,
      queued: s.queued,
      bytesIn: p === null ? 0 : p.figures.bytesIn,
      bytesOut: p === null ? 0 : p.flushed,
      messagesIn: p === null ? 0 : p.figures.messagesIn,
      messagesOut: p === null ? 0 : p.figures.messagesOut,
    }
  }
}
