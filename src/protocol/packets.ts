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

/**
 * MQTT 5 properties. Each packet has its own set; a field is present only when the
 * property is on the wire (or is to be written). Integers are plain numbers, binary
 * data Buffers (views when decoded), strings JS strings. User properties keep their
 * order and may repeat a name [MQTT-3.3.2-18].
 */
export type UserProperties = [name: string, value: string][]

export interface ConnectProperties {
  /** Seconds; 0 or absent: the session ends with the connection; 0xFFFFFFFF: never. */
  sessionExpiryInterval?: number
  /** 1..65535; absent means 65535. */
  receiveMaximum?: number
  /** 1..268435460 (bytes, fixed header included). */
  maximumPacketSize?: number
  topicAliasMaximum?: number
  requestResponseInformation?: boolean
  requestProblemInformation?: boolean
  userProperties?: UserProperties
  authenticationMethod?: string
  authenticationData?: Buffer
}

export interface WillProperties {
  /** Seconds the server waits after the connection ends before publishing the will. */
  willDelayInterval?: number
  /** 0: unspecified bytes; 1: UTF-8 character data. */
  payloadFormatIndicator?: 0 | 1
  messageExpiryInterval?: number
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: UserProperties
}

export interface ConnackProperties {
  sessionExpiryInterval?: number
  receiveMaximum?: number
  /** 0 or 1; absent means 2. */
  maximumQoS?: 0 | 1
  /** Absent means true. */
  retainAvailable?: boolean
  maximumPacketSize?: number
  assignedClientIdentifier?: string
  topicAliasMaximum?: number
  reasonString?: string
  userProperties?: UserProperties
  /** Absent means true. */
  wildcardSubscriptionAvailable?: boolean
  /** Absent means true. */
  subscriptionIdentifiersAvailable?: boolean
  /** Absent means true. */
  sharedSubscriptionAvailable?: boolean
  serverKeepAlive?: number
  responseInformation?: string
  serverReference?: string
  authenticationMethod?: string
  authenticationData?: Buffer
}

export interface PublishProperties {
  payloadFormatIndicator?: 0 | 1
  /** Seconds the message lives; a server forwards the time that remains. */
  messageExpiryInterval?: number
  /** 1..the receiver's Topic Alias Maximum. */
  topicAlias?: number
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: UserProperties
  /** Server to client only: the identifiers of every matching subscription (1..268435455). */
  subscriptionIdentifiers?: number[]
  contentType?: string
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK. */
export interface AckProperties {
  reasonString?: string
  userProperties?: UserProperties
}

export interface SubscribeProperties {
  /** 1..268435455. */
  subscriptionIdentifier?: number
  userProperties?: UserProperties
}

export interface UnsubscribeProperties {
  userProperties?: UserProperties
}

export interface DisconnectProperties {
  sessionExpiryInterval?: number
  reasonString?: string
  userProperties?: UserProperties
  serverReference?: string
}

export interface AuthProperties {
  authenticationMethod?: string
  authenticationData?: Buffer
  reasonString?: string
  userProperties?: UserProperties
}

export interface Will {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  /** MQTT 5 only. */
  properties?: WillProperties | undefined
}

export interface ConnectPacket {
  type: typeof PacketType.CONNECT
  /** 'MQTT' for 3.1.1 (level 4) and 5.0 (level 5), 'MQIsdp' for 3.1 (level 3). */
  protocolName: string
  protocolVersion: ProtocolVersion
  /** Clean Session (3.1.1) or Clean Start (5.0). */
  clean: boolean
  /** Seconds; 0 turns keep-alive off. */
  keepalive: number
  clientId: string
  will?: Will | undefined
  username?: string | undefined
  password?: Buffer | undefined
  /** MQTT 5 only. */
  properties?: ConnectProperties | undefined
}

export interface ConnackPacket {
  type: typeof PacketType.CONNACK
  sessionPresent: boolean
  /** The Connect Return code (3.1.1, table 3.1) or the Connect Reason Code (5.0, see ReasonCode). */
  returnCode: number
  properties?: ConnackProperties | undefined
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
  /** MQTT 5 only; absent when the packet has none (the common case: no allocation). */
  properties?: PublishProperties | undefined
}

/**
 * MQTT 5 acknowledgements add a reason code (absent: 0x00 Success) and properties.
 * The encoder writes the short form (no reason code byte) when both are absent or
 * the code is 0 with no properties [MQTT-3.4.2-1 ff.].
 */
export interface PubackPacket {
  type: typeof PacketType.PUBACK
  packetId: number
  reasonCode?: number | undefined
  properties?: AckProperties | undefined
}
export interface PubrecPacket {
  type: typeof PacketType.PUBREC
  packetId: number
  reasonCode?: number | undefined
  properties?: AckProperties | undefined
}
export interface PubrelPacket {
  type: typeof PacketType.PUBREL
  packetId: number
  reasonCode?: number | undefined
  properties?: AckProperties | undefined
}
export interface PubcompPacket {
  type: typeof PacketType.PUBCOMP
  packetId: number
  reasonCode?: number | undefined
  properties?: AckProperties | undefined
}

export interface Subscription {
  topic: string
  /** Maximum QoS. */
  qos: QoS
  /** MQTT 5: do not send this client's own messages back to it [MQTT-3.8.3-3]. */
  noLocal?: boolean | undefined
  /** MQTT 5: keep the RETAIN flag as published on forwarded messages. */
  retainAsPublished?: boolean | undefined
  /** MQTT 5: 0 send retained messages on subscribe, 1 only if new, 2 never. */
  retainHandling?: 0 | 1 | 2 | undefined
}

export interface SubscribePacket {
  type: typeof PacketType.SUBSCRIBE
  packetId: number
  subscriptions: Subscription[]
  properties?: SubscribeProperties | undefined
}

export interface SubackPacket {
  type: typeof PacketType.SUBACK
  packetId: number
  /**
   * One per requested filter, in order: the granted QoS (0-2) or a failure: 0x80 in
   * 3.1.1, any v5 SUBACK reason code (>= 0x80) in 5.0.
   */
  granted: number[]
  properties?: AckProperties | undefined
}

export interface UnsubscribePacket {
  type: typeof PacketType.UNSUBSCRIBE
  packetId: number
  topics: string[]
  properties?: UnsubscribeProperties | undefined
}

export interface UnsubackPacket {
  type: typeof PacketType.UNSUBACK
  packetId: number
  /** MQTT 5 only (required there): one reason code per topic filter, in order. */
  reasonCodes?: number[] | undefined
  properties?: AckProperties | undefined
}

export interface PingreqPacket {
  type: typeof PacketType.PINGREQ
}
export interface PingrespPacket {
  type: typeof PacketType.PINGRESP
}
export interface DisconnectPacket {
  type: typeof PacketType.DISCONNECT
  /** MQTT 5 only; absent means 0x00 Normal disconnection. */
  reasonCode?: number | undefined
  properties?: DisconnectProperties | undefined
}

/** MQTT 5 only: enhanced authentication [MQTT-3.15]. */
export interface AuthPacket {
  type: typeof PacketType.AUTH
  /** 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate; absent means 0x00. */
  reasonCode?: number | undefined
  properties?: AuthProperties | undefined
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
  | AuthPacket

/** The packets that are nothing but a packet id in 3.1.1. */
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
    properties: p.properties === undefined ? undefined : copyPublishProperties(p.properties),
  }
}

/** Properties whose binary fields no longer share memory with a read buffer. */
export function copyPublishProperties(p: PublishProperties): PublishProperties {
  const c: PublishProperties = { ...p }
  if (p.correlationData !== undefined) c.correlationData = Buffer.from(p.correlationData)
  if (p.userProperties !== undefined) c.userProperties = p.userProperties.map(([k, v]) => [k, v])
  if (p.subscriptionIdentifiers !== undefined) c.subscriptionIdentifiers = [...p.subscriptionIdentifiers]
  return c
}
