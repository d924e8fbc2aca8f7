import { PacketType, ReasonCode } from '../../protocol/constants.js'
import { encode } from '../../protocol/encoder.js'
import type { AuthPacket, AuthProperties } from '../../protocol/packets.js'
import type { Core } from '../core.js'
import type { AuthOutcome } from '../hooks.js'
import type { AuthExchange, Peer } from '../peer.js'
import { disconnectCode, refusalCode } from './connack.js'

/**
 * MQTT 5 AUTH from a client [MQTT-4.12]: its answer (0x18) to the challenge the broker
 * sent, during the CONNECT or a re-authentication, or the start of a re-authentication
 * (0x19) after CONNACK. The hooks decide (see Hooks.authenticate); a Promise only when
 * one of them answered with one.
 */
export function onAuth(core: Core, peer: Peer, packet: AuthPacket): Promise<void> | undefined {
  const exchange = peer.auth
  if (exchange === null) {
    peer.violation('AUTH from a client that did not use enhanced authentication', 'MQTT-4.12.0-7')
    return undefined
  }
  if (packet.properties?.authenticationMethod !== exchange.method) {
    peer.violation('AUTH with another Authentication Method than the CONNECT', 'MQTT-4.12.0-5')
    return undefined
  }
  const data = packet.properties.authenticationData
  const code = packet.reasonCode ?? ReasonCode.SUCCESS
  if (code === ReasonCode.CONTINUE_AUTHENTICATION) {
    const next = exchange.next
    if (next === null) {
      peer.violation('AUTH 0x18 when no challenge was sent', 'MQTT-4.12.0-3')
      return undefined
    }
    exchange.next = null
    return next(data)
  }
  if (code === ReasonCode.RE_AUTHENTICATE) {
    if (peer.state === 'authenticating' || exchange.next !== null) {
      peer.violation('AUTH 0x19 before the exchange under way ended', 'MQTT-4.12.1-1')
      return undefined
    }
    startDeadline(core, peer, exchange)
    const outcome = core.hooks.authenticate(peer, peer.username, exchange.password, {
      method: exchange.method,
      data,
    })
    return reauthenticated(core, peer, exchange, outcome)
  }
  peer.violation(`AUTH with reason code 0x${code.toString(16)} from a client`, 'MQTT-3.15.2-1')
  return undefined
}

/**
 * The hooks answered a re-authentication: AUTH 0x00 (success) or 0x18 (challenge)
 * [MQTT-3.15.2-1]; a refusal ends the connection with DISCONNECT and its reason [MQTT-4.12.1-2].
 */
function reauthenticated(
  core: Core,
  peer: Peer,
  exchange: AuthExchange,
  outcome: AuthOutcome | Promise<AuthOutcome>,
): Promise<void> | undefined {
  if (outcome instanceof Promise) return outcome.then((o) => reauthenticated(core, peer, exchange, o))
  if (peer.state === 'closed') return undefined
  const method = exchange.method
  switch (outcome.kind) {
    case 'challenge':
      exchange.next = (d) => reauthenticated(core, peer, exchange, outcome.next(d))
      sendAuth(core, peer, ReasonCode.CONTINUE_AUTHENTICATION, method, outcome.data)
      return undefined
    case 'accept':
      endDeadline(exchange)
      if (!outcome.handled) {
        peer.close(
          're-authentication: no hook took its method',
          true,
          false,
          ReasonCode.BAD_AUTHENTICATION_METHOD,
        )
        return undefined
      }
      sendAuth(core, peer, ReasonCode.SUCCESS, method, outcome.data)
      return undefined
    case 'refuse': {
      endDeadline(exchange)
      const code = disconnectCode(refusalCode(outcome.answer, true, true), ReasonCode.NOT_AUTHORIZED)
      core.options.logger.debug({ clientId: peer.id, reasonCode: code }, 're-authentication refused')
      peer.close('re-authentication refused', true, false, code)
      return undefined
    }
  }
}

/**
 * A re-authentication must end within the broker's connectTimeout, as the exchange of a
 * CONNECT must: a client that never answers the challenge does not keep it open for
 * ever. When the time is up the client gets DISCONNECT 0x87 Not authorized (the
 * re-authentication failed [MQTT-4.12.1-2]: it did not prove who it is, the same code a
 * refused answer gets; 0x8C would say the method is unsupported, which it is not).
 */
function startDeadline(core: Core, peer: Peer, exchange: AuthExchange): void {
  endDeadline(exchange)
  const timeout = core.options.connectTimeout
  const timer = setTimeout(() => {
    exchange.deadline = null
    exchange.next = null
    if (peer.state === 'closed') return
    core.options.logger.debug({ clientId: peer.id, timeout }, 're-authentication timed out')
    peer.close('re-authentication not finished within connectTimeout', true, false, ReasonCode.NOT_AUTHORIZED)
  }, timeout)
  timer.unref()
  exchange.deadline = timer
}

function endDeadline(exchange: AuthExchange | null): void {
  if (exchange === null) return
  if (exchange.deadline !== null) clearTimeout(exchange.deadline)
  exchange.deadline = null
}

/**
 * An AUTH from the broker to `peer`: always with the connection's method [MQTT-4.12.0-5].
 * Never larger than the client's Maximum Packet Size [MQTT-3.1.2-24]: a Reason String and
 * User Properties are left out first [MQTT-3.1.2-25]; null when it is still too large
 * (the Authentication Data alone does not fit), and it must not be sent.
 */
export function encodeAuth(
  peer: Peer,
  reasonCode: number,
  method: string,
  data: Buffer | undefined,
  extra: Pick<AuthProperties, 'reasonString' | 'userProperties'> = {},
): Buffer | null {
  const properties: AuthProperties =
    data === undefined
      ? { authenticationMethod: method }
      : { authenticationMethod: method, authenticationData: data }
  const max = peer.limits.maximumPacketSize
  if (extra.reasonString !== undefined || extra.userProperties !== undefined) {
    const bytes = encode({ type: PacketType.AUTH, reasonCode, properties: { ...properties, ...extra } }, 5)
    if (bytes.length <= max) return bytes
  }
  const bytes = encode({ type: PacketType.AUTH, reasonCode, properties }, 5)
  return bytes.length <= max ? bytes : null
}

/**
 * Sends an AUTH of a re-authentication, or, when it is larger than the client's Maximum
 * Packet Size even without Reason String and User Properties, ends the connection with
 * DISCONNECT 0x95 Packet too large instead [MQTT-3.1.2-24]: the exchange cannot go on.
 */
function sendAuth(
  core: Core,
  peer: Peer,
  reasonCode: number,
  method: string,
  data: Buffer | undefined,
): void {
  const bytes = encodeAuth(peer, reasonCode, method, data)
  if (bytes !== null) {
    peer.send(bytes)
    return
  }
  endDeadline(peer.auth)
  core.options.logger.debug(
    { clientId: peer.id, maximumPacketSize: peer.limits.maximumPacketSize },
    "AUTH larger than the client's Maximum Packet Size: not sent",
  )
  peer.close(
    "re-authentication: the broker's AUTH is larger than the client's Maximum Packet Size",
    true,
    false,
    ReasonCode.PACKET_TOO_LARGE,
  )
}
