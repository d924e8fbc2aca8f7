import { ConnectReturnCode, PacketType, ReasonCode } from '../protocol/constants.js'
import { encode } from '../protocol/encoder.js'
import { isReasonCodeOf } from '../protocol/reason-codes.js'
import type { RefusedCounts } from './events.js'

/**
 * What the broker says to a peer it closes on, encoded; no I/O. A connection calls these and
 * sends the bytes before its transport ends.
 */

/**
 * A CONNACK refusing a CONNECT the decoder could not take [MQTT-3.2.2-4] [MQTT-3.2.2-5]:
 * a 3.1.1 return code, or an MQTT 5 reason code (0x80 and above) in an MQTT 5 CONNACK [MQTT-3.1.2-2].
 */
export function refusingConnack(code: number): Buffer {
  return encode({ type: PacketType.CONNACK, sessionPresent: false, returnCode: code }, code >= 0x80 ? 5 : 4)
}

/**
 * An MQTT 5 client's last packet when the broker closes with `reasonCode`, or null for none:
 * once connected, a DISCONNECT with its reason [MQTT-3.14.2-1] (the Reason String only when it
 * fits the client's Maximum Packet Size [MQTT-3.14.2-3]); while authenticating, no DISCONNECT
 * before CONNACK [MQTT-3.14.0-1]: a refusing CONNACK says it [MQTT-4.13.1-1], if the code is one.
 */
export function closingPacket(
  connected: boolean,
  authenticating: boolean,
  reasonCode: number,
  why: string,
  maximumPacketSize: number,
): Buffer | null {
  if (connected) {
    const bytes = encode({ type: PacketType.DISCONNECT, reasonCode, properties: { reasonString: why } }, 5)
    return bytes.length <= maximumPacketSize ? bytes : encode({ type: PacketType.DISCONNECT, reasonCode }, 5)
  }
  if (authenticating && isReasonCodeOf(PacketType.CONNACK, reasonCode))
    return encode({ type: PacketType.CONNACK, sessionPresent: false, returnCode: reasonCode }, 5)
  return null
}

/** Which RefusedCounts entry a refusing CONNACK code (3.1.1 return code or MQTT 5 reason code) counts in. */
export function refusalReason(code: number): keyof RefusedCounts {
  switch (code) {
    case ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION:
    case ReasonCode.UNSUPPORTED_PROTOCOL_VERSION:
      return 'protocolVersion'
    case ConnectReturnCode.IDENTIFIER_REJECTED:
    case ReasonCode.CLIENT_IDENTIFIER_NOT_VALID:
      return 'clientId'
    case ConnectReturnCode.BAD_USERNAME_OR_PASSWORD:
    case ReasonCode.BAD_USER_NAME_OR_PASSWORD:
    case ReasonCode.BAD_AUTHENTICATION_METHOD:
      return 'badCredentials'
    case ConnectReturnCode.NOT_AUTHORIZED:
    case ReasonCode.NOT_AUTHORIZED:
      return 'notAuthorized'
    case ReasonCode.MALFORMED_PACKET:
    case ReasonCode.PROTOCOL_ERROR:
      return 'protocolError'
    default:
      return 'other'
  }
}
