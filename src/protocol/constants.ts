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
  'reserved',
]

/** Protocol levels: 3 is MQTT 3.1 ("MQIsdp"), 4 is MQTT 3.1.1, 5 is MQTT 5.0 (not yet decoded). */
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
  -1, // reserved type 15
]
