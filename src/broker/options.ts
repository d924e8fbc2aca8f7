import type { ClusterOptions } from '../cluster/options.js'
import { ConfigError } from '../errors.js'
import type { QoS } from '../protocol/constants.js'
import type { ConnectProperties } from '../protocol/packets.js'
import type { Store } from '../store/store.js'

/** What hooks learn about a client. */
export interface ClientInfo {
  readonly id: string
  readonly username: string | undefined
  readonly remoteAddress: string | undefined
  /** 3 (MQTT 3.1), 4 (3.1.1) or 5. */
  readonly protocolVersion: number
  /** MQTT 5: the CONNECT's properties (user properties, session expiry, ...); undefined for 3.1.1. */
  readonly connectProperties?: ConnectProperties | undefined
  /**
   * On a TLS listener with `useIdentityAsUsername`: the CN of the client certificate the
   * handshake verified, which is also `username`. The certificate is the authentication
   * (as Mosquitto's use_identity_as_username: its password_file is not asked), so credential
   * hooks let such a client in without a password; authorisation hooks see the CN as its
   * user name. Undefined on other listeners.
   */
  readonly certificateIdentity?: string | undefined
}

type MaybePromise<T> = T | Promise<T>

/** MQTT 5 enhanced authentication: the CONNECT's (or a re-authenticating AUTH's) method and data. */
export interface AuthRequest {
  readonly method: string
  readonly data: Buffer | undefined
}

/**
 * What an authenticate hook answers:
 * - `true` accepts (and, with enhanced authentication, leaves the method to another hook);
 *   `undefined` is the same: a hook set that does not know the client's method says nothing;
 * - `false` refuses: CONNACK 4 in 3.1.1; in MQTT 5 0x86 (bad user name or password), or
 *   0x87 (not authorized) when the client used enhanced authentication;
 * - a number refuses with that code: a 3.1.1 return code (1-5, mapped to its MQTT 5
 *   reason code for a v5 client) or an MQTT 5 reason code (0x80 and above, mapped back
 *   for a 3.1.1 client);
 * - `{ success }` accepts after enhanced authentication, sending this Authentication Data
 *   in CONNACK (or in AUTH 0x00 on re-authentication);
 * - `{ challenge, next }` sends AUTH 0x18 with this Authentication Data; the client's
 *   answer (its AUTH 0x18 data) goes to `next`, which answers in turn.
 * A CONNECT with an Authentication Method that no hook answers with `success` or
 * `challenge` is refused with CONNACK 0x8C (bad authentication method) [MQTT-4.12.0-1].
 */
export type AuthAnswer =
  | boolean
  | undefined
  | number
  | { success: Buffer | undefined }
  | { challenge: Buffer; next: (data: Buffer | undefined) => MaybePromise<AuthAnswer> }

/**
 * Decides whether a client may connect. `auth` is set for an MQTT 5 client using enhanced
 * authentication (its Authentication Method and Data), also when it re-authenticates.
 */
export type Authenticate = (
  client: ClientInfo,
  username: string | undefined,
  password: Buffer | undefined,
  auth?: AuthRequest,
) => MaybePromise<AuthAnswer>
/** `false` drops the message (it is still acknowledged, as MQTT 3.1.1 has no way to refuse a PUBLISH). */
export type AuthorizePublish = (
  client: ClientInfo,
  topic: string,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
) => MaybePromise<boolean>
/**
 * `false` refuses (SUBACK 0x80), `true` grants the QoS asked for, 0-2 grants at most that
 * QoS, a number from 0x80 refuses with that MQTT 5 reason code (0x87 Not authorized, 0x97
 * Quota exceeded, ...; a 3.1.1 client sees 0x80). `filter` is as subscribed, `$share/...` included.
 */
export type AuthorizeSubscribe = (
  client: ClientInfo,
  filter: string,
  qos: QoS,
) => MaybePromise<boolean | number>

/**
 * Hooks an embedder gives the broker. Several sets compose, in order (see Hooks):
 * the options' own hooks run first, then each set of `hooks`.
 */
export interface HookSet {
  authenticate?: Authenticate
  authorizePublish?: AuthorizePublish
  authorizeSubscribe?: AuthorizeSubscribe
  /** A client was accepted. */
  onConnect?: (client: ClientInfo) => void | Promise<void>
  /** A client's connection ended; `reason` says why. */
  onDisconnect?: (client: ClientInfo, reason: string) => void | Promise<void>
  // issue 13: acl
  /**
   * Whether `client` may receive a message on `topic`; `false`: it is not sent to that client.
   * Asked on every delivery, so it must be synchronous and cheap; a message queued for an
   * offline client is asked about when the client is back (see docs/decisions.md).
   */
  authorizeRead?: (client: ClientInfo, topic: string) => boolean
}

export interface Logger {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

export interface BrokerOptions {
  authenticate?: Authenticate
  authorizePublish?: AuthorizePublish
  authorizeSubscribe?: AuthorizeSubscribe
  /** More hook sets, run after the three above, in order. */
  hooks?: HookSet[]
  /**
   * Largest packet accepted, in bytes; larger ones close the connection as soon as their
   * header announces them. Default 4 MiB; at most 268435460 (the MQTT maximum).
   */
  maxPacketSize?: number
  /**
   * Largest packet accepted before the CONNECT is answered (the CONNECT itself and anything
   * sent behind it), in bytes: room for credentials and a will. Default 64 KiB.
   */
  maxConnectSize?: number
  /**
   * Milliseconds within which a packet must arrive whole once its first byte has come;
   * a connection that trickles one packet for longer is closed. Default 30000.
   */
  packetTimeout?: number
  /**
   * Levels ('/'-separated parts) a topic name or filter may have. A deeper filter is refused
   * (SUBACK 0x80); a deeper PUBLISH or will topic closes the connection. Default 128.
   */
  maxTopicLevels?: number
  /** Unacknowledged QoS 1/2 messages in flight to one client. Default 100. */
  maxInflight?: number
  /** QoS 1/2 messages queued per client beyond those in flight. Default 1000. */
  maxQueuedMessages?: number
  /** Connections at once; the next CONNECT is answered 0x03 (server unavailable). Default unlimited. */
  maxConnections?: number
  /** Milliseconds a new connection has to send CONNECT. Default 10000. */
  connectTimeout?: number
  /** Seconds between $SYS updates; 0 turns them off. Default 10. */
  sysInterval?: number
  /**
   * Milliseconds a subscriber that has messages waiting (a full queue, or QoS 0 output past a
   * quarter of maxOutputBuffer) may go without taking any of them before it is disconnected.
   * Default 30000.
   */
  slowConsumerTimeout?: number
  /**
   * Milliseconds a subscriber that cannot keep up may slow its publishers down. Past that, if
   * it took less than a sixteenth of maxOutputBuffer in the window (or, with a full queue,
   * acknowledged less than a quarter of maxInflight), it counts as stuck: publishers go on at full speed and its QoS 0 messages
   * are dropped, its QoS 1/2 messages past maxQueuedMessages too, until it drains again.
   * Default 500.
   */
  stuckConsumerWindow?: number
  /** Bytes of unsent QoS 0 data per connection beyond which QoS 0 messages to it are dropped. Default 4 MiB. */
  maxOutputBuffer?: number
  logger?: Logger
  /** Where sessions, queued and retained messages are kept. Default: a NoStore, which keeps nothing (pass a MemoryStore to hand state to another Broker in the same process). */
  store?: Store
  /**
   * Seconds after which a persistent session whose client stays away is ended; 0 = never.
   * Default 7 days. A 3.1.1 session with clean session 0 lasts this long; an MQTT 5 client's
   * Session Expiry Interval is lowered to it (and the CONNACK says so).
   */
  sessionExpiry?: number
  /**
   * Longest keep-alive a client may ask for, in seconds; 0 = no limit (default). An MQTT 5
   * client asking for more (or for 0, no keep-alive) is told this value in CONNACK (Server
   * Keep Alive); a 3.1.1 client is refused with CONNACK 2, as Mosquitto does.
   */
  maxKeepalive?: number
  /**
   * MQTT 5 Receive Maximum: QoS 1/2 PUBLISHes a client may have sent and not had
   * acknowledged; one more closes the connection with DISCONNECT 0x93. Default 1024.
   */
  receiveMaximum?: number
  /** MQTT 5 Topic Alias Maximum: topic aliases a client may use towards the broker; 0: none. Default 10. */
  topicAliasMaximum?: number
  /** MQTT 5 Response Information, sent in CONNACK to a client that asks for it; none by default. */
  responseInformation?: string
  // issue 13: limits (docs/limits.md; each counted in $SYS/broker/limits/<name>/..., logged once per offender)
  /**
   * Connections at once from one client address (an IPv6 address counts by its /64); one more
   * is closed as soon as it is accepted, before anything is read. 0: no limit. Default 1000,
   * which then does not apply to loopback addresses (one host's clients, a local proxy and
   * benchmarks all share 127.0.0.1); a value given here applies to every address.
   */
  maxConnectionsPerIp?: number
  /**
   * New connections per second from one client address (a token bucket holding one second's
   * worth); more are closed as soon as they are accepted. 0: no limit. Default 100, which then
   * does not apply to loopback addresses; a value given here applies to every address.
   */
  connectionRatePerIp?: number
  /**
   * Subscriptions one client may hold; the filters of a SUBSCRIBE past it are refused (SUBACK
   * 0x80; MQTT 5: 0x97 Quota exceeded). Re-subscribing to a filter held does not count. 0: no
   * limit. Default 1000.
   */
  maxSubscriptionsPerClient?: number
  /**
   * PUBLISH packets per second one connection may send (a token bucket holding one second's
   * worth); past it the broker stops reading the connection until the bucket refills: the
   * client is slowed, nothing is dropped. 0 (default): no limit.
   */
  maxInboundRate?: number
  /** Bytes per second one connection may send, enforced like maxInboundRate. 0 (default): no limit. */
  maxInboundBytesRate?: number
  /**
   * Join a cluster of Petrel nodes over NATS JetStream (see ClusterOptions). Undefined
   * (default): a single node, and nothing of NATS is loaded.
   */
  cluster?: ClusterOptions | undefined
}

export interface ResolvedOptions {
  /** The options' own hooks, then `hooks`. */
  hooks: HookSet[]
  maxPacketSize: number
  maxConnectSize: number
  packetTimeout: number
  maxTopicLevels: number
  maxInflight: number
  maxQueuedMessages: number
  maxConnections: number
  connectTimeout: number
  sysInterval: number
  slowConsumerTimeout: number
  stuckConsumerWindow: number
  maxOutputBuffer: number
  sessionExpiry: number
  maxKeepalive: number
  receiveMaximum: number
  topicAliasMaximum: number
  responseInformation: string | undefined
  logger: Logger
  /** The monotonic clock timers are measured on (performance.now). */
  now: () => number
  // issue 13: limits
  maxConnectionsPerIp: number
  connectionRatePerIp: number
  /** The per-IP limits for loopback addresses: the values given, 0 (none) where the defaults apply. */
  loopbackPerIp: { maxConnections: number; rate: number }
  maxSubscriptionsPerClient: number
  maxInboundRate: number
  maxInboundBytesRate: number
}

/** The MQTT maximum: 4 bytes of header and a remaining length of 268435455. [MQTT-2.2.3] */
const MAX_PACKET_SIZE = 268_435_460
const DEFAULT_MAX_PACKET_SIZE = 4 * 1024 * 1024
/** The longest delay a Node timer takes (about 24.8 days); a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647

const noop = (): void => {}
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }

function int(
  name: string,
  value: number | undefined,
  dflt: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return dflt
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    !Number.isInteger(value)
  ) {
    throw new ConfigError(name, `${name} must be a whole number from ${min} to ${max}; got ${String(value)}`)
  }
  return value
}

function text(name: string, value: string | undefined): string | undefined {
  if (value === undefined || typeof value === 'string') return value
  throw new ConfigError(name, `${name} must be a string; got ${typeof value}`)
}

const HOOK_NAMES = [
  'authenticate',
  'authorizePublish',
  'authorizeSubscribe',
  'onConnect',
  'onDisconnect',
  'authorizeRead', // issue 13: acl
] as const

function hookSets(o: BrokerOptions): HookSet[] {
  const own: HookSet = {}
  if (o.authenticate !== undefined) own.authenticate = o.authenticate
  if (o.authorizePublish !== undefined) own.authorizePublish = o.authorizePublish
  if (o.authorizeSubscribe !== undefined) own.authorizeSubscribe = o.authorizeSubscribe
  if (o.hooks !== undefined && !Array.isArray(o.hooks)) {
    throw new ConfigError('hooks', `hooks must be a list of hook sets; got ${typeof o.hooks}`)
  }
  const sets = [own, ...(o.hooks ?? [])]
  for (const [i, set] of sets.entries()) {
    for (const name of HOOK_NAMES) {
      const f = set?.[name]
      if (f !== undefined && typeof f !== 'function') {
        const where = i === 0 ? name : `hooks[${i - 1}].${name}`
        throw new ConfigError(where, `${where} must be a function; got ${typeof f}`)
      }
    }
  }
  return sets
}

export function resolveOptions(o: BrokerOptions = {}): ResolvedOptions {
  return {
    hooks: hookSets(o),
    maxPacketSize: int('maxPacketSize', o.maxPacketSize, DEFAULT_MAX_PACKET_SIZE, 16, MAX_PACKET_SIZE),
    maxConnectSize: int('maxConnectSize', o.maxConnectSize, 65_536, 16, MAX_PACKET_SIZE),
    packetTimeout: int('packetTimeout', o.packetTimeout, 30_000, 1, MAX_TIMER_MS),
    maxTopicLevels: int('maxTopicLevels', o.maxTopicLevels, 128, 1, 65_536),
    maxInflight: int('maxInflight', o.maxInflight, 100, 1, 65_535),
    maxQueuedMessages: int('maxQueuedMessages', o.maxQueuedMessages, 1000, 0),
    maxConnections: int('maxConnections', o.maxConnections, Number.MAX_SAFE_INTEGER, 1),
    connectTimeout: int('connectTimeout', o.connectTimeout, 10_000, 1, MAX_TIMER_MS),
    sysInterval: int('sysInterval', o.sysInterval, 10, 0),
    slowConsumerTimeout: int('slowConsumerTimeout', o.slowConsumerTimeout, 30_000, 1, MAX_TIMER_MS),
    stuckConsumerWindow: int('stuckConsumerWindow', o.stuckConsumerWindow, 500, 1, MAX_TIMER_MS),
    // at least 64 KiB: a quarter of it then reaches a socket's 16 KiB high-water mark, so the
    // write that crosses the soft limit always ends in a 'drain' that lets slowed publishers go
    maxOutputBuffer: int('maxOutputBuffer', o.maxOutputBuffer, 4 * 1024 * 1024, 65_536),
    sessionExpiry: int('sessionExpiry', o.sessionExpiry, 7 * 24 * 3600, 0),
    maxKeepalive: int('maxKeepalive', o.maxKeepalive, 0, 0, 65_535),
    receiveMaximum: int('receiveMaximum', o.receiveMaximum, 1024, 1, 65_535),
    topicAliasMaximum: int('topicAliasMaximum', o.topicAliasMaximum, 10, 0, 65_535),
    responseInformation: text('responseInformation', o.responseInformation),
    logger: o.logger ?? silentLogger,
    now: () => performance.now(),
    // issue 13: limits
    maxConnectionsPerIp: int('maxConnectionsPerIp', o.maxConnectionsPerIp, 1000, 0),
    connectionRatePerIp: int('connectionRatePerIp', o.connectionRatePerIp, 100, 0),
    loopbackPerIp: {
      maxConnections: int('maxConnectionsPerIp', o.maxConnectionsPerIp, 0, 0),
      rate: int('connectionRatePerIp', o.connectionRatePerIp, 0, 0),
    },
    maxSubscriptionsPerClient: int('maxSubscriptionsPerClient', o.maxSubscriptionsPerClient, 1000, 0),
    maxInboundRate: int('maxInboundRate', o.maxInboundRate, 0, 0),
    maxInboundBytesRate: int('maxInboundBytesRate', o.maxInboundBytesRate, 0, 0),
  }
}
