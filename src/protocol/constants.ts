/** MQTT control packet types (fixed header, bits 7-4). [MQTT-2.2.1] */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  /** MQTT 5 only. */
  AUTH: 15,
} as const
export type PacketType = (typeof PacketType)[keyof typeof PacketType]

export const PACKET_NAMES: readonly string[] = [
  'reserved',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'AUTH',
]

/** Protocol levels: 3 is MQTT 3.1 ("MQIsdp"), 4 is MQTT 3.1.1, 5 is MQTT 5.0. */
export type ProtocolVersion = 3 | 4 | 5
export const PROTOCOL_V31 = 3
export const PROTOCOL_V311 = 4
export const PROTOCOL_V5 = 5

export type QoS = 0 | 1 | 2

/** CONNACK return codes of MQTT 3.1.1, table 3.1. */
export const ConnectReturnCode = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const
export type ConnectReturnCode = (typeof ConnectReturnCode)[keyof typeof ConnectReturnCode]

/** SUBACK return code for a refused subscription. [MQTT-3.9.3] */
export const SUBACK_FAILURE = 0x80

/** Largest value of the variable-length remaining length field (four bytes). [MQTT-2.2.3] */
export const MAX_REMAINING_LENGTH = 268_435_455
/** The largest packet MQTT allows: the fixed header's byte, four of remaining length, the rest. */
export const MAX_PACKET_SIZE = MAX_REMAINING_LENGTH + 5
/** Largest string or binary field: a two-byte length prefix. [MQTT-1.5.3] */
export const MAX_STRING_BYTES = 65_535
export const MAX_PACKET_ID = 65_535

/** Fixed-header flag bits that are required for the packet types whose flags are reserved. [MQTT-2.2.2-1] */
export const REQUIRED_FLAGS: readonly number[] = [
  -1, // reserved type 0
  0, // CONNECT
  0, // CONNACK
  -1, // PUBLISH: flags carry DUP, QoS, RETAIN
  0, // PUBACK
  0, // PUBREC
  2, // PUBREL [MQTT-3.6.1-1]
  0, // PUBCOMP
  2, // SUBSCRIBE [MQTT-3.8.1-1]
  0, // SUBACK
  2, // UNSUBSCRIBE [MQTT-3.10.1-1]
  0, // UNSUBACK
  0, // PINGREQ
  0, // PINGRESP
  0, // DISCONNECT
  0, // AUTH (MQTT 5 only; reserved in 3.1.1) [MQTT-3.15.1-1]
]

/**
 * MQTT 5 reason codes (section 2.4). One byte; below 0x80 success, 0x80 and above
 * failure. The same value has the same meaning in every packet that may carry it.
 */
export const ReasonCode = {
  SUCCESS: 0x00,
  NORMAL_DISCONNECTION: 0x00,
  GRANTED_QOS_0: 0x00,
  GRANTED_QOS_1: 0x01,
  GRANTED_QOS_2: 0x02,
  DISCONNECT_WITH_WILL_MESSAGE: 0x04,
  NO_MATCHING_SUBSCRIBERS: 0x10,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  CONTINUE_AUTHENTICATION: 0x18,
  RE_AUTHENTICATE: 0x19,
  UNSPECIFIED_ERROR: 0x80,
  MALFORMED_PACKET: 0x81,
  PROTOCOL_ERROR: 0x82,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  CLIENT_IDENTIFIER_NOT_VALID: 0x85,
  BAD_USER_NAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  BANNED: 0x8a,
  SERVER_SHUTTING_DOWN: 0x8b,
  BAD_AUTHENTICATION_METHOD: 0x8c,
  KEEP_ALIVE_TIMEOUT: 0x8d,
  SESSION_TAKEN_OVER: 0x8e,
  TOPIC_FILTER_INVALID: 0x8f,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_IDENTIFIER_IN_USE: 0x91,
  PACKET_IDENTIFIER_NOT_FOUND: 0x92,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  TOPIC_ALIAS_INVALID: 0x94,
  PACKET_TOO_LARGE: 0x95,
  MESSAGE_RATE_TOO_HIGH: 0x96,
  QUOTA_EXCEEDED: 0x97,
  ADMINISTRATIVE_ACTION: 0x98,
  PAYLOAD_FORMAT_INVALID: 0x99,
  RETAIN_NOT_SUPPORTED: 0x9a,
  QOS_NOT_SUPPORTED: 0x9b,
  USE_ANOTHER_SERVER: 0x9c,
  SERVER_MOVED: 0x9d,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: 0x9e,
  CONNECTION_RATE_EXCEEDED: 0x9f,
  MAXIMUM_CONNECT_TIME: 0xa0,
  SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: 0xa1,
  WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: 0xa2,
} as const

/** MQTT 5 property identifiers (section 2.2.2.2). */
export const PropertyId = {
  PAYLOAD_FORMAT_INDICATOR: 0x01,
  MESSAGE_EXPIRY_INTERVAL: 0x02,
  CONTENT_TYPE: 0x03,
  RESPONSE_TOPIC: 0x08,
  CORRELATION_DATA: 0x09,
  SUBSCRIPTION_IDENTIFIER: 0x0b,
  SESSION_EXPIRY_INTERVAL: 0x11,
  ASSIGNED_CLIENT_IDENTIFIER: 0x12,
  SERVER_KEEP_ALIVE: 0x13,
  AUTHENTICATION_METHOD: 0x15,
  AUTHENTICATION_DATA: 0x16,
  REQUEST_PROBLEM_INFORMATION: 0x17,
  WILL_DELAY_INTERVAL: 0x18,
  REQUEST_RESPONSE_INFORMATION: 0x19,
  RESPONSE_INFORMATION: 0x1a,
  SERVER_REFERENCE: 0x1c,
  REASON_STRING: 0x1f,
  RECEIVE_MAXIMUM: 0x21,
  TOPIC_ALIAS_MAXIMUM: 0x22,
  TOPIC_ALIAS: 0x23,
  MAXIMUM_QOS: 0x24,
  RETAIN_AVAILABLE: 0x25,
  USER_PROPERTY: 0x26,
  MAXIMUM_PACKET_SIZE: 0x27,
  WILDCARD_SUBSCRIPTION_AVAILABLE: 0x28,
  SUBSCRIPTION_IDENTIFIER_AVAILABLE: 0x29,
  SHARED_SUBSCRIPTION_AVAILABLE: 0x2a,
} as const

/** Session Expiry Interval meaning "never expires" (3.1.2.11.2). */
export const SESSION_NEVER_EXPIRES = 0xffff_ffff
/** Largest Variable Byte Integer: also the largest subscription identifier. */
export const MAX_VARIABLE_BYTE_INTEGER = 268_435_455
