/** The broker's typed events and its counters (for $SYS and embedders). */
import type { QoS } from '../protocol/constants.js'
import type { PublishProperties } from '../protocol/packets.js'
import { type LimitCounts, limitCounts } from './limits.js'
import type { ClientInfo } from './options.js'

export interface PublishedMessage {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  /** MQTT 5 properties it was published with (less Topic Alias and Message Expiry Interval); null when none. */
  properties: PublishProperties | null
}

/** Typed broker events. */
export interface BrokerEvents {
  clientConnected: [client: ClientInfo]
  clientDisconnected: [client: ClientInfo, reason: string]
  /** A message accepted for routing; `client` is null for wills and $SYS. */
  published: [message: PublishedMessage, client: ClientInfo | null]
  subscribed: [subscriptions: { topic: string; qos: number }[], client: ClientInfo]
  unsubscribed: [topics: string[], client: ClientInfo]
  /**
   * Something an operator wants to know, at most a few per second (the same moments as the
   * rate-limited log lines): the dashboard's event log listens. Never per message.
   */
  notable: [event: NotableEvent]
}

/** What `notable` tells. */
export interface NotableEvent {
  /** ms since the epoch. */
  time: number
  kind: NotableKind
  clientId?: string | undefined
  remoteAddress?: string | undefined
  /** One line a person reads. */
  detail: string
}

export type NotableKind =
  | 'refused' // a connection refused: CONNACK error, listener or limit
  | 'slow-consumer' // a subscriber disconnected for taking nothing
  | 'takeover' // a session taken over by a new connection with the same client id
  | 'dropping' // a run of dropped messages began (or doubled) for a client
  | 'store-error' // a store commit or write failed
  | 'limit' // a limit against abuse refused or slowed someone
  | 'kicked' // an operator disconnected a client (admin API)

/** Why connections were refused (`BrokerStats.refused`; metric label `reason`). */
export interface RefusedCounts {
  /** A listener's maxConnections, or a WebSocket upgrade it refused. */
  listener: number
  /** A TLS handshake that failed or did not finish. */
  tls: number
  /** maxConnectionsPerIp or connectionRatePerIp. */
  ipLimit: number
  /** CONNACK: unacceptable protocol version. */
  protocolVersion: number
  /** CONNACK: client identifier not valid. */
  clientId: number
  /** CONNACK: bad user name or password (or bad authentication method / data). */
  badCredentials: number
  /** CONNACK: not authorized. */
  notAuthorized: number
  /** CONNACK: server unavailable, busy, quota, banned or other refusals. */
  other: number
  /** No CONNECT within connectTimeout, or the first packet malformed or not a CONNECT. */
  protocolError: number
}

/** Why messages were not delivered (`BrokerStats.drops`; metric label `reason`, with `expired` from `BrokerStats.expired`). */
export interface DropCounts {
  /** A subscriber's queue (maxQueuedMessages) was full: QoS 1/2 dropped. */
  queueFull: number
  /** QoS 0 over a subscriber's output budget (maxOutputBuffer) dropped. */
  qos0Budget: number
  /** Larger than the subscriber's Maximum Packet Size [MQTT-3.1.2-25]. */
  tooLarge: number
  /** Refused by authorizePublish (or a write ACL), or filtered by authorizeRead on delivery. */
  notAuthorized: number
  /** Published to a topic nobody subscribed to. */
  noSubscribers: number
}

/**
 * PUBLISH counts by protocol version and QoS: index `(protocolVersion - 3) * 3 + qos`
 * (3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0); 9 entries.
 */
export type ByVersionQos = number[]

/** Store commit latency histogram (seconds), filled by the Flusher for stores that commit. */
export interface CommitHistogram {
  /** Upper bounds in seconds, ascending (`COMMIT_BUCKETS`). */
  readonly bounds: readonly number[]
  /** Commits at or under each bound (not cumulative: `counts[i]` is for bounds[i-1] < t <= bounds[i]); one more entry for +Inf. */
  readonly counts: number[]
  count: number
  /** Sum of commit times in seconds. */
  sum: number
}

export const COMMIT_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
]

export function commitHistogram(): CommitHistogram {
  return { bounds: COMMIT_BUCKETS, counts: new Array(COMMIT_BUCKETS.length + 1).fill(0), count: 0, sum: 0 }
}

export interface BrokerStats {
  startedAt: number
  messagesReceived: number
  bytesReceived: number
  messagesSent: number
  bytesSent: number
  dropped: number
  /** Messages deleted unsent because their Message Expiry Interval passed [MQTT-3.3.2-5]. */
  expired: number
  maxConnected: number
  // issue 13: transport
  /** Connections a listener closed at once: over its maxConnections, or a refused WebSocket upgrade. */
  listenerRefused: number
  /** TLS handshakes that failed or did not finish within connectTimeout. */
  tlsHandshakeFailures: number
  // issue 13: limits
  /** How often each limit refused or slowed someone ($SYS/broker/limits/...). */
  limits: LimitCounts
  // issue 14: operations
  /** CONNECTs accepted since start. */
  connectionsAccepted: number
  /** Sockets (any listener) accepted since start ($SYS/broker/load/sockets). */
  socketsOpened: number
  refused: RefusedCounts
  drops: DropCounts
  /** Sessions that ended because their expiry interval passed ($SYS/broker/clients/expired). */
  sessionsExpired: number
  /** Subscribers disconnected for taking nothing for slowConsumerTimeout. */
  slowConsumerDisconnects: number
  /** Sessions taken over by a new connection with the same client id. */
  takeovers: number
  /** Authorisation refusals: PUBLISH (and wills), SUBSCRIBE filters, deliveries filtered by authorizeRead. */
  denied: { publish: number; subscribe: number; read: number }
  /** PUBLISH packets received, by version and QoS (see ByVersionQos). */
  publishIn: ByVersionQos
  /** Bytes of the PUBLISH packets received, by version and QoS. */
  publishInBytes: ByVersionQos
  /** PUBLISH packets sent, by the receiver's version and the QoS sent at. */
  publishOut: ByVersionQos
  publishOutBytes: ByVersionQos
  /** Payload bytes of the PUBLISH packets received ($SYS/broker/publish/bytes/received, as Mosquitto counts them). */
  publishPayloadIn: number
  /** Payload bytes of the PUBLISH packets sent ($SYS/broker/publish/bytes/sent). */
  publishPayloadOut: number
  /** Store commit latency (only stores with real commits: SQLite, JetStream). */
  commits: CommitHistogram
  /** Store commits or writes that failed. */
  storeErrors: number
}

/** Every counter at zero, started now. */
export function brokerStats(): BrokerStats {
  return {
    startedAt: Date.now(),
    messagesReceived: 0,
    bytesReceived: 0,
    messagesSent: 0,
    bytesSent: 0,
    dropped: 0,
    expired: 0,
    maxConnected: 0,
    listenerRefused: 0,
    tlsHandshakeFailures: 0,
    limits: limitCounts(),
    connectionsAccepted: 0,
    socketsOpened: 0,
    refused: {
      listener: 0,
      tls: 0,
      ipLimit: 0,
      protocolVersion: 0,
      clientId: 0,
      badCredentials: 0,
      notAuthorized: 0,
      other: 0,
      protocolError: 0,
    },
    drops: { queueFull: 0, qos0Budget: 0, tooLarge: 0, notAuthorized: 0, noSubscribers: 0 },
    sessionsExpired: 0,
    slowConsumerDisconnects: 0,
    takeovers: 0,
    denied: { publish: 0, subscribe: 0, read: 0 },
    publishIn: new Array(9).fill(0),
    publishInBytes: new Array(9).fill(0),
    publishOut: new Array(9).fill(0),
    publishOutBytes: new Array(9).fill(0),
    publishPayloadIn: 0,
    publishPayloadOut: 0,
    commits: commitHistogram(),
    storeErrors: 0,
  }
}
