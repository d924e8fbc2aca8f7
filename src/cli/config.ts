import { extname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { parseScramCredentials, SCRAM_SHA_256 } from '../auth/scram-keys.js'
import { type BrokerOptions, resolveOptions } from '../broker/options.js'
import { ConfigError } from '../errors.js'
import { readUserFile } from '../read-file.js'
import {
  HTTP_FLAG_KEYS,
  type HttpSettings,
  httpFlag,
  isHttpFlag,
  parseHttpSection,
  settleHttp,
} from './http-settings.js'
import { type ListenerSettings, parseListeners, settleListeners } from './listeners.js'
import { LOG_LEVELS, type LogLevel } from './logging.js'

/**
 * `petrel broker` settings: a config file (YAML or JSON) whose keys are the
 * BrokerOptions names plus the listener, store and logging settings, with
 * command-line flags (the same names in kebab-case) on top.
 */
export interface BrokerSettings {
  port: number
  host: string
  /** Undefined with `memory`. */
  dataDir: string | undefined
  memory: boolean
  sync: 'normal' | 'full'
  logLevel: LogLevel
  /** user name -> password (or SCRAM-SHA-256 credentials); undefined: none. */
  users: Map<string, string> | undefined
  /** A Mosquitto password file; undefined: none. */
  passwordFile: string | undefined
  /** Default: false when `users` or `passwordFile` is given, else true. */
  allowAnonymous: boolean
  /** The BrokerOptions that a file or flags can give (every one but the hooks, logger and store). */
  broker: FileBrokerOptions
  // issue 13: acl
  /** A Mosquitto acl_file; undefined: no topic rules. */
  aclFile: string | undefined
  // issue 13: transport
  /** The listeners to open: `listeners:`, or one mqtt listener on port/host (see settleListeners). */
  listeners: ListenerSettings[]
  // issue 14
  /** The HTTP endpoint (metrics, health, admin API, dashboard); undefined: off. */
  http: HttpSettings | undefined
}

/** Options whose values are functions or objects: only the embedding API can give them. */
type CodeOnly = 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'hooks' | 'logger' | 'store'
export type FileBrokerOptions = Omit<BrokerOptions, CodeOnly>

type Kind =
  | { type: 'int'; min: number; max: number }
  | { type: 'string' }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'users' }
  | { type: 'listeners' } // issue 13: transport
  | { type: 'http' } // issue 14

type KeySpec = Kind & { help: string }

/** Node's longest timer: the cap on every option given in ms. */
const TIMER_MAX = 2_147_483_647
const NO_MAX = Number.MAX_SAFE_INTEGER

function int(min: number, max: number, help: string): KeySpec {
  return { type: 'int', min, max, help }
}

/**
 * Every BrokerOptions key a file can set. The mapped type makes `tsc` fail when
 * the Broker gains an option that is missing here. Ranges are checked again by
 * the Broker's own resolveOptions, which is the authority.
 */
const BROKER_KEYS: { [K in keyof Required<FileBrokerOptions>]: KeySpec } = {
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
]

/** Keys that can also be given as flags (kebab-case). */
export const FLAG_KEYS: readonly string[] = [...CONFIG_KEYS.keys()].filter((k) => !FILE_ONLY_KEYS.includes(k))

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

/** Reads a config file: `.json` as JSON, anything else as YAML (which also reads JSON). */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  const text = (await readUserFile(path, 'config', 'config file')).toString('utf8')
  let doc: unknown
  try {
    doc = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    const first = ((err as Error).message.split('\n')[0] ?? '').trim().replace(/:$/, '')
    throw new ConfigError(
      'config',
      `${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${first}`,
    )
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError('config', `${path} must hold a mapping of settings (key: value)`)
  }
  return doc as Record<string, unknown>
}

/** A value as it came: from a file (typed by YAML/JSON) or from a flag (a string). */
type Source = { from: 'file'; name: string } | { from: 'flag' }

function describe(key: string, src: Source): string {
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
  }
}

function shown(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v))
}

/** Checks one value against its key's kind; flag values are strings and are converted. */
function convert(key: string, kind: Kind, raw: unknown, src: Source): unknown {
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
  }
}

/**
 * Merges a config file (may be empty) and flags (camelCase keys, string
 * values; they win) into checked settings. Throws a ConfigError naming the
 * key and what is allowed on the first bad or unknown key.
 */
export function resolveSettings(
  file: Record<string, unknown>,
  fileName: string,
  flags: ReadonlyMap<string, string>,
): BrokerSettings {
  const values = new Map<string, unknown>()
  for (const [key, raw] of Object.entries(file)) {
    const kind = CONFIG_KEYS.get(key)
    if (isHttpFlag(key)) {
      throw new ConfigError(
        key,
        `${fileName}: ${key} is a flag; in a file write http: { ${HTTP_FLAG_KEYS[key]}: ... }`,
      )
    }
    if (kind === undefined) {
      const fileKeys = [...CONFIG_KEYS.keys()]
      const near = closest(key, fileKeys)
      const hint = near === undefined ? '' : ` (did you mean '${near}'?)`
      throw new ConfigError(
        key,
        `${fileName}: unknown key '${key}'${hint}; allowed keys: ${fileKeys.join(', ')}`,
      )
    }
    values.set(key, convert(key, kind, raw, { from: 'file', name: fileName }))
  }
  if (values.get('memory') === true && values.has('dataDir')) {
    throw new ConfigError('memory', `${fileName}: memory: true and dataDir exclude each other; give one`)
  }
  const httpFlags: Partial<HttpSettings> = {}
  for (const [key, raw] of flags) {
    if (isHttpFlag(key)) {
      Object.assign(httpFlags, httpFlag(key, raw))
      continue
    }
    const kind = CONFIG_KEYS.get(key)
    if (kind === undefined) throw new ConfigError(key, `unknown option '--${kebab(key)}'`)
    values.set(key, convert(key, kind, raw, { from: 'flag' }))
  }
  if (flags.has('memory') && flags.has('dataDir')) {
    throw new ConfigError('memory', '--memory and --data-dir exclude each other; give one')
  }
  // A flag overrides the file's choice of store in either direction.
  if (flags.has('memory')) values.delete('dataDir')
  else if (flags.has('dataDir')) values.set('memory', false)

  const broker: FileBrokerOptions = {}
  for (const key of Object.keys(BROKER_KEYS) as (keyof FileBrokerOptions)[]) {
    const v = values.get(key)
    if (typeof v === 'number' || typeof v === 'string') (broker as Record<string, unknown>)[key] = v
  }
  try {
    resolveOptions(broker) // the Broker's own checks, before anything is opened
  } catch (err) {
    if (err instanceof ConfigError) {
      const src: Source = flags.has(err.option) ? { from: 'flag' } : { from: 'file', name: fileName }
      throw new ConfigError(err.option, `${describe(err.option, src)}: ${err.message}`)
    }
    throw err
  }
  const memory = values.get('memory') === true
  const users = values.get('users') as Map<string, string> | undefined
  const passwordFile = values.get('passwordFile') as string | undefined
  checkCredentials(users, passwordFile, values.get('allowPlaintextUsers') === true, fileName, flags)
  return {
    port: (values.get('port') as number | undefined) ?? 1883,
    host: (values.get('host') as string | undefined) ?? '127.0.0.1',
    dataDir: memory ? undefined : ((values.get('dataDir') as string | undefined) ?? 'petrel-data'),
    memory,
    sync: (values.get('sync') as 'normal' | 'full' | undefined) ?? 'normal',
    logLevel: (values.get('logLevel') as LogLevel | undefined) ?? 'info',
    users,
    passwordFile,
    // Anyone may come in until some credential source is set up; then only with a user name.
    allowAnonymous:
      (values.get('allowAnonymous') as boolean | undefined) ??
      (users === undefined && passwordFile === undefined),
    broker,
    aclFile: values.get('aclFile') as string | undefined, // issue 13: acl
    // issue 13: transport
    listeners: settleListeners(
      values.get('listeners') as ListenerSettings[] | undefined,
      values.get('port') as number | undefined,
      values.get('host') as string | undefined,
      'port' in file || 'host' in file,
      fileName,
    ),
    http: settleHttp(values.get('http') as Partial<HttpSettings> | undefined, httpFlags, fileName), // issue 14
  }
}

/**
 * The credential sources must be safe to run: plain-text passwords in `users` only when
 * the file says so, and one source at a time (each would refuse the other's users).
 */
function checkCredentials(
  users: ReadonlyMap<string, string> | undefined,
  passwordFile: string | undefined,
  allowPlaintext: boolean,
  fileName: string,
  flags: ReadonlyMap<string, string>,
): void {
  if (users === undefined) return
  if (passwordFile !== undefined) {
    const where = flags.has('passwordFile') ? '--password-file' : 'passwordFile'
    throw new ConfigError(
      'users',
      `${fileName}: users and ${where} exclude each other; put every user in the password file`,
    )
  }
  if (allowPlaintext) return
  for (const [name, value] of users) {
    if (value.startsWith(`${SCRAM_SHA_256}$`)) continue
    throw new ConfigError(
      'users',
      `${fileName}: users.${name} holds a plain-text password; put your users in a password file ` +
        `('petrel passwd -c passwd ${name}', then passwordFile: passwd), or set allowPlaintextUsers: true`,
    )
  }
}

/** The known key nearest to a misspelt one (at most 2 edits, or a case difference), if any. */
function closest(key: string, keys: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = 3
  for (const k of keys) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : distance(k, key)
    if (d < bestDistance) {
      best = k
      bestDistance = d
    }
  }
  return best
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)))
    }
    prev = row
  }
  return prev[b.length]!
}
