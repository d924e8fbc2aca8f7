import { PetrelError } from '../errors.js'

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

/** The broker answered CONNECT with a non-zero return code (MQTT 3.1.1 table 3.1). */
export class ConnackRefusedError extends PetrelError {
  readonly returnCode: number
  constructor(returnCode: number) {
    const reason = CONNACK_REASONS[returnCode] ?? 'unknown return code'
    super(ClientErrorCode.CONNACK_REFUSED, `broker refused the connection: ${reason} (${returnCode})`)
    this.returnCode = returnCode
  }

  /** True for refusals that a retry cannot fix (all but 3, server unavailable). */
  get permanent(): boolean {
    return this.returnCode !== 3
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
