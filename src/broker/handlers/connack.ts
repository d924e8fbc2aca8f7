import {
  ConnectReturnCode,
  MAX_PACKET_SIZE,
  PacketType,
  PROTOCOL_V5,
  ReasonCode,
  SESSION_NEVER_EXPIRES,
} from '../../protocol/constants.js'
import { encode } from '../../protocol/encoder.js'
import type { ConnackProperties, ConnectPacket } from '../../protocol/packets.js'
import { isReasonCodeOf } from '../../protocol/reason-codes.js'
import type { ResolvedOptions } from '../options.js'
import type { Peer } from '../peer.js'

/** What the broker makes of a CONNECT's keep-alive and session expiry. */
export interface ConnectTerms {
  /** Seconds of keep-alive the broker holds the client to (0: none). */
  readonly keepalive: number
  /** MQTT 5 Server Keep Alive to send, when the broker does not use the client's. */
  readonly serverKeepAlive: number | undefined
  /** Seconds the session outlives the connection (SESSION_NEVER_EXPIRES: forever). */
  readonly expiry: number
  /** MQTT 5: the broker lowered the client's Session Expiry Interval; the CONNACK says so. */
  readonly expiryLowered: boolean
  /** The client sent an empty client id and was given one [MQTT-3.2.2-16]. */
  readonly assigned: boolean
}

/**
 * The keep-alive and session expiry a CONNECT gets, or a refusal (a 3.1.1 client
 * asking for more keep-alive than `maxKeepalive`, or for none, gets CONNACK 2, as
 * Mosquitto answers).
 */
export function connectTerms(o: ResolvedOptions, p: ConnectPacket, assigned: boolean): ConnectTerms | number {
  const v5 = p.protocolVersion === PROTOCOL_V5
  let keepalive = p.keepalive
  let serverKeepAlive: number | undefined
  const max = o.maxKeepalive
  if (max > 0 && (keepalive === 0 || keepalive > max)) {
    if (!v5) return ConnectReturnCode.IDENTIFIER_REJECTED
    keepalive = max
  }
  // [MQTT-3.2.2-21] with a maxKeepalive a v5 client is always told the keep-alive it is held
  // to, also when that is its own: clients (and test suites) then need not guess
  if (v5 && max > 0) serverKeepAlive = keepalive
  let expiry: number
  let expiryLowered = false
  if (v5) {
    expiry = p.properties?.sessionExpiryInterval ?? 0
    const cap = o.sessionExpiry
    if (cap > 0 && expiry > cap) {
      expiry = cap
      expiryLowered = true
    }
  } else if (p.clean) expiry = 0
  else expiry = o.sessionExpiry === 0 ? SESSION_NEVER_EXPIRES : o.sessionExpiry
  return { keepalive, serverKeepAlive, expiry, expiryLowered, assigned }
}

/** A Session Expiry Interval from a DISCONNECT, lowered to `sessionExpiry` like the CONNECT's. */
export function capExpiry(o: ResolvedOptions, expiry: number): number {
  return o.sessionExpiry > 0 && expiry > o.sessionExpiry ? o.sessionExpiry : expiry
}

/**
 * The properties of a successful MQTT 5 CONNACK: what the broker grants and supports
 * (3.2.2.3). `auth` is the enhanced authentication's method and data, if any [MQTT-4.12.0-5].
 */
export function connackProperties(
  o: ResolvedOptions,
  peer: Peer,
  terms: ConnectTerms,
  auth: { method: string; data: Buffer | undefined } | null,
): ConnackProperties {
  const props: ConnackProperties = {
    // what the broker supports; Maximum QoS is left out: it is 2 [MQTT-3.2.2-9]
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
  }
  if (terms.expiryLowered) props.sessionExpiryInterval = terms.expiry
  if (o.receiveMaximum !== 65_535) props.receiveMaximum = o.receiveMaximum
  if (o.maxPacketSize < MAX_PACKET_SIZE) props.maximumPacketSize = o.maxPacketSize
  if (o.topicAliasMaximum > 0) props.topicAliasMaximum = o.topicAliasMaximum
  if (terms.assigned) props.assignedClientIdentifier = peer.id // [MQTT-3.2.2-16]
  if (terms.serverKeepAlive !== undefined) props.serverKeepAlive = terms.serverKeepAlive
  // [MQTT-3.1.2-28] only to a client that asked for it
  if (o.responseInformation !== undefined && peer.connectProperties?.requestResponseInformation === true)
    props.responseInformation = o.responseInformation
  if (auth !== null) {
    props.authenticationMethod = auth.method
    if (auth.data !== undefined) props.authenticationData = auth.data
  }
  return props
}

/**
 * A CONNACK for `peer` in its version. An MQTT 5 CONNACK whose Reason String or User
 * Properties would make it larger than the client's Maximum Packet Size goes without
 * them [MQTT-3.2.2-19] [MQTT-3.2.2-20].
 */
export function encodeConnack(
  peer: Peer,
  sessionPresent: boolean,
  returnCode: number,
  properties?: ConnackProperties,
): Buffer {
  if (peer.protocolVersion !== PROTOCOL_V5) {
    return encode({ type: PacketType.CONNACK, sessionPresent, returnCode }, peer.protocolVersion)
  }
  const bytes = encode({ type: PacketType.CONNACK, sessionPresent, returnCode, properties }, 5)
  if (bytes.length <= peer.limits.maximumPacketSize || properties === undefined) return bytes
  const { reasonString: _r, userProperties: _u, ...rest } = properties
  return encode({ type: PacketType.CONNACK, sessionPresent, returnCode, properties: rest }, 5)
}

/** 3.1.1 return codes and the MQTT 5 reason codes that say the same. */
const V5_OF_V3: Record<number, number> = {
  [ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION]: ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
  [ConnectReturnCode.IDENTIFIER_REJECTED]: ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
  [ConnectReturnCode.SERVER_UNAVAILABLE]: ReasonCode.SERVER_UNAVAILABLE,
  [ConnectReturnCode.BAD_USERNAME_OR_PASSWORD]: ReasonCode.BAD_USER_NAME_OR_PASSWORD,
  [ConnectReturnCode.NOT_AUTHORIZED]: ReasonCode.NOT_AUTHORIZED,
}
const V3_OF_V5: Record<number, number> = {
  [ReasonCode.UNSUPPORTED_PROTOCOL_VERSION]: ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION,
  [ReasonCode.CLIENT_IDENTIFIER_NOT_VALID]: ConnectReturnCode.IDENTIFIER_REJECTED,
  [ReasonCode.SERVER_UNAVAILABLE]: ConnectReturnCode.SERVER_UNAVAILABLE,
  [ReasonCode.SERVER_BUSY]: ConnectReturnCode.SERVER_UNAVAILABLE,
  [ReasonCode.BAD_USER_NAME_OR_PASSWORD]: ConnectReturnCode.BAD_USERNAME_OR_PASSWORD,
  [ReasonCode.NOT_AUTHORIZED]: ConnectReturnCode.NOT_AUTHORIZED,
}
/**
 * A refusal as the client's version says it. `code` is a 3.1.1 return code (1-5) or an
 * MQTT 5 reason code (0x80 and above); `false` (from a hook) is bad credentials, or, for
 * a client using MQTT 5 enhanced authentication, not authorized.
 * - 3.1.1: 1-5 as given; an MQTT 5 code its 3.1.1 equivalent, else 5 (not authorized).
 * - MQTT 5 [MQTT-3.2.2-8]: 1-5 their MQTT 5 equivalent; a Connect Reason Code as given;
 *   anything else 0x87 (not authorized).
 */
export function refusalCode(code: false | number, v5: boolean, enhanced: boolean): number {
  if (code === false) {
    if (!v5) return ConnectReturnCode.BAD_USERNAME_OR_PASSWORD
    return enhanced ? ReasonCode.NOT_AUTHORIZED : ReasonCode.BAD_USER_NAME_OR_PASSWORD
  }
  if (!v5) {
    if (code >= 1 && code <= 5) return code
    return V3_OF_V5[code] ?? ConnectReturnCode.NOT_AUTHORIZED
  }
  if (code >= 0x80 && isReasonCodeOf(PacketType.CONNACK, code)) return code
  return V5_OF_V3[code] ?? ReasonCode.NOT_AUTHORIZED
}

/** `code` if a DISCONNECT may carry it as an error [MQTT-3.14.2-1], else `otherwise`. */
export function disconnectCode(code: number, otherwise: number): number {
  return code >= 0x80 && isReasonCodeOf(PacketType.DISCONNECT, code) ? code : otherwise
}
