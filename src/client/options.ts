import { randomBytes } from 'node:crypto'
import { ConfigError } from '../errors.js'
import {
  MAX_PACKET_SIZE,
  PROTOCOL_V5,
  PROTOCOL_V311,
  type ProtocolVersion,
  type QoS,
} from '../protocol/constants.js'
import type { ConnectProperties, UserProperties, Will, WillProperties } from '../protocol/packets.js'
import { isValidTopicName } from '../protocol/topic.js'
import type { Transport } from '../transport/transport.js'
import { MemoryOutboundStore, type OutboundStore } from './store.js'
import {
  shownUrl,
  type TransportOptions,
  transportFor,
  transportOptionsGiven,
  urlCredential,
} from './transport-for.js'

export type Payload = string | Buffer | Uint8Array

export interface WillOptions {
  topic: string
  payload: Payload
  qos?: QoS
  retain?: boolean
  /** MQTT 5 only: Will Delay Interval, Message Expiry, Content Type, Response Topic, ... */
  properties?: WillProperties
}

/**
 * MQTT 5 enhanced authentication [MQTT-4.12]: the client's side of a
 * challenge/response exchange whose method both ends know (e.g. SCRAM-SHA-256).
 */
export interface AuthHandler {
  /** The Authentication Method sent in CONNECT and in every AUTH. */
  readonly method: string
  /** Authentication Data for CONNECT (and for AUTH 0x19 when re-authenticating). */
  start(): Buffer | undefined | Promise<Buffer | undefined>
  /** AUTH 0x18 from the server: answer with this data. Throwing aborts the connection. */
  challenge(data: Buffer | undefined): Buffer | undefined | Promise<Buffer | undefined>
  /** The exchange succeeded (CONNACK 0 or AUTH 0x00) with this data: throw if it does not verify. */
  done?(data: Buffer | undefined): void | Promise<void>
}

export interface ReconnectOptions {
  /** First delay in ms; it doubles per failed attempt, with jitter. Default 500. */
  minDelay?: number
  /** Largest delay in ms. Default 30000. */
  maxDelay?: number
}

/**
 * The options of `connect()`. The transport comes from the URL: mqtt:// (TCP), mqtts://
 * (TLS, with `ca`, `cert`, `key`, `rejectUnauthorized`, `servername`...), ws:// or wss://
 * (WebSocket, path /mqtt unless the URL has one); see TransportOptions.
 */
export interface ClientOptions extends TransportOptions {
  /** 4 (MQTT 3.1.1, the default), 5 (MQTT 5.0) or 3 (MQTT 3.1). */
  protocolVersion?: ProtocolVersion
  /**
   * Default: `petrel-` and 16 random hex digits. MQTT 5: '' asks the broker to assign one;
   * the assigned id is used on every reconnect.
   */
  clientId?: string
  /** Clean Session (3.1.1) [MQTT-3.1.2-6]; Clean Start in MQTT 5 [MQTT-3.1.2-4]. Default true. */
  clean?: boolean
  /** Seconds; 0 turns keep-alive off. Default 60. */
  keepalive?: number
  username?: string
  password?: string | Buffer
  will?: WillOptions
  /** Reconnect after a lost connection: true (default), false, or the backoff bounds. */
  reconnect?: boolean | ReconnectOptions
  /** Milliseconds for the transport and the CONNACK, per attempt. Default 30000. */
  connectTimeout?: number
  /** Milliseconds to wait for PINGRESP before the connection is taken as dead. Default: the keep-alive. */
  pingTimeout?: number
  /** Publishes held while offline; the next one is refused. Default 1000. */
  maxOfflineQueue?: number
  /** Hold QoS 0 publishes while offline too (else they are refused). Default true. */
  queueQoS0?: boolean
  /** Milliseconds after which an unfinished publish is rejected; 0 (default) waits as long as the client lives. */
  publishTimeout?: number
  /** QoS 1/2 publishes in flight at once; more wait in order. Default 65535 (no window but the id space). */
  maxInflight?: number
  /**
   * QoS 2 publishes in flight at once (within maxInflight). Default 20: Mosquitto's
   * receive quota, beyond which it acknowledges and drops QoS 2 from 3.1.1 clients.
   */
  maxInflightQoS2?: number
  /** Messages held for a consumer (and per messages() iterator) before reading pauses. Default 1000. */
  maxBufferedMessages?: number
  /** Re-subscribe after reconnecting when the broker kept no session. Default true. */
  resubscribe?: boolean
  /** Largest packet accepted from the broker, in bytes. Default: the MQTT maximum. */
  maxPacketSize?: number
  /** Where unacknowledged QoS 1/2 messages are kept. Default: a MemoryOutboundStore of this client. */
  store?: OutboundStore
  /** How to reach the broker; overrides the URL's scheme, host and port (and takes no TLS or ws options). */
  transport?: Transport

  // --- MQTT 5 only (protocolVersion: 5) ---------------------------------------------
  /** Seconds the broker keeps the session after the connection ends; 0xFFFFFFFF: forever. Default 0. */
  sessionExpiryInterval?: number
  /** QoS 1/2 messages the broker may have unacknowledged towards this client. Default 65535. */
  receiveMaximum?: number
  /** Same as `maxPacketSize`; sent to the broker as Maximum Packet Size. */
  maximumPacketSize?: number
  /** Topic aliases the broker may use towards this client (1..this). Default 0: none. */
  topicAliasMaximum?: number
  /** Assign topic aliases to outgoing PUBLISHes, within the broker's Topic Alias Maximum. Default true. */
  topicAliases?: boolean
  /** Ask the broker for Response Information (a base for response topics). Default false. */
  requestResponseInformation?: boolean
  /** False asks the broker to leave reason strings and user properties out of errors. Default true. */
  requestProblemInformation?: boolean
  /** User properties of CONNECT. */
  userProperties?: UserProperties
  /** Enhanced authentication [MQTT-4.12]. */
  auth?: AuthHandler
}

export interface ResolvedClientOptions {
  transport: Transport
  protocolVersion: ProtocolVersion
  clientId: string
  clean: boolean
  keepalive: number
  /** False when pingTimeout was defaulted from the keep-alive (a Server Keep Alive then moves it too). */
  pingTimeoutGiven: boolean
  username: string | undefined
  password: Buffer | undefined
  will: Will | undefined
  reconnect: { minDelay: number; maxDelay: number } | null
  connectTimeout: number
  pingTimeout: number
  maxOfflineQueue: number
  queueQoS0: boolean
  publishTimeout: number
  maxInflight: number
  maxInflightQoS2: number
  maxBufferedMessages: number
  resubscribe: boolean
  maxPacketSize: number
  store: OutboundStore
  /** MQTT 5: the CONNECT properties (without authentication), or undefined for 3.1.1. */
  connectProperties: ConnectProperties | undefined
  topicAliases: boolean
  auth: AuthHandler | undefined
}

export function toBuffer(p: Payload): Buffer {
  if (typeof p === 'string') return Buffer.from(p)
  if (Buffer.isBuffer(p)) return p
  return Buffer.from(p.buffer, p.byteOffset, p.byteLength)
}

function int(name: string, v: number | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(name, `${name} must be a whole number from ${min} to ${max}; got ${String(v)}`)
  }
  return v
}

function qos(name: string, v: number | undefined): QoS {
  return int(name, v, 0, 0, 2) as QoS
}

export function resolveClientOptions(
  url: string | URL | undefined,
  o: ClientOptions = {},
): ResolvedClientOptions {
  let parsed: URL | undefined
  if (url !== undefined) {
    try {
      parsed = typeof url === 'string' ? new URL(url) : url
    } catch {
      throw new ConfigError('url', `not a URL: ${shownUrl(String(url))}; write e.g. mqtt://127.0.0.1:1883`)
    }
  }
  let transport = o.transport
  if (transport === undefined) {
    if (parsed === undefined) throw new ConfigError('url', 'give a broker URL or a transport')
    transport = transportFor(parsed, o)
  } else {
    const ignored = transportOptionsGiven(o)
    if (ignored.length > 0) {
      throw new ConfigError(
        ignored[0]!,
        `${ignored.join(', ')}: set up the URL's transport, but a transport option is given; pass them to tlsTransport() or wsTransport()`,
      )
    }
  }
  const version = o.protocolVersion ?? PROTOCOL_V311
  if (version !== 3 && version !== 4 && version !== PROTOCOL_V5) {
    throw new ConfigError('protocolVersion', `protocolVersion must be 3, 4 or 5; got ${String(version)}`)
  }
  const v5 = version === PROTOCOL_V5
  if (!v5) refuseV5Options(o)
  const clean = o.clean ?? true
  const clientId = o.clientId ?? `petrel-${randomBytes(8).toString('hex')}`
  if (typeof clientId !== 'string') throw new ConfigError('clientId', 'clientId must be a string')
  if (clientId === '' && !clean && !v5) {
    // [MQTT-3.1.3-7] a zero-length client id needs a clean session
    throw new ConfigError('clientId', 'an empty clientId needs clean: true; give a clientId')
  }
  const keepalive = int('keepalive', o.keepalive, 60, 0, 65_535)
  let will: Will | undefined
  if (o.will !== undefined) {
    if (!isValidTopicName(o.will.topic)) throw new ConfigError('will', `invalid will topic ${o.will.topic}`)
    will = {
      topic: o.will.topic,
      payload: toBuffer(o.will.payload),
      qos: qos('will.qos', o.will.qos),
      retain: o.will.retain ?? false,
    }
    if (o.will.properties !== undefined) will.properties = o.will.properties
  }
  const username = o.username ?? (parsed === undefined ? undefined : urlCredential(parsed, 'username'))
  const pw = o.password ?? (parsed === undefined ? undefined : urlCredential(parsed, 'password'))
  if (pw !== undefined && username === undefined && !v5) {
    // [MQTT-3.1.2-22] a password needs a user name in MQTT 3.1.1
    throw new ConfigError('password', 'a password needs a username')
  }
  let reconnect: ResolvedClientOptions['reconnect'] = null
  if (o.reconnect !== false) {
    const r = typeof o.reconnect === 'object' ? o.reconnect : {}
    const minDelay = int('reconnect.minDelay', r.minDelay, 500, 1, 3_600_000)
    const maxDelay = int('reconnect.maxDelay', r.maxDelay, Math.max(30_000, minDelay), minDelay, 3_600_000)
    reconnect = { minDelay, maxDelay }
  }
  const maxPacketSize = int(
    'maxPacketSize',
    o.maxPacketSize ?? o.maximumPacketSize,
    MAX_PACKET_SIZE,
    16,
    MAX_PACKET_SIZE,
  )
  return {
    transport,
    protocolVersion: version,
    clientId,
    clean,
    keepalive,
    pingTimeoutGiven: o.pingTimeout !== undefined,
    username,
    password: pw === undefined ? undefined : typeof pw === 'string' ? Buffer.from(pw) : pw,
    will,
    reconnect,
    connectTimeout: int('connectTimeout', o.connectTimeout, 30_000, 1, 3_600_000),
    pingTimeout: int('pingTimeout', o.pingTimeout, keepalive * 1000, 1, 3_600_000 * 18),
    maxOfflineQueue: int('maxOfflineQueue', o.maxOfflineQueue, 1000, 0, Number.MAX_SAFE_INTEGER),
    queueQoS0: o.queueQoS0 ?? true,
    publishTimeout: int('publishTimeout', o.publishTimeout, 0, 0, 2_147_483_647),
    maxInflight: int('maxInflight', o.maxInflight, 65_535, 1, 65_535),
    // MQTT 5 brokers say how many they take (Receive Maximum): no QoS 2 guesswork there
    maxInflightQoS2: int('maxInflightQoS2', o.maxInflightQoS2, v5 ? 65_535 : 20, 1, 65_535),
    maxBufferedMessages: int('maxBufferedMessages', o.maxBufferedMessages, 1000, 1, Number.MAX_SAFE_INTEGER),
    resubscribe: o.resubscribe ?? true,
    maxPacketSize,
    store: o.store ?? new MemoryOutboundStore(),
    connectProperties: v5 ? connectProperties(o, maxPacketSize) : undefined,
    topicAliases: o.topicAliases ?? true,
    auth: o.auth,
  }
}

const V5_ONLY = [
  'sessionExpiryInterval',
  'receiveMaximum',
  'maximumPacketSize',
  'topicAliasMaximum',
  'requestResponseInformation',
  'requestProblemInformation',
  'userProperties',
  'auth',
] as const

function refuseV5Options(o: ClientOptions): void {
  for (const name of V5_ONLY) {
    if (o[name] !== undefined) throw new ConfigError(name, `${name} needs protocolVersion: 5`)
  }
  if (o.will?.properties !== undefined) {
    throw new ConfigError('will', 'will.properties needs protocolVersion: 5')
  }
}

/** The CONNECT properties; a property at its default value is left out. */
function connectProperties(o: ClientOptions, maxPacketSize: number): ConnectProperties {
  const p: ConnectProperties = {}
  const expiry = int('sessionExpiryInterval', o.sessionExpiryInterval, 0, 0, 0xffff_ffff)
  if (expiry > 0) p.sessionExpiryInterval = expiry
  const rm = int('receiveMaximum', o.receiveMaximum, 65_535, 1, 65_535)
  if (rm < 65_535) p.receiveMaximum = rm
  if (maxPacketSize < MAX_PACKET_SIZE) p.maximumPacketSize = maxPacketSize
  const tam = int('topicAliasMaximum', o.topicAliasMaximum, 0, 0, 65_535)
  if (tam > 0) p.topicAliasMaximum = tam
  if (o.requestResponseInformation === true) p.requestResponseInformation = true
  if (o.requestProblemInformation === false) p.requestProblemInformation = false
  if (o.userProperties !== undefined && o.userProperties.length > 0) p.userProperties = o.userProperties
  if (o.auth !== undefined && (typeof o.auth.method !== 'string' || o.auth.method === '')) {
    throw new ConfigError('auth', 'auth.method must be a non-empty string')
  }
  return p
}
