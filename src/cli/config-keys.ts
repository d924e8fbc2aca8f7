import { availableParallelism } from 'node:os'
import { parseScramCredentials, SCRAM_SHA_256 } from '../auth/scram-keys.js'
import type { BrokerOptions } from '../broker/options.js'
import { ConfigError } from '../errors.js'
import { parseClusterSection } from './cluster-settings.js'
import { parseHttpSection } from './http-settings.js'
import { parseListeners } from './listeners.js'
import { LOG_LEVELS } from './logging.js'

/**
 * The keys of `petrel broker`'s settings: each key's kind, range and help, and one value,
 * from a config file or a flag, checked and converted by its kind. config.ts merges them.
 */

/** Options whose values are functions or objects: only the embedding API can give them. */
type CodeOnly = 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'hooks' | 'logger' | 'store'
/**
 * The BrokerOptions a file or flags give as plain values. `cluster` is not one: its section
 * names files, read at start into ClusterOptions (cluster-settings.ts).
 */
export type FileBrokerOptions = Omit<BrokerOptions, CodeOnly | 'cluster'>

export type Kind =
  | { type: 'int'; min: number; max: number }
  | { type: 'string' }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'users' }
  | { type: 'listeners' } // issue 13: transport
  | { type: 'http' } // issue 14
  | { type: 'cluster' }
  | { type: 'workers' }

export type KeySpec = Kind & { help: string }

/** Node's longest timer: the cap on every option given in ms. */
const TIMER_MAX = 2_147_483_647
const NO_MAX = Number.MAX_SAFE_INTEGER
/** More processes than this is a typo, not a machine: forking them would exhaust it. */
const MAX_WORKERS = 1024

function int(min: number, max: number, help: string): KeySpec {
  return { type: 'int', min, max, help }
}

/**
 * Every BrokerOptions key a file can set. The mapped type makes `tsc` fail when
 * the Broker gains an option that is missing here. Ranges are checked again by
 * the Broker's own resolveOptions, which is the authority.
 */
export const BROKER_KEYS: { [K in keyof Required<FileBrokerOptions>]: KeySpec } = {
  maxPacketSize: int(16, 268_435_460, 'largest packet accepted, bytes'),
  maxConnectSize: int(16, 268_435_460, 'largest packet accepted before CONNACK, bytes'),
  packetTimeout: int(1, TIMER_MAX, 'ms a started packet has to arrive whole'),
  maxTopicLevels: int(1, 65_536, 'levels of a topic name or filter'),
  maxInflight: int(1, 65_535, 'unacknowledged QoS 1/2 messages per client'),
  maxQueuedMessages: int(0, NO_MAX, 'QoS 1/2 messages queued per client'),
  maxConnections: int(1, NO_MAX, 'connections at once'),
  connectTimeout: int(1, TIMER_MAX, 'ms a new connection has to send CONNECT'),
  sysInterval: int(0, NO_MAX, 'seconds between $SYS updates; 0: off'),
  slowConsumerTimeout: int(
    1,
    TIMER_MAX,
    'ms a subscriber with messages waiting may take none before it is disconnected',
  ),
  stuckConsumerWindow: int(1, TIMER_MAX, 'ms a subscriber that cannot keep up may slow its publishers'),
  maxOutputBuffer: int(65_536, NO_MAX, 'bytes of unsent QoS 0 data per connection'),
  sessionExpiry: int(0, NO_MAX, 'seconds an absent persistent session is kept; 0: forever'),
  maxKeepalive: int(0, 65_535, 'longest keep-alive a client may ask for, seconds; 0: no limit'),
  receiveMaximum: int(1, 65_535, 'MQTT 5: unacknowledged QoS 1/2 PUBLISHes a client may send'),
  topicAliasMaximum: int(0, 65_535, 'MQTT 5: topic aliases a client may use; 0: none'),
  responseInformation: { type: 'string', help: 'MQTT 5: Response Information for clients that ask' },
  // issue 13: limits
  maxConnectionsPerIp: int(0, NO_MAX, 'connections at once per client address; 0: no limit'),
  connectionRatePerIp: int(0, NO_MAX, 'new connections per second per client address; 0: no limit'),
  maxSubscriptionsPerClient: int(0, NO_MAX, 'subscriptions one client may hold; 0: no limit'),
  maxInboundRate: int(0, NO_MAX, 'PUBLISHes per second one connection may send; 0: no limit'),
  maxInboundBytesRate: int(0, NO_MAX, 'bytes per second one connection may send; 0: no limit'),
}

const OTHER_KEYS: Record<string, KeySpec> = {
  port: int(0, 65_535, 'TCP port (default 1883)'),
  host: { type: 'string', help: 'address to listen on (default 127.0.0.1; 0.0.0.0 for all)' },
  dataDir: { type: 'string', help: 'SQLite store directory (default ./petrel-data)' },
  memory: { type: 'bool', help: 'keep nothing on disk' },
  sync: {
    type: 'enum',
    values: ['normal', 'full'],
    help: 'SQLite durability: normal (survives kill -9; default) or full (survives power loss)',
  },
  logLevel: { type: 'enum', values: LOG_LEVELS, help: `${LOG_LEVELS.join(' | ')} (default info)` },
  users: { type: 'users', help: 'user name: password map' },
  allowAnonymous: {
    type: 'bool',
    help: 'let clients without a user name in (default false with users or a password file, else true)',
  },
  // issue 13: acl
  aclFile: {
    type: 'string',
    help: 'Mosquitto acl_file: who may read and write which topics (reloaded on SIGHUP)',
  },
  // issue 13: credentials
  passwordFile: {
    type: 'string',
    help: "Mosquitto password file, reloaded on SIGHUP (make one with 'petrel passwd -c FILE USER')",
  },
  allowPlaintextUsers: { type: 'bool', help: 'let users hold plain-text passwords' },
  // issue 13: transport
  listeners: { type: 'listeners', help: 'listeners: mqtt, mqtts, ws, wss (see docs)' },
  // issue 14: the HTTP endpoint (its flags: HTTP_FLAGS in http-settings.ts)
  http: { type: 'http', help: 'the HTTP endpoint: { port, host, certfile, keyfile, tokenFile }' },
  // the cluster over NATS JetStream (its flags: CLUSTER_FLAGS in cluster-settings.ts)
  cluster: {
    type: 'cluster',
    help: 'join a cluster over NATS: { servers, node, user, password(File), token(File), tls, replicas, connectTimeout }',
  },
  // several processes of this host on one port, joined through the cluster (workers.ts)
  workers: {
    type: 'workers',
    help: 'processes sharing the port(s), joined through --cluster; 0 or auto: one per core (default 1)',
  },
}

/** Every config file key, in documentation order. */
export const CONFIG_KEYS: ReadonlyMap<string, KeySpec> = new Map([
  ...Object.entries(OTHER_KEYS),
  ...Object.entries(BROKER_KEYS),
])

/** Keys that only a file can give: users and what goes with them, and the listeners list. */
const FILE_ONLY_KEYS: readonly string[] = [
  'users',
  'allowAnonymous',
  'allowPlaintextUsers',
  'listeners',
  'http',
  'cluster',
]

/** Keys that can also be given as flags (kebab-case). */
export const FLAG_KEYS: readonly string[] = [...CONFIG_KEYS.keys()].filter((k) => !FILE_ONLY_KEYS.includes(k))

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** A value as it came: from a file (typed by YAML/JSON) or from a flag (a string). */
export type Source = { from: 'file'; name: string } | { from: 'flag' }

export function describe(key: string, src: Source): string {
  return src.from === 'file' ? `${src.name}: ${key}` : `--${kebab(key)}`
}

function allowed(kind: Kind): string {
  switch (kind.type) {
    case 'int':
      return kind.max === NO_MAX
        ? `a whole number >= ${kind.min}`
        : `a whole number from ${kind.min} to ${kind.max}`
    case 'string':
      return 'a string'
    case 'bool':
      return 'true or false'
    case 'enum':
      return `one of ${kind.values.join(', ')}`
    case 'users':
      return 'a mapping of user names to passwords (strings)'
    case 'listeners':
      return 'a list of listeners'
    case 'http':
      return 'a mapping { port, host, certfile, keyfile, tokenFile }'
    case 'cluster':
      return 'a mapping { servers, node, ... }'
    case 'workers':
      return `a whole number from 1 to ${MAX_WORKERS}, or 0 or auto for one per core`
  }
}

function shown(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v))
}

/** Checks one value against its key's kind; flag values are strings and are converted. */
export function convert(key: string, kind: Kind, raw: unknown, src: Source): unknown {
  const bad = (): never => {
    throw new ConfigError(key, `${describe(key, src)} must be ${allowed(kind)}; got ${shown(raw)}`)
  }
  switch (kind.type) {
    case 'int': {
      let n = raw
      if (src.from === 'flag' && typeof raw === 'string' && /^-?\d+$/.test(raw)) n = Number(raw)
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < kind.min || n > kind.max) return bad()
      return n
    }
    case 'string':
      if (typeof raw !== 'string' || raw === '') return bad()
      return raw
    case 'bool':
      if (typeof raw === 'boolean') return raw
      if (src.from === 'flag' && (raw === 'true' || raw === 'false')) return raw === 'true'
      return bad()
    case 'enum': {
      const s = typeof raw === 'string' ? raw.toLowerCase() : raw
      if (typeof s !== 'string' || !kind.values.includes(s)) return bad()
      return s
    }
    case 'users': {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return bad()
      const users = new Map<string, string>()
      for (const [name, pw] of Object.entries(raw)) {
        if (typeof pw !== 'string' && typeof pw !== 'number') {
          throw new ConfigError(
            key,
            `${describe(key, src)}.${name} must be a password (a string); got ${shown(pw)}`,
          )
        }
        if (typeof pw === 'string' && pw.startsWith(`${SCRAM_SHA_256}$`)) {
          try {
            parseScramCredentials(pw)
          } catch (err) {
            throw new ConfigError(key, `${describe(key, src)}.${name}: ${(err as Error).message}`)
          }
        }
        users.set(name, String(pw))
      }
      return users
    }
    case 'listeners':
      return parseListeners(raw, describe(key, src))
    case 'http':
      return parseHttpSection(raw, describe(key, src))
    case 'cluster':
      return parseClusterSection(raw, describe(key, src))
    case 'workers': {
      let n = raw
      if (src.from === 'flag' && typeof raw === 'string' && /^\d+$/.test(raw)) n = Number(raw)
      if (n === 'auto' || n === 0) return availableParallelism()
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_WORKERS) return bad()
      return n
    }
  }
}
