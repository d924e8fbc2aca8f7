import type { Core } from './core.js'

/** A page of a listing: `items` from `offset`, at most `limit`, out of `total` matching. */
export interface Page<T> {
  total: number
  offset: number
  limit: number
  items: T[]
}

/** Paging and filtering of a listing (limit default 50, at most 1000). */
export interface PageQuery {
  offset?: number
  limit?: number
}

/** One client (a session, connected or not) as the admin API lists it. */
export interface ClientSummary {
  clientId: string
  username: string | null
  /** "ip:port" of the connection, null when not connected. */
  address: string | null
  /** 3, 4 or 5 (of the last connection). */
  protocolVersion: number
  connected: boolean
  /** ISO time of the current connection's CONNECT; null when not connected. */
  connectedSince: string | null
  /** Seconds, as granted. */
  keepalive: number
  /** True when the session is not kept after the connection (clean session / clean start with expiry 0). */
  cleanSession: boolean
  /** Seconds the session outlives its connection (4294967295: never). */
  sessionExpiryInterval: number
  subscriptions: number
  /** QoS 1/2 messages sent and not yet acknowledged. */
  inflight: number
  /** Messages waiting to be sent. */
  queued: number
  bytesIn: number
  bytesOut: number
  messagesIn: number
  messagesOut: number
}

export interface SubscriptionInfo {
  clientId: string
  /** As subscribed, `$share/group/...` included. */
  filter: string
  qos: number
  noLocal: boolean
  retainAsPublished: boolean
  retainHandling: number
  /** 0 when none. */
  subscriptionId: number
}

export interface ClientDetail extends ClientSummary {
  subscriptionList: SubscriptionInfo[]
}

export interface RetainedInfo {
  topic: string
  qos: number
  /** Payload size in bytes. */
  bytes: number
  /** Up to 256 bytes of the payload as UTF-8 (replacement characters where it is not). */
  preview: string
  /** ISO time it expires (MQTT 5 Message Expiry Interval), null when never. */
  expiresAt: string | null
}

export interface ClientQuery extends PageQuery {
  /** Substring of client id, username or address (case-insensitive). */
  search?: string
  connected?: boolean
  sort?:
    | 'clientId'
    | 'username'
    | 'address'
    | 'connectedSince'
    | 'inflight'
    | 'queued'
    | 'bytesIn'
    | 'bytesOut'
    | 'messagesIn'
    | 'messagesOut'
    | 'subscriptions'
  order?: 'asc' | 'desc'
}

/** Broker-wide figures computed by walking the sessions (O(sessions): at scrape or $SYS time, never per message). */
export interface DeliveryTotals {
  /** Sessions not ended when their connection ends. */
  persistentSessions: number
  inflight: number
  queued: number
  /** Shared subscriptions (filters starting $share/). */
  sharedSubscriptions: number
  /** Messages held for delivery (inflight + queued) plus retained messages ($SYS/broker/messages/stored). */
  storedMessages: number
  /** Payload bytes of those. */
  storedBytes: number
}

/**
 * The broker as an operator sees it: listings, look-ups and the few actions the admin
 * API offers. Reads the Core; never on the message path.
 */
export class BrokerAdmin {
  private readonly core: Core

  constructor(core: Core) {
    this.core = core
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

  // --- filled in by the admin-API work (helper "admin"): ---
  clients(_q: ClientQuery = {}): Page<ClientSummary> {
    throw new Error('BrokerAdmin.clients: not implemented yet')
  }
  client(_clientId: string): ClientDetail | null {
    throw new Error('BrokerAdmin.client: not implemented yet')
  }
  /** Disconnects a client (MQTT 5: DISCONNECT 0x98 Administrative action); false when not connected. */
  kick(_clientId: string): boolean {
    throw new Error('BrokerAdmin.kick: not implemented yet')
  }
  subscriptions(_q: PageQuery & { filter?: string; clientId?: string } = {}): Page<SubscriptionInfo> {
    throw new Error('BrokerAdmin.subscriptions: not implemented yet')
  }
  retained(_q: PageQuery & { filter?: string } = {}): Page<RetainedInfo> {
    throw new Error('BrokerAdmin.retained: not implemented yet')
  }
  /** Deletes a retained message (and from the store); false when there was none. */
  deleteRetained(_topic: string): boolean {
    throw new Error('BrokerAdmin.deleteRetained: not implemented yet')
  }
}
