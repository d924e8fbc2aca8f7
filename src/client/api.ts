import type { QoS } from '../protocol/constants.js'
import type {
  ConnackProperties,
  DisconnectProperties,
  PublishPacket,
  PublishProperties,
  UserProperties,
} from '../protocol/packets.js'

/** The client's public types: its events, and the options and results of its methods. */

/** Typed client events. */
export interface ClientEvents {
  /**
   * The broker accepted a connection (the first one too, before `connect()` resolves).
   * 3.1.1: `{ sessionPresent }`; MQTT 5: the whole ConnackInfo.
   */
  connect: [connack: { sessionPresent: boolean } | ConnackInfo]
  /** MQTT 5: the broker sent DISCONNECT; 'offline' (or 'close') follows with a ServerDisconnectError. */
  disconnect: [info: DisconnectInfo]
  /**
   * MQTT 5 server redirection [MQTT-4.11]: a CONNACK or DISCONNECT with 0x9C Use another
   * server or 0x9D Server moved named this Server Reference. The client does not follow it.
   */
  redirect: [serverReference: string, reasonCode: number]
  /** A reconnect attempt starts. */
  reconnect: [attempt: number]
  /** A live connection was lost; reconnecting follows when enabled. */
  offline: [error: Error]
  /** The client stopped for good: `end()`, or `error` when it gave up. */
  close: [error: Error | undefined]
  /** Emitted only while listened to: failed reconnect attempts, errors thrown by 'message' listeners. */
  error: [error: Error]
  message: [topic: string, payload: Buffer, packet: PublishPacket]
}

/** The broker's CONNACK of the current (or last) connection. */
export interface ConnackInfo {
  sessionPresent: boolean
  /** 0: accepted. */
  reasonCode: number
  /** MQTT 5: what the broker said it allows (maximumQoS, receiveMaximum, topicAliasMaximum, ...). */
  properties: ConnackProperties
}

/** MQTT 5: a DISCONNECT from the broker. */
export interface DisconnectInfo {
  reasonCode: number
  properties: DisconnectProperties
}

export interface PublishOptions {
  qos?: QoS
  retain?: boolean
  /** Milliseconds; overrides the client's `publishTimeout`. */
  timeout?: number
  /**
   * MQTT 5: payloadFormatIndicator, messageExpiryInterval, contentType, responseTopic,
   * correlationData, userProperties. Topic aliases are the client's to assign (`topicAliases`).
   */
  properties?: PublishProperties
}

export interface SubscribeOptions {
  /** QoS asked for each filter given as a string. Default 0. */
  qos?: QoS
  /** MQTT 5: not sent back this client's own messages. */
  noLocal?: boolean
  /** MQTT 5: forwarded messages keep the RETAIN flag they were published with. */
  retainAsPublished?: boolean
  /** MQTT 5: 0 retained messages at subscribe (default), 1 only for a new subscription, 2 never. */
  retainHandling?: 0 | 1 | 2
  /** MQTT 5: 1..268435455, given back on every message this subscription matches. */
  subscriptionIdentifier?: number
  /** MQTT 5: user properties of the SUBSCRIBE. */
  userProperties?: UserProperties
}

export interface UnsubscribeOptions {
  /** MQTT 5: user properties of the UNSUBSCRIBE. */
  userProperties?: UserProperties
}

export interface EndOptions {
  /** Drop the connection at once, without DISCONNECT (the broker then publishes the will). */
  force?: boolean
  /** MQTT 5: the DISCONNECT reason; 0x04 asks the broker to publish the will. Default 0x00. */
  reasonCode?: number
  /** MQTT 5: a new Session Expiry Interval (not from 0 to non-zero [MQTT-3.14.2-2]). */
  sessionExpiryInterval?: number
  reasonString?: string
  userProperties?: UserProperties
}

export interface RespondOptions {
  /** Default: the QoS of the request. */
  qos?: QoS
  /** Further properties of the reply (its Correlation Data is the request's). */
  properties?: PublishProperties
}
