/**
 * What `petrel top` shows, whichever source it came from: the broker's HTTP endpoint
 * (GET /api/v1/overview, /api/v1/clients) or its $SYS topics. A figure the source does
 * not give is null and shown as '-'.
 */
export interface Figures {
  version: string | null
  uptimeSeconds: number | null
  connections: { current: Num; maximum: Num; accepted: Num; refused: Num }
  sessions: { current: Num; persistent: Num; disconnected: Num; expired: Num }
  subscriptions: Num
  sharedSubscriptions: Num
  retained: Num
  inflight: Num
  queued: Num
  /** Mosquitto's messages/stored and store/messages/bytes. */
  stored: { messages: Num; bytes: Num }
  /** PUBLISH packets and their bytes since the broker started; dropped messages. */
  totals: Traffic
  /** The same per second. */
  rates: Traffic & { connections: Num }
  store: { commitP99Seconds: Num; sizeBytes: Num }
  eventLoop: { delayP99Seconds: Num; utilization: Num }
  memory: { heapUsedBytes: Num; heapMaxBytes: Num; rssBytes: Num }
}

export type Num = number | null

export interface Traffic {
  messagesIn: Num
  messagesOut: Num
  bytesIn: Num
  bytesOut: Num
  dropped: Num
}

/** One row of the clients table (HTTP mode): the fields of the admin API's ClientSummary it shows. */
export interface ClientRow {
  clientId: string
  address: string | null
  protocolVersion: number | null
  connectedSince: string | null
  subscriptions: Num
  inflight: Num
  queued: Num
  bytesIn: Num
  bytesOut: Num
  messagesIn: Num
  messagesOut: Num
}

/** The keys `--sort` takes: the ClientSummary fields the admin API sorts by that top shows. */
export const SORT_KEYS = ['messagesIn', 'messagesOut', 'bytesIn', 'bytesOut', 'queued', 'inflight'] as const
export type SortKey = (typeof SORT_KEYS)[number]

function traffic(): Traffic {
  return { messagesIn: null, messagesOut: null, bytesIn: null, bytesOut: null, dropped: null }
}

/** Figures with nothing known yet. */
export function emptyFigures(): Figures {
  return {
    version: null,
    uptimeSeconds: null,
    connections: { current: null, maximum: null, accepted: null, refused: null },
    sessions: { current: null, persistent: null, disconnected: null, expired: null },
    subscriptions: null,
    sharedSubscriptions: null,
    retained: null,
    inflight: null,
    queued: null,
    stored: { messages: null, bytes: null },
    totals: traffic(),
    rates: { ...traffic(), connections: null },
    store: { commitP99Seconds: null, sizeBytes: null },
    eventLoop: { delayP99Seconds: null, utilization: null },
    memory: { heapUsedBytes: null, heapMaxBytes: null, rssBytes: null },
  }
}

type Json = Record<string, unknown>

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {}
}

/** A finite number, or null (a field missing or of the wrong type is unknown, not an error). */
function num(v: unknown): Num {
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

/** The body of GET /api/v1/overview (the dashboard's `Overview`) as Figures. */
export function figuresFromOverview(body: unknown): Figures {
  const o = obj(body)
  const c = obj(o.connections)
  const s = obj(o.sessions)
  const t = obj(o.totals)
  const r = obj(o.rates)
  const st = obj(o.store)
  const el = obj(o.eventLoop)
  const m = obj(o.memory)
  const current = num(s.current)
  const connected = num(c.current)
  return {
    // The API gives the bare version ('1.2.3'); $SYS says 'petrel version 1.2.3'.
    version:
      typeof o.version === 'string'
        ? /^\d/.test(o.version)
          ? `petrel version ${o.version}`
          : o.version
        : null,
    uptimeSeconds: num(o.uptimeSeconds),
    connections: {
      current: connected,
      maximum: num(c.maximum),
      accepted: num(c.accepted),
      refused: num(c.refused),
    },
    sessions: {
      current,
      persistent: num(s.persistent),
      disconnected: current !== null && connected !== null ? Math.max(0, current - connected) : null,
      expired: num(s.expired),
    },
    subscriptions: num(o.subscriptions),
    sharedSubscriptions: num(o.sharedSubscriptions),
    retained: num(o.retained),
    inflight: num(o.inflight),
    queued: num(o.queued),
    stored: { messages: null, bytes: null },
    totals: {
      messagesIn: num(t.messagesIn),
      messagesOut: num(t.messagesOut),
      bytesIn: num(t.bytesIn),
      bytesOut: num(t.bytesOut),
      dropped: num(t.dropped),
    },
    rates: {
      messagesIn: num(r.messagesIn),
      messagesOut: num(r.messagesOut),
      bytesIn: num(r.bytesIn),
      bytesOut: num(r.bytesOut),
      dropped: num(r.dropped),
      connections: num(r.connections),
    },
    store: { commitP99Seconds: num(st.commitP99Seconds), sizeBytes: num(st.sizeBytes) },
    eventLoop: { delayP99Seconds: num(el.delayP99Seconds), utilization: num(el.utilization) },
    memory: { heapUsedBytes: num(m.heapUsedBytes), heapMaxBytes: null, rssBytes: num(m.rssBytes) },
  }
}

/** The items of a GET /api/v1/clients page and its total. */
export function clientsFromPage(body: unknown): { rows: ClientRow[]; total: number | null } {
  const page = obj(body)
  const items = Array.isArray(page.items) ? page.items : []
  const rows = items.map((item): ClientRow => {
    const c = obj(item)
    return {
      clientId: typeof c.clientId === 'string' ? c.clientId : '?',
      address: typeof c.address === 'string' ? c.address : null,
      protocolVersion: num(c.protocolVersion),
      connectedSince: typeof c.connectedSince === 'string' ? c.connectedSince : null,
      subscriptions: num(c.subscriptions),
      inflight: num(c.inflight),
      queued: num(c.queued),
      bytesIn: num(c.bytesIn),
      bytesOut: num(c.bytesOut),
      messagesIn: num(c.messagesIn),
      messagesOut: num(c.messagesOut),
    }
  })
  return { rows, total: num(page.total) }
}
