import { PacketType } from '../protocol/constants.js'
import { encode } from '../protocol/encoder.js'
import type { Packet, Will } from '../protocol/packets.js'
import type { Core } from './core.js'
import { onAuth } from './handlers/auth.js'
import { onClosed, onConnect } from './handlers/connect.js'
import { onDisconnect } from './handlers/disconnect.js'
import { onPublish, onPubrel } from './handlers/publish.js'
import { onSubscribe, onUnsubscribe } from './handlers/subscribe.js'
import type { Peer, PeerHandler } from './peer.js'

const PINGRESP = encode({ type: PacketType.PINGRESP })

/**
 * The broker's protocol handlers: one entry for every packet a connection decodes,
 * dispatched by type to the handler of that packet (handlers/), which asks the
 * sessions and the router and answers through the Peer. A Promise comes back only
 * when a hook answered with one: the connection then holds later packets.
 */
export class Protocol implements PeerHandler {
  private readonly core: Core

  constructor(core: Core) {
    this.core = core
  }

  packet(peer: Peer, packet: Packet, raw: Buffer | null): Promise<void> | undefined {
    if (peer.state === 'awaiting-connect') {
      if (packet.type !== PacketType.CONNECT) {
        // [MQTT-3.1.0-1] the first packet from the client must be CONNECT
        peer.violation(`first packet is ${packet.type}, not CONNECT`, 'MQTT-3.1.0-1')
        return undefined
      }
      // MQTT 3.1, 3.1.1 and 5 alike: onConnect reads what each version adds
      return onConnect(this.core, peer, packet)
    }
    if (packet.type === PacketType.AUTH) return onAuth(this.core, peer, packet) // MQTT 5 only
    const session = peer.session!
    switch (packet.type) {
      case PacketType.PUBLISH:
        return onPublish(this.core, peer, packet, raw)
      case PacketType.PUBACK:
        session.ack('puback', packet.packetId)
        return undefined
      case PacketType.PUBREC:
        session.ack('pubrec', packet.packetId, packet.reasonCode)
        return undefined
      case PacketType.PUBCOMP:
        session.ack('pubcomp', packet.packetId)
        return undefined
      case PacketType.PUBREL:
        onPubrel(peer, packet.packetId)
        return undefined
      case PacketType.SUBSCRIBE:
        return onSubscribe(this.core, peer, packet)
      case PacketType.UNSUBSCRIBE:
        onUnsubscribe(this.core, peer, packet)
        return undefined
      case PacketType.PINGREQ:
        peer.send(PINGRESP) // [MQTT-3.12.4-1]
        return undefined
      case PacketType.DISCONNECT:
        return onDisconnect(this.core, peer, packet)
      case PacketType.CONNECT:
        peer.violation('second CONNECT', 'MQTT-3.1.0-2')
        return undefined
      default:
        // CONNACK, SUBACK, UNSUBACK, PINGRESP only flow from server to client
        peer.violation(`packet type ${packet.type} is not sent by clients`, 'MQTT-2.2.1')
        return undefined
    }
  }

  closed(peer: Peer, wasConnected: boolean, will: Will | null, reason: string): void {
    onClosed(this.core, peer, wasConnected, will, reason)
  }
}
