/** The broker's typed events and its counters (for $SYS and embedders). */
import type { QoS } from '../protocol/constants.js'
import type { PublishProperties } from '../protocol/packets.js'
import type { LimitCounts } from './limits.js'
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
}

export interface BrokerStats {
  startedAt: number
  messagesReceived: number
  publishReceived: number
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
}
