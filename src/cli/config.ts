import { extname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { SCRAM_SHA_256 } from '../auth/scram-keys.js'
import { resolveOptions } from '../broker/options.js'
import { ConfigError } from '../errors.js'
import { readUserFile } from '../read-file.js'
import { type ClusterSettings, clusterFlag, isClusterFlag, settleCluster } from './cluster-settings.js'
import {
  BROKER_KEYS,
  CONFIG_KEYS,
  convert,
  describe,
  type FileBrokerOptions,
  kebab,
  type Source,
} from './config-keys.js'
import { HTTP_FLAG_KEYS, type HttpSettings, httpFlag, isHttpFlag, settleHttp } from './http-settings.js'
import { type ListenerSettings, settleListeners } from './listeners.js'
import type { LogLevel } from './logging.js'

const MAX_PORT = 65_535

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
  /** The cluster over NATS JetStream, files still paths (see loadClusterOptions); undefined: one node. */
  cluster: ClusterSettings | undefined
  /** Processes serving the port(s), each a node of `cluster` (workers.ts); 1: this process alone. */
  workers: number
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
    if (key !== 'cluster' && isClusterFlag(key)) {
      throw new ConfigError(
        key,
        `${fileName}: ${key} is a flag; in a file write cluster: { ${key.slice('cluster'.length).toLowerCase()}: ... }`,
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
  const clusterFlags: Partial<ClusterSettings> = {}
  for (const [key, raw] of flags) {
    if (isHttpFlag(key)) {
      Object.assign(httpFlags, httpFlag(key, raw))
      continue
    }
    if (isClusterFlag(key)) {
      Object.assign(clusterFlags, clusterFlag(key, raw))
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
  const http = settleHttp(values.get('http') as Partial<HttpSettings> | undefined, httpFlags, fileName) // issue 14
  const cluster = settleCluster(
    values.get('cluster') as Partial<ClusterSettings> | undefined,
    clusterFlags,
    fileName,
  )
  const workers = (values.get('workers') as number | undefined) ?? 1
  checkWorkers(values.has('workers'), workers, cluster, http, fileName, flags)
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
    http,
    cluster,
    workers,
  }
}

/**
 * Workers share messages, retained messages and sessions only through the cluster: without one,
 * each would be a broker of its own behind one port. Worker i's HTTP endpoint is on port + i.
 */
function checkWorkers(
  given: boolean,
  workers: number,
  cluster: ClusterSettings | undefined,
  http: HttpSettings | undefined,
  fileName: string,
  flags: ReadonlyMap<string, string>,
): void {
  const where = flags.has('workers') ? '--workers' : `${fileName}: workers`
  if (given && cluster === undefined) {
    throw new ConfigError(
      'workers',
      `${where} needs --cluster (or cluster: { servers } in a config file): the workers share messages, retained messages and sessions through the cluster`,
    )
  }
  if (http !== undefined && http.port !== 0 && http.port + workers - 1 > MAX_PORT) {
    throw new ConfigError(
      'workers',
      `${where}: worker i's HTTP endpoint listens on the HTTP port + i, and ${http.port} + ${workers - 1} is over ${MAX_PORT}`,
    )
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
