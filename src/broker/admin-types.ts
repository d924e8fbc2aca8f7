/** The admin API's shapes (BrokerAdmin, admin.ts; described for HTTP in docs/openapi.yaml). */

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
  /** The client's IP address, null when not connected. */
  address: string | null
  /**
   * 3, 4 or 5: of the current connection, or of the last one; 0 when not known (a session
   * restored from the store whose client has not connected since).
   */
  protocolVersion: number
  connected: boolean
  /** ISO time of the current connection's CONNECT; null when not connected. */
  connectedSince: string | null
  /** Seconds, as granted to the current connection; 0 when not connected. */
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
  /** Bytes read from and taken by the network, on the current connection (0 when not connected). */
  bytesIn: number
  bytesOut: number
  /** PUBLISH packets received and sent on the current connection (0 when not connected). */
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
  /** Default ascending; values not known (null) come last either way. */
  order?: 'asc' | 'desc'
}

export type ClientSort = NonNullable<ClientQuery['sort']>
/** The keys `ClientQuery.sort` takes. */
export const CLIENT_SORTS: readonly ClientSort[] = [
  'clientId',
  'username',
  'address',
  'connectedSince',
  'inflight',
  'queued',
  'bytesIn',
  'bytesOut',
  'messagesIn',
  'messagesOut',
  'subscriptions',
]

export interface SubscriptionQuery extends PageQuery {
  /** A topic name: only the subscriptions a message to it would reach ($share/ ones by their filter). */
  match?: string
  /** Substring of the filter (case-insensitive). */
  search?: string
  /** Only this client's. */
  clientId?: string
}

export interface RetainedQuery extends PageQuery {
  /** An MQTT topic filter; default '#' (which, as MQTT has it, leaves out $SYS/...). */
  filter?: string
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
