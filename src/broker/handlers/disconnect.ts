import { PROTOCOL_V5, ReasonCode } from '../../protocol/constants.js'
import type { DisconnectPacket } from '../../protocol/packets.js'
import type { Core } from '../core.js'
import type { Peer } from '../peer.js'
import { capExpiry } from './connack.js'

/**
 * DISCONNECT from a client. The will is discarded [MQTT-3.14.4-3], but for an MQTT 5
 * reason other than 0x00: 0x04 (disconnect with will message) or an error code, which
 * publish it as if the connection had failed. An MQTT 5 DISCONNECT may change the session's expiry interval, though not
 * from 0 to another value (3.14.2.2.2: a Protocol Error, and then not a valid DISCONNECT:
 * the will is published).
 */
export function onDisconnect(core: Core, peer: Peer, packet: DisconnectPacket): undefined {
  if (peer.protocolVersion !== PROTOCOL_V5) {
    peer.discardWill()
    peer.close('client sent DISCONNECT', false)
    return undefined
  }
  const expiry = packet.properties?.sessionExpiryInterval
  if (expiry !== undefined) {
    if (peer.connectExpiry === 0 && expiry !== 0) {
      peer.violation('DISCONNECT sets a Session Expiry Interval after a CONNECT without one', '3.14.2.2.2')
      return undefined
    }
    peer.session!.expiryInterval = capExpiry(core.options, expiry)
  }
  const code = packet.reasonCode ?? ReasonCode.NORMAL_DISCONNECTION
  if (code !== ReasonCode.NORMAL_DISCONNECTION) {
    // only 0x00 deletes the will [MQTT-3.14.4-3] [MQTT-3.1.2-8]: 0x04 asks for it, and a
    // client closing on an error (0x80 and up) is no normal disconnection either
    peer.close(`client sent DISCONNECT (0x${code.toString(16).padStart(2, '0')})`, true)
    return undefined
  }
  peer.discardWill()
  peer.close('client sent DISCONNECT (0x00)', false)
  return undefined
}
