import type { ConnectPacket } from '../../protocol/packets.js'
import type { Peer } from '../peer.js'

/**
 * Puts the certificate's CN in place of the CONNECT's user name, as Mosquitto's
 * use_identity_as_username does; false when the listener wants one and there is none.
 */
export function takeCertificateUser(peer: Peer, packet: ConnectPacket): boolean {
  const user = peer.certificateUser
  if (user === undefined) return true
  if (user === null) return false
  packet.username = user
  return true
}
