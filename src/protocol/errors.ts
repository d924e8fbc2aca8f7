import { ProtocolError } from '../errors.js'
import { ReasonCode } from './constants.js'

/** Stable codes of the codec's errors. */
export const ErrorCode = {
  MALFORMED_REMAINING_LENGTH: 'PETREL_MALFORMED_REMAINING_LENGTH',
  PACKET_TOO_LARGE: 'PETREL_PACKET_TOO_LARGE',
  RESERVED_PACKET_TYPE: 'PETREL_RESERVED_PACKET_TYPE',
  RESERVED_FLAGS: 'PETREL_RESERVED_FLAGS',
  INVALID_QOS: 'PETREL_INVALID_QOS',
  DUP_ON_QOS0: 'PETREL_DUP_ON_QOS0',
  ZERO_PACKET_ID: 'PETREL_ZERO_PACKET_ID',
  MALFORMED_UTF8: 'PETREL_MALFORMED_UTF8',
  UTF8_NULL: 'PETREL_UTF8_NULL',
  TRUNCATED: 'PETREL_TRUNCATED_PACKET',
  TRAILING_BYTES: 'PETREL_TRAILING_BYTES',
  BAD_PROTOCOL_NAME: 'PETREL_BAD_PROTOCOL_NAME',
  UNSUPPORTED_PROTOCOL_LEVEL: 'PETREL_UNSUPPORTED_PROTOCOL_LEVEL',
  CONNECT_RESERVED_FLAG: 'PETREL_CONNECT_RESERVED_FLAG',
  WILL_FLAGS: 'PETREL_WILL_FLAGS',
  PASSWORD_WITHOUT_USERNAME: 'PETREL_PASSWORD_WITHOUT_USERNAME',
  CONNACK_RESERVED: 'PETREL_CONNACK_RESERVED',
  NO_TOPICS: 'PETREL_NO_TOPICS',
  SUBSCRIBE_RESERVED: 'PETREL_SUBSCRIBE_RESERVED',
  MALFORMED_TOPIC: 'PETREL_MALFORMED_TOPIC',
  MALFORMED_TOPIC_FILTER: 'PETREL_MALFORMED_TOPIC_FILTER',
  INVALID_PACKET: 'PETREL_INVALID_PACKET',
  DECODER_FAILED: 'PETREL_DECODER_FAILED',
  /** MQTT 5: a Variable Byte Integer of more than 4 bytes (1.5.5). */
  MALFORMED_VARINT: 'PETREL_MALFORMED_VARIABLE_BYTE_INTEGER',
  /** MQTT 5: unknown property identifier, a property not allowed in this packet, or a truncated value. */
  MALFORMED_PROPERTY: 'PETREL_MALFORMED_PROPERTY',
  /** MQTT 5: a property that may appear once appears twice. */
  DUPLICATE_PROPERTY: 'PETREL_DUPLICATE_PROPERTY',
  /** MQTT 5: a property value outside its range (Receive Maximum 0, Maximum QoS 2...). */
  INVALID_PROPERTY_VALUE: 'PETREL_INVALID_PROPERTY_VALUE',
  /** MQTT 5: a reason code the packet type does not define. */
  INVALID_REASON_CODE: 'PETREL_INVALID_REASON_CODE',
  /** MQTT 5: Topic Alias 0 [MQTT-3.3.2-8]. */
  TOPIC_ALIAS_INVALID: 'PETREL_TOPIC_ALIAS_INVALID',
  /** MQTT 5: No Local on a shared subscription [MQTT-3.8.3-4]. */
  NO_LOCAL_SHARED: 'PETREL_NO_LOCAL_SHARED',
} as const
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/**
 * The MQTT 5 reason code of each error unless the call names another (section 4.13:
 * bytes that cannot be parsed are a Malformed Packet, a parsed value the
 * specification forbids a Protocol Error).
 */
const REASON: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.PACKET_TOO_LARGE]: ReasonCode.PACKET_TOO_LARGE,
  [ErrorCode.UNSUPPORTED_PROTOCOL_LEVEL]: ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
  [ErrorCode.BAD_PROTOCOL_NAME]: ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
  [ErrorCode.NO_TOPICS]: ReasonCode.PROTOCOL_ERROR,
  [ErrorCode.DUPLICATE_PROPERTY]: ReasonCode.PROTOCOL_ERROR,
  [ErrorCode.INVALID_PROPERTY_VALUE]: ReasonCode.PROTOCOL_ERROR,
  [ErrorCode.TOPIC_ALIAS_INVALID]: ReasonCode.TOPIC_ALIAS_INVALID,
  [ErrorCode.NO_LOCAL_SHARED]: ReasonCode.PROTOCOL_ERROR,
}

export function protocolError(
  code: ErrorCode,
  message: string,
  rule = '',
  returnCode?: number,
  reasonCode: number = REASON[code] ?? ReasonCode.MALFORMED_PACKET,
): ProtocolError {
  return new ProtocolError(code, message, rule, returnCode, reasonCode)
}

/** A protocol level the codec does not speak. */
export function unsupportedVersion(version: number) {
  return protocolError(
    ErrorCode.UNSUPPORTED_PROTOCOL_LEVEL,
    `MQTT protocol level ${version} is not supported`,
    'MQTT-3.1.2-2',
  )
}
