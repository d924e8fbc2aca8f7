import type { ProtocolVersion } from '../protocol/constants.js'
import type { ConnectPacket, ConnectProperties, Packet } from '../protocol/packets.js'
import type { LinkFigures } from './connection-figures.js'
import type { ConnState } from './connection-state.js'
import type { ClientInfo } from './options.js'
import type { Session, SessionLink } from './session.js'

/**
 * What an MQTT 5 client asked of the broker's output in its CONNECT; a 3.1.1 client gets
 * the values that mean "no limit". The broker's output honours them (session.ts).
 */
export interface ClientLimits {
  /** Receive Maximum: QoS 1/2 PUBLISHes the client takes unacknowledged (65535 when absent) [MQTT-3.3.4-9]. */
  readonly receiveMaximum: number
  /** Maximum Packet Size: largest packet the client accepts, in bytes (the MQTT maximum when absent) [MQTT-3.1.2-24]. */
  readonly maximumPacketSize: number
  /** Topic Alias Maximum: highest topic alias the broker may use towards the client; 0: none [MQTT-3.1.2-26]. */
  readonly topicAliasMaximum: number
  /**
   * Request Problem Information: when false, no Reason String or User Properties on any
   * packet but PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29].
   */
  readonly problemInformation: boolean
}

/** MQTT 5 enhanced authentication of one connection [MQTT-4.12]. */
export interface AuthExchange {
  /** The CONNECT's Authentication Method: every AUTH must carry it [MQTT-4.12.0-5]. */
  readonly method: string
  /** The CONNECT's password, for the hooks again on re-authentication. */
  readonly password: Buffer | undefined
  /**
   * What the client's next AUTH 0x18 (its Authentication Data) carries on; null when no
   * challenge is waiting for an answer. A Promise when a hook answered with one.
   */
  next: ((data: Buffer | undefined) => Promise<void> | undefined) | null
  /** A re-authentication under way: the connectTimeout it must end within; null when none is. */
  deadline: NodeJS.Timeout | null
}

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
  /** MQTT 5: the CONNECT's properties. */
  readonly connectProperties: ConnectProperties | undefined
  /** What the client asked of the broker's output (MQTT 5; defaults for 3.1.1). */
  readonly limits: ClientLimits
  /**
   * On a listener with useIdentityAsUsername: the verified client certificate's CN, which
   * replaces the CONNECT's user name, or null when there is none (refused). Otherwise undefined.
   */
  readonly certificateUser?: string | null | undefined
  /** MQTT 5 enhanced authentication; null when the client does not use it. */
  auth: AuthExchange | null
  /**
   * MQTT 5: the Session Expiry Interval the CONNECT asked for (0 when absent): a DISCONNECT may
   * not raise it from 0 [MQTT-3.14.2-2 ff.].
   */
  readonly connectExpiry: number
  /** The CONNECT is being answered: who the client says it is, and the version it speaks. */
  identify(packet: ConnectPacket): void
  /** CONNACK 0 was queued: the connection is now the session's, with this keep-alive (seconds). */
  accept(packet: ConnectPacket, session: Session, keepalive: number): void
  /** DISCONNECT: the will is not published [MQTT-3.14.4-3]. */
  discardWill(): void
  /**
   * Ends the connection once. `abnormal` publishes the will (if any) [MQTT-3.1.2-8];
   * pending output is flushed first, unless `reset`. An MQTT 5 client past CONNACK is
   * first sent DISCONNECT with `reasonCode`, when one is given.
   */
  close(reason: string, abnormal: boolean, reset?: boolean, reasonCode?: number): void
  /**
   * A protocol violation: logged at debug with its rule, then the connection closes (an
   * MQTT 5 client is told why with DISCONNECT `reasonCode`, default 0x82 Protocol Error).
   */
  violation(message: string, rule: string, reasonCode?: number): void
  /** Resolves once the transport is closed. */
  readonly whenClosed: Promise<void>
  /** What the admin API (admin.ts) shows of it; bytes out are `flushed`. */
  readonly figures: LinkFigures
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
