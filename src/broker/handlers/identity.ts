import type { ConnectPacket } from '../../protocol/packets.js'
import type { Incoming } from '../../transport/transport.js'
import type { Peer } from '../peer.js'

/**
 * The user name a listener with useIdentityAsUsername gives a connection: its verified client
 * certificate's CN; null when it has none (the client is refused); undefined on every other
 * listener (the CONNECT's user name stands).
 */
export function certificateUser(
  identityAsUsername: boolean | undefined,
  incoming: Incoming,
): string | null | undefined {
  if (identityAsUsername !== true) return undefined
  return incoming.identity ?? null
}

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
