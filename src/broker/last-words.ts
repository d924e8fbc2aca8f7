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

/**
 * The refusing CONNACK codes each RefusedCounts entry counts; any other code counts in `other`.
 * 3.1.1 return codes (1-5) and MQTT 5 reason codes (0x80 and above) do not overlap.
 */
const REFUSAL_CODES: ReadonlyArray<readonly [keyof RefusedCounts, readonly number[]]> = [
  [
    'protocolVersion',
    [ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION, ReasonCode.UNSUPPORTED_PROTOCOL_VERSION],
  ],
  ['clientId', [ConnectReturnCode.IDENTIFIER_REJECTED, ReasonCode.CLIENT_IDENTIFIER_NOT_VALID]],
  [
    'badCredentials',
    [
      ConnectReturnCode.BAD_USERNAME_OR_PASSWORD,
      ReasonCode.BAD_USER_NAME_OR_PASSWORD,
      ReasonCode.BAD_AUTHENTICATION_METHOD,
    ],
  ],
  ['notAuthorized', [ConnectReturnCode.NOT_AUTHORIZED, ReasonCode.NOT_AUTHORIZED]],
  ['protocolError', [ReasonCode.MALFORMED_PACKET, ReasonCode.PROTOCOL_ERROR]],
]

const REFUSAL_REASON = new Map<number, keyof RefusedCounts>(
  REFUSAL_CODES.flatMap(([reason, codes]) => codes.map((code) => [code, reason] as const)),
)

/** Which RefusedCounts entry a refusing CONNACK code (3.1.1 return code or MQTT 5 reason code) counts in. */
export function refusalReason(code: number): keyof RefusedCounts {
  return REFUSAL_REASON.get(code) ?? 'other'
}
