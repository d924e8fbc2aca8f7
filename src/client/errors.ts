import { PetrelError } from '../errors.js'
import type { ConnackProperties, DisconnectProperties, UserProperties } from '../protocol/packets.js'
import { isTransientV5Refusal, reasonName } from './reasons.js'

/** Stable codes of the client's errors. */
export const ClientErrorCode = {
  CONNACK_REFUSED: 'PETREL_CONNACK_REFUSED',
  CONNECT_TIMEOUT: 'PETREL_CONNECT_TIMEOUT',
  CONNECT_FAILED: 'PETREL_CONNECT_FAILED',
  CONNECTION_LOST: 'PETREL_CONNECTION_LOST',
  PING_TIMEOUT: 'PETREL_PING_TIMEOUT',
  OFFLINE_QUEUE_FULL: 'PETREL_OFFLINE_QUEUE_FULL',
  CLIENT_ENDED: 'PETREL_CLIENT_ENDED',
  PUBLISH_TIMEOUT: 'PETREL_PUBLISH_TIMEOUT',
  INVALID_TOPIC: 'PETREL_INVALID_TOPIC',
  INVALID_QOS: 'PETREL_INVALID_QOS',
  UNEXPECTED_PACKET: 'PETREL_UNEXPECTED_PACKET',
  NO_PACKET_ID: 'PETREL_NO_PACKET_ID',
  PUBLISH_REFUSED: 'PETREL_PUBLISH_REFUSED',
  SERVER_LIMIT: 'PETREL_SERVER_LIMIT',
  SERVER_DISCONNECT: 'PETREL_SERVER_DISCONNECT',
  AUTH_FAILED: 'PETREL_AUTH_FAILED',
  REQUEST_TIMEOUT: 'PETREL_REQUEST_TIMEOUT',
  NEEDS_MQTT5: 'PETREL_NEEDS_MQTT5',
  INVALID_PROPERTY: 'PETREL_INVALID_PROPERTY',
  RESPONSE_TOPIC_REFUSED: 'PETREL_RESPONSE_TOPIC_REFUSED',
} as const
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode]

const CONNACK_REASONS: readonly string[] = [
  'accepted',
  'unacceptable protocol version',
  'identifier rejected',
  'server unavailable',
  'bad user name or password',
  'not authorized',
]

/**
 * The broker answered CONNECT with a non-zero return code (MQTT 3.1.1 table 3.1)
 * or, in MQTT 5, a Connect Reason Code of 0x80 or more.
 */
export class ConnackRefusedError extends PetrelError {
  /** The 3.1.1 return code, or the MQTT 5 reason code (the same number as `reasonCode`). */
  readonly returnCode: number
  readonly reasonCode: number
  readonly v5: boolean
  /** MQTT 5: the CONNACK's properties (reasonString, serverReference, ...). */
  readonly properties: ConnackProperties | undefined
  constructor(returnCode: number, v5 = false, properties?: ConnackProperties) {
    const reason = v5 ? reasonName(returnCode) : (CONNACK_REASONS[returnCode] ?? 'unknown return code')
    const code = v5 ? `0x${returnCode.toString(16)}` : String(returnCode)
    const extra = properties?.reasonString ? `: ${properties.reasonString}` : ''
    const moved = properties?.serverReference ? ` (server reference: ${properties.serverReference})` : ''
    super(
      ClientErrorCode.CONNACK_REFUSED,
      `broker refused the connection: ${reason} (${code})${extra}${moved}`,
    )
    this.returnCode = returnCode
    this.reasonCode = returnCode
    this.v5 = v5
    this.properties = properties
  }

  get reasonString(): string | undefined {
    return this.properties?.reasonString
  }

  /** MQTT 5 server redirection (0x9C Use another server, 0x9D Server moved) [MQTT-4.11]. */
  get serverReference(): string | undefined {
    return this.properties?.serverReference
  }

  /** True for refusals that a retry cannot fix (3.1.1: all but 3; MQTT 5: all but busy/unavailable/quota/rate). */
  get permanent(): boolean {
    return this.v5 ? !isTransientV5Refusal(this.returnCode) : this.returnCode !== 3
  }
}

/** MQTT 5: the broker refused a PUBLISH (PUBACK or PUBREC with a reason code of 0x80 or more, or PUBCOMP 0x92). */
export class PublishRefusedError extends PetrelError {
  readonly reasonCode: number
  readonly reasonString: string | undefined
  readonly userProperties: UserProperties | undefined
  constructor(reasonCode: number, reasonString?: string, userProperties?: UserProperties) {
    const extra = reasonString ? `: ${reasonString}` : ''
    super(
      ClientErrorCode.PUBLISH_REFUSED,
      `broker refused the publish: ${reasonName(reasonCode)} (0x${reasonCode.toString(16)})${extra}`,
    )
    this.reasonCode = reasonCode
    this.reasonString = reasonString
    this.userProperties = userProperties
  }
}

/** Which limit of the broker's CONNACK a packet would break. */
export type ServerLimit =
  | 'maximumPacketSize'
  | 'maximumQoS'
  | 'retainAvailable'
  | 'subscriptionIdentifiersAvailable'
  | 'wildcardSubscriptionAvailable'
  | 'sharedSubscriptionAvailable'

/**
 * MQTT 5: refused locally, before sending, because the broker said in its CONNACK that it
 * does not take it: a packet over its Maximum Packet Size [MQTT-3.2.2-15], a QoS over its
 * Maximum QoS [MQTT-3.2.2-11], a retained message when Retain Available is 0 [MQTT-3.2.2-14].
 * `reasonCode` is the code the broker would have answered with.
 */
export class ServerLimitError extends PetrelError {
  readonly limit: ServerLimit
  readonly reasonCode: number
  constructor(limit: ServerLimit, reasonCode: number, message: string) {
    super(ClientErrorCode.SERVER_LIMIT, `${message} (the broker's ${limit})`)
    this.limit = limit
    this.reasonCode = reasonCode
  }
}

/** MQTT 5: the broker closed the connection with a DISCONNECT and this reason. */
export class ServerDisconnectError extends PetrelError {
  readonly reasonCode: number
  readonly properties: DisconnectProperties | undefined
  constructor(reasonCode: number, properties?: DisconnectProperties) {
    const extra = properties?.reasonString ? `: ${properties.reasonString}` : ''
    const moved = properties?.serverReference ? ` (server reference: ${properties.serverReference})` : ''
    super(
      ClientErrorCode.SERVER_DISCONNECT,
      `broker disconnected: ${reasonName(reasonCode)} (0x${reasonCode.toString(16)})${extra}${moved}`,
    )
    this.reasonCode = reasonCode
    this.properties = properties
  }

  get reasonString(): string | undefined {
    return this.properties?.reasonString
  }

  get serverReference(): string | undefined {
    return this.properties?.serverReference
  }
}

/** MQTT 5 enhanced authentication failed: the handler threw, or the broker ended the exchange. */
export class AuthError extends PetrelError {
  /** The broker's reason code, when it gave one. */
  readonly reasonCode: number | undefined
  constructor(message: string, reasonCode?: number, cause?: unknown) {
    super(ClientErrorCode.AUTH_FAILED, message, { cause })
    this.reasonCode = reasonCode
  }
}

/** `request()` got no reply within its timeout. */
export class RequestTimeoutError extends PetrelError {
  readonly timeout: number
  readonly topic: string
  constructor(topic: string, timeout: number) {
    super(ClientErrorCode.REQUEST_TIMEOUT, `no reply to the request on ${topic} within ${timeout} ms`)
    this.timeout = timeout
    this.topic = topic
  }
}

/** Neither the transport nor a CONNACK arrived within `connectTimeout`. */
export class ConnectTimeoutError extends PetrelError {
  readonly timeout: number
  constructor(timeout: number) {
    super(ClientErrorCode.CONNECT_TIMEOUT, `no CONNACK within ${timeout} ms; is the broker reachable?`)
    this.timeout = timeout
  }
}

/** The transport failed or closed before the broker accepted the connection. */
export class ConnectFailedError extends PetrelError {
  constructor(cause: unknown) {
    const why = cause instanceof Error ? cause.message : 'connection closed before CONNACK'
    super(ClientErrorCode.CONNECT_FAILED, `could not connect: ${why}`, { cause })
  }
}

/** A live connection ended without the client asking for it. */
export class ConnectionLostError extends PetrelError {
  constructor(cause?: unknown) {
    const why = cause instanceof Error ? cause.message : 'closed by the peer'
    super(ClientErrorCode.CONNECTION_LOST, `connection lost: ${why}`, { cause })
  }
}

/** No PINGRESP in time: the connection is taken as dead. [MQTT-3.1.2-24] */
export class PingTimeoutError extends PetrelError {
  constructor(timeout: number) {
    super(ClientErrorCode.PING_TIMEOUT, `no PINGRESP within ${timeout} ms`)
  }
}

/** A publish made while offline found the queue full (`maxOfflineQueue`). */
export class OfflineQueueFullError extends PetrelError {
  readonly limit: number
  constructor(limit: number) {
    super(
      ClientErrorCode.OFFLINE_QUEUE_FULL,
      `offline queue is full (${limit} messages); raise maxOfflineQueue`,
    )
    this.limit = limit
  }
}

/** The client was ended (or gave up) before this operation completed. */
export class ClientEndedError extends PetrelError {
  constructor(cause?: unknown) {
    super(ClientErrorCode.CLIENT_ENDED, 'client ended before the operation completed', { cause })
  }
}

/** The publish did not complete within its timeout. The flow may still complete later. */
export class PublishTimeoutError extends PetrelError {
  readonly timeout: number
  constructor(timeout: number) {
    super(ClientErrorCode.PUBLISH_TIMEOUT, `publish not acknowledged within ${timeout} ms`)
    this.timeout = timeout
  }
}

/** A topic name or filter the client refuses to send. */
export class InvalidTopicError extends PetrelError {
  readonly topic: string
  constructor(topic: string, what: 'topic name' | 'topic filter') {
    super(ClientErrorCode.INVALID_TOPIC, `invalid ${what}: ${JSON.stringify(topic)}`)
    this.topic = topic
  }
}
