import type { PacketType, ProtocolVersion, QoS } from './constants.js'

/**
 * The 14 MQTT control packets as a discriminated union on `type`.
 *
 * The protocol version is a property of a connection, not of each packet: CONNECT
 * carries it (`protocolVersion`), and the decoder and encoder of a connection are
 * told which version they speak. MQTT 5 adds properties and reason codes as new
 * optional fields on these same types.
 *
 * Binary fields (payload, password) are Buffers; when they come from the decoder
 * they are views into the bytes read, not copies. Copy them if they must outlive
 * the read (see `copyPublish`).
 */

export interface Will {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
}

export interface ConnectPacket {
  type: typeof PacketType.CONNECT
  /** 'MQTT' for 3.1.1 (level 4), 'MQIsdp' for 3.1 (level 3). */
  protocolName: string
  protocolVersion: ProtocolVersion
  clean: boolean
  /** Seconds; 0 turns keep-alive off. */
  keepalive: number
  clientId: string
  will?: Will | undefined
  username?: string | undefined
  password?: Buffer | undefined
}

export interface ConnackPacket {
  type: typeof PacketType.CONNACK
  sessionPresent: boolean
  returnCode: number
}

export interface PublishPacket {
  type: typeof PacketType.PUBLISH
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  dup: boolean
  /** 0 for QoS 0 (no packet id on the wire); 1..65535 otherwise. */
  packetId: number
}

export interface PubackPacket {
  type: typeof PacketType.PUBACK
  packetId: number
}
export interface PubrecPacket {
  type: typeof PacketType.PUBREC
  packetId: number
}
export interface PubrelPacket {
  type: typeof PacketType.PUBREL
  packetId: number
}
export interface PubcompPacket {
  type: typeof PacketType.PUBCOMP
  packetId: number
}

export interface Subscription {
  topic: string
  qos: QoS
}

export interface SubscribePacket {
  type: typeof PacketType.SUBSCRIBE
  packetId: number
  subscriptions: Subscription[]
}

export interface SubackPacket {
  type: typeof PacketType.SUBACK
  packetId: number
  /** One per requested filter, in order: the granted QoS (0-2) or 0x80 for failure. */
  granted: number[]
}

export interface UnsubscribePacket {
  type: typeof PacketType.UNSUBSCRIBE
  packetId: number
  topics: string[]
}

export interface UnsubackPacket {
  type: typeof PacketType.UNSUBACK
  packetId: number
}

export interface PingreqPacket {
  type: typeof PacketType.PINGREQ
}
export interface PingrespPacket {
  type: typeof PacketType.PINGRESP
}
export interface DisconnectPacket {
  type: typeof PacketType.DISCONNECT
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket

/** The four packets that are nothing but a packet id. */
export type AckPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket | UnsubackPacket

/** A PUBLISH whose topic and payload no longer share memory with a read buffer. */
export function copyPublish(p: PublishPacket): PublishPacket {
  return {
    type: p.type,
    topic: p.topic,
    payload: Buffer.from(p.payload),
    qos: p.qos,
    retain: p.retain,
    dup: p.dup,
    packetId: p.packetId,
  }
}
