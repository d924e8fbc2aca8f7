import type { ProtocolVersion } from '../protocol/constants.js'
import type { ConnectPacket, Packet } from '../protocol/packets.js'
import type { ConnState } from './connection-state.js'
import type { ClientInfo } from './options.js'
import type { Session, SessionLink } from './session.js'

/**
 * What the protocol handlers see of a client's connection (Connection implements it):
 * who it is, what state it is in, and the one-way requests they may make of it
 * (send these bytes, close). The handlers never reach the socket or the decoder.
 */
export interface Peer extends ClientInfo, SessionLink {
  /** The version the client's CONNECT asked for (4 until then): the encoder of its replies uses it. */
  readonly protocolVersion: ProtocolVersion
  readonly state: ConnState
  readonly session: Session | null
  /** The CONNECT is being answered: who the client says it is, and the version it speaks. */
  identify(packet: ConnectPacket): void
  /** CONNACK 0 was queued: the connection is now the session's. */
  accept(packet: ConnectPacket, session: Session): void
  /** DISCONNECT: the will is not published [MQTT-3.14.4-3]. */
  discardWill(): void
  /**
   * Ends the connection once. `abnormal` publishes the will (if any) [MQTT-3.1.2-8];
   * pending output is flushed first, unless `reset`.
   */
  close(reason: string, abnormal: boolean, reset?: boolean): void
  /**
   * A protocol violation: logged at debug with its rule, then the connection closes; an
   * MQTT 5 client is first sent DISCONNECT with `reasonCode` [MQTT-4.13.1-1].
   */
  violation(message: string, rule: string, reasonCode?: number): void
  /** Resolves once the transport is closed. */
  readonly whenClosed: Promise<void>
}

/**
 * Where a connection hands what it decoded: the broker's protocol handlers (Protocol).
 * Results come back as return values: a Promise when the packets after this one must
 * wait for it (a hook is pending).
 */
export interface PeerHandler {
  packet(peer: Peer, packet: Packet, raw: Buffer | null): Promise<void> | undefined
  /** The connection ended; `will` is the will to publish, if it ended abnormally. */
  closed(peer: Peer, wasConnected: boolean, will: ConnectPacket['will'] | null, reason: string): void
}
