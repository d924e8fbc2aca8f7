import { randomBytes } from 'node:crypto'
import { ConfigError } from '../errors.js'
import { MAX_REMAINING_LENGTH, type QoS } from '../protocol/constants.js'
import type { Will } from '../protocol/packets.js'
import { isValidTopicName } from '../protocol/topic.js'
import { tcpTransport } from '../transport/tcp-connect.js'
import type { Transport } from '../transport/transport.js'
import { MemoryOutboundStore, type OutboundStore } from './store.js'

export type Payload = string | Buffer | Uint8Array

export interface WillOptions {
  topic: string
  payload: Payload
  qos?: QoS
  retain?: boolean
}

export interface ReconnectOptions {
  /** First delay in ms; it doubles per failed attempt, with jitter. Default 500. */
  minDelay?: number
  /** Largest delay in ms. Default 30000. */
  maxDelay?: number
}

export interface ClientOptions {
  /** Default: `petrel-` and 16 random hex digits. */
  clientId?: string
  /** Clean session [MQTT-3.1.2-6]. Default true. */
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
  /** How to reach the broker; overrides the URL's scheme, host and port. */
  transport?: Transport
}

export interface ResolvedClientOptions {
  transport: Transport
  clientId: string
  clean: boolean
  keepalive: number
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
}

const DEFAULT_PORT = 1883

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

function transportFor(url: URL): Transport {
  if (url.protocol !== 'mqtt:' && url.protocol !== 'tcp:') {
    throw new ConfigError(
      'url',
      `unsupported scheme ${url.protocol}; use mqtt:// or tcp://, or pass a transport option`,
    )
  }
  if (url.hostname === '') throw new ConfigError('url', `no host in ${url.href}`)
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  const port = url.port === '' ? DEFAULT_PORT : Number(url.port)
  return tcpTransport({ host, port })
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
      throw new ConfigError('url', `not a URL: ${String(url)}; write e.g. mqtt://127.0.0.1:1883`)
    }
  }
  let transport = o.transport
  if (transport === undefined) {
    if (parsed === undefined) throw new ConfigError('url', 'give a broker URL or a transport')
    transport = transportFor(parsed)
  }
  const clean = o.clean ?? true
  const clientId = o.clientId ?? `petrel-${randomBytes(8).toString('hex')}`
  if (typeof clientId !== 'string') throw new ConfigError('clientId', 'clientId must be a string')
  if (clientId === '' && !clean) {
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
  }
  const username = o.username ?? (parsed?.username ? decodeURIComponent(parsed.username) : undefined)
  const pw = o.password ?? (parsed?.password ? decodeURIComponent(parsed.password) : undefined)
  if (pw !== undefined && username === undefined) {
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
  return {
    transport,
    clientId,
    clean,
    keepalive,
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
    maxInflightQoS2: int('maxInflightQoS2', o.maxInflightQoS2, 20, 1, 65_535),
    maxBufferedMessages: int('maxBufferedMessages', o.maxBufferedMessages, 1000, 1, Number.MAX_SAFE_INTEGER),
    resubscribe: o.resubscribe ?? true,
    maxPacketSize: int(
      'maxPacketSize',
      o.maxPacketSize,
      MAX_REMAINING_LENGTH + 5,
      16,
      MAX_REMAINING_LENGTH + 5,
    ),
    store: o.store ?? new MemoryOutboundStore(),
  }
}
