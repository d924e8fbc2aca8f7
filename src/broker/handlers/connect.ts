import { ConnectReturnCode, PacketType } from '../../protocol/constants.js'
import { encode } from '../../protocol/encoder.js'
import type { ConnectPacket, Will } from '../../protocol/packets.js'
import { exceedsLevels } from '../../protocol/topic.js'
import type { Core } from '../core.js'
import type { Peer } from '../peer.js'
import { publishWill, tooDeep } from './publish.js'

/**
 * CONNECT of MQTT 3.1 / 3.1.1: the client id, the connection limit, the authenticate
 * hooks, then takeover of an earlier connection, the session (new or resumed) and
 * CONNACK. A Promise only when a hook answered with one.
 */
export function onConnect(core: Core, peer: Peer, packet: ConnectPacket): Promise<void> | undefined {
  if (packet.clientId.length === 0) {
    if (!packet.clean || packet.protocolVersion === 3) {
      // [MQTT-3.1.3-8] a zero-length id needs clean session 1; MQTT 3.1 needs an id
      return refuse(core, peer, ConnectReturnCode.IDENTIFIER_REJECTED, 'empty client id', 'MQTT-3.1.3-8')
    }
    packet.clientId = core.sessions.assignId() // [MQTT-3.1.3-6]
  }
  if (packet.will !== undefined && exceedsLevels(packet.will.topic, core.options.maxTopicLevels)) {
    tooDeep(core, peer, 'will')
    return undefined
  }
  peer.identify(packet)
  // A client taking over its own connection does not add one, so it is let in at the limit.
  if (core.connected >= core.options.maxConnections && !core.sessions.get(packet.clientId)?.link) {
    return refuse(core, peer, ConnectReturnCode.SERVER_UNAVAILABLE, 'too many connections', '')
  }
  const auth = core.hooks.authenticate(peer, packet.username, packet.password)
  if (auth instanceof Promise) return auth.then((r) => connected(core, peer, packet, r))
  return connected(core, peer, packet, auth)
}

function refuse(core: Core, peer: Peer, code: number, why: string, rule: string): undefined {
  // [MQTT-3.2.2-4] session present is 0 with a non-zero return code; [MQTT-3.2.2-5] then close
  peer.send(
    encode({ type: PacketType.CONNACK, sessionPresent: false, returnCode: code }, peer.protocolVersion),
  )
  core.options.logger.debug({ clientId: peer.id, returnCode: code, rule }, `CONNECT refused: ${why}`)
  peer.close(`CONNECT refused: ${why}`, false)
  return undefined
}

function connected(core: Core, peer: Peer, packet: ConnectPacket, auth: true | number): undefined {
  if (peer.state !== 'authenticating') return undefined // closed while the hook ran
  if (auth !== true) return refuse(core, peer, auth, 'not authorised', '')
  // [MQTT-3.1.4-2] a second connection with the same id takes over: the first is closed
  core.sessions.get(packet.clientId)?.link?.takenOver()
  const { session, present } = core.sessions.open(packet.clientId, packet.clean)
  peer.send(
    encode(
      { type: PacketType.CONNACK, sessionPresent: present, returnCode: ConnectReturnCode.ACCEPTED },
      peer.protocolVersion,
    ),
  )
  peer.accept(packet, session)
  if (++core.connected > core.stats.maxConnected) core.stats.maxConnected = core.connected
  session.attach(peer, packet)
  core.hooks.connected(peer)
  core.events.emit('clientConnected', peer)
  return undefined
}

/** A connection ended: a clean session ends with it, the will is published if it is given. */
export function onClosed(
  core: Core,
  peer: Peer,
  wasConnected: boolean,
  will: Will | null,
  reason: string,
): void {
  core.peers.delete(peer)
  if (!wasConnected) return
  core.connected--
  const session = peer.session!
  if (session.link === peer) core.sessions.disconnected(session)
  if (will !== null) publishWill(core, peer, will)
  core.hooks.disconnected(peer, reason)
  core.events.emit('clientDisconnected', peer, reason)
}
