import type { ClusterOptions } from '../broker/cluster-options.js'
import { ConfigError } from '../errors.js'
import { readUserFile } from '../read-file.js'
import type { FlagSpec } from './args.js'

/**
 * `petrel broker`'s cluster settings: `cluster:` in the config file (a mapping, or just the
 * servers) and the --cluster, --cluster-node and --cluster-replicas flags (which win). Files
 * stay paths here; loadClusterOptions reads them into the ClusterOptions the Broker takes.
 */
export interface ClusterSettings {
  /** NATS URLs, each nats:// or tls:// with a host. */
  servers: string[]
  node: string | undefined
  user: string | undefined
  password: string | undefined
  /** A file holding the password (trimmed); excludes `password`. */
  passwordFile: string | undefined
  token: string | undefined
  /** A file holding the token (trimmed); excludes `token`. */
  tokenFile: string | undefined
  /** Paths of PEM files: the CA, and a client certificate with its key. */
  tls: ClusterTlsFiles | undefined
  replicas: number | undefined
  connectTimeout: number | undefined
}

/** `cluster: { tls: { ca, cert, key } }`: paths of PEM files. */
export interface ClusterTlsFiles {
  ca: string | undefined
  cert: string | undefined
  key: string | undefined
}

/** The flags' keys (camelCase, as config.ts names flags) and the `cluster:` key each stands for. */
export const CLUSTER_FLAG_KEYS = {
  cluster: 'servers',
  clusterNode: 'node',
  clusterReplicas: 'replicas',
} as const

type FlagKey = keyof typeof CLUSTER_FLAG_KEYS

const FLAG_OF: Record<(typeof CLUSTER_FLAG_KEYS)[FlagKey], string> = {
  servers: '--cluster',
  node: '--cluster-node',
  replicas: '--cluster-replicas',
}

/** The --cluster* flags of `petrel broker` (a file says `cluster: { ... }`). */
export const CLUSTER_FLAGS: readonly FlagSpec[] = [
  {
    name: 'cluster',
    value: true,
    arg: 'urls',
    help: 'join a cluster over NATS JetStream: nats://host:4222[,nats://host2:4222...] (default: off)',
  },
  {
    name: 'cluster-node',
    value: true,
    arg: 'name',
    help: 'this node in the cluster: unique, stable across restarts (default: host name and pid)',
  },
  {
    name: 'cluster-replicas',
    value: true,
    arg: 'n',
    help: 'replicas of the cluster streams, 1 to 5 (default 1; 3 with 3 or more NATS servers)',
  },
]

const SECTION_KEYS = [
  'servers',
  'node',
  'user',
  'password',
  'passwordFile',
  'token',
  'tokenFile',
  'tls',
  'replicas',
  'connectTimeout',
] as const
type SectionKey = (typeof SECTION_KEYS)[number]
const TLS_KEYS = ['ca', 'cert', 'key'] as const
const MAX_REPLICAS = 5
/** Node's longest timer. */
const TIMER_MAX = 2_147_483_647
/** A node name goes into NATS subjects and consumer names, where '.', '*', '>' and blanks cannot. */
const NODE_NAME = /^[A-Za-z0-9_-]+$/

/** True for a --cluster* flag's key (`cluster` is also the file's key; config.ts tells them apart). */
export function isClusterFlag(key: string): key is FlagKey {
  return Object.hasOwn(CLUSTER_FLAG_KEYS, key)
}

/** One --cluster* flag's value (a string), checked: `{ servers: [...] }`, `{ node }`, `{ replicas }`. */
export function clusterFlag(key: FlagKey, raw: string): Partial<ClusterSettings> {
  const field = CLUSTER_FLAG_KEYS[key]
  const where = FLAG_OF[field]
  if (field === 'servers') return { servers: parseServers(raw, where) }
  if (field === 'node') return { node: nodeName(raw, where) }
  const n = /^\d+$/.test(raw) ? Number(raw) : raw
  return { replicas: wholeNumber(n, where, 1, MAX_REPLICAS) }
}

/**
 * Checks the config file's `cluster:` value: a mapping, or the servers alone (a list, or one
 * comma-separated string). `where` names it in errors ("petrel.yaml: cluster").
 */
export function parseClusterSection(raw: unknown, where: string): Partial<ClusterSettings> {
  if (typeof raw === 'string' || Array.isArray(raw)) return { servers: parseServers(raw, where) }
  if (typeof raw !== 'object' || raw === null) {
    throw new ConfigError(
      'cluster',
      `${where} must be a mapping such as { servers: [nats://127.0.0.1:4222] }; got ${shown(raw)}`,
    )
  }
  const out: Partial<ClusterSettings> = {}
  for (const [key, value] of Object.entries(raw)) {
    const at = `${where}.${key}`
    switch (key as SectionKey) {
      case 'servers':
        out.servers = parseServers(value, at)
        break
      case 'node':
        out.node = nodeName(value, at)
        break
      case 'user':
      case 'password':
      case 'passwordFile':
      case 'token':
      case 'tokenFile':
        out[key as 'user'] = text(value, at)
        break
      case 'tls':
        out.tls = parseTls(value, at)
        break
      case 'replicas':
        out.replicas = wholeNumber(value, at, 1, MAX_REPLICAS)
        break
      case 'connectTimeout':
        out.connectTimeout = wholeNumber(value, at, 1, TIMER_MAX)
        break
      default:
        throw new ConfigError(
          'cluster',
          `${where}: unknown key '${key}'; allowed keys: ${SECTION_KEYS.join(', ')}`,
        )
    }
  }
  checkCredentials(out, where)
  return out
}

/** NATS takes a user with a password, or a token; each secret inline or from a file, not both. */
function checkCredentials(s: Partial<ClusterSettings>, where: string): void {
  const fail = (message: string): never => {
    throw new ConfigError('cluster', `${where}: ${message}`)
  }
  if (s.password !== undefined && s.passwordFile !== undefined)
    fail('password and passwordFile exclude each other; give one')
  if (s.token !== undefined && s.tokenFile !== undefined)
    fail('token and tokenFile exclude each other; give one')
  const hasPassword = s.password !== undefined || s.passwordFile !== undefined
  const hasToken = s.token !== undefined || s.tokenFile !== undefined
  if (hasToken && (s.user !== undefined || hasPassword))
    fail('a token and a user/password exclude each other; NATS takes one or the other')
  if (s.user !== undefined && !hasPassword) fail('user needs a password (password or passwordFile)')
  if (s.user === undefined && hasPassword) fail('a password needs a user (user: NAME)')
}

/**
 * The cluster settings from the file's `cluster:` and the flags (already checked; they win),
 * or undefined when neither gives servers: the broker is a single node.
 */
export function settleCluster(
  section: Partial<ClusterSettings> | undefined,
  flags: Partial<ClusterSettings>,
  fileName: string,
): ClusterSettings | undefined {
  const merged: Partial<ClusterSettings> = { ...section, ...flags }
  if (merged.servers === undefined) {
    if (section !== undefined) {
      throw new ConfigError(
        'cluster',
        `${fileName}: cluster needs servers (e.g. servers: [nats://127.0.0.1:4222])`,
      )
    }
    const given = Object.keys(flags) as (keyof typeof FLAG_OF)[]
    if (given.length > 0) {
      throw new ConfigError(
        'cluster',
        `${FLAG_OF[given[0]!]} needs --cluster (or cluster: { servers } in a config file)`,
      )
    }
    return undefined
  }
  return {
    servers: merged.servers,
    node: merged.node,
    user: merged.user,
    password: merged.password,
    passwordFile: merged.passwordFile,
    token: merged.token,
    tokenFile: merged.tokenFile,
    tls: merged.tls,
    replicas: merged.replicas,
    connectTimeout: merged.connectTimeout,
  }
}

/**
 * Reads the files the settings name (password, token, TLS PEMs) into the ClusterOptions the
 * Broker takes: a ConfigError naming the file that cannot be read, or that is empty.
 */
export async function loadClusterOptions(s: ClusterSettings): Promise<ClusterOptions> {
  const options: ClusterOptions = { servers: [...s.servers] }
  if (s.node !== undefined) options.node = s.node
  if (s.user !== undefined) options.user = s.user
  const password = s.password ?? (await secretFile(s.passwordFile, 'cluster password file'))
  if (password !== undefined) options.password = password
  const token = s.token ?? (await secretFile(s.tokenFile, 'cluster token file'))
  if (token !== undefined) options.token = token
  if (s.tls !== undefined) {
    const tls: NonNullable<ClusterOptions['tls']> = {}
    if (s.tls.ca !== undefined) tls.ca = await pem(s.tls.ca, 'cluster TLS CA file')
    if (s.tls.cert !== undefined) tls.cert = await pem(s.tls.cert, 'cluster TLS certificate file')
    if (s.tls.key !== undefined) tls.key = await pem(s.tls.key, 'cluster TLS key file')
    options.tls = tls
  }
  if (s.replicas !== undefined) options.replicas = s.replicas
  if (s.connectTimeout !== undefined) options.connectTimeout = s.connectTimeout
  return options
}

/** The settings as shown (startup, /api/v1/broker): paths as given, inline secrets never. */
export function shownCluster(s: ClusterSettings): Record<string, unknown> {
  const out: Record<string, unknown> = { servers: [...s.servers] }
  for (const [key, value] of Object.entries(s)) {
    if (key === 'servers' || value === undefined) continue
    if (key === 'password' || key === 'token') out[key] = '[redacted]'
    else if (key === 'tls')
      out.tls = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined))
    else out[key] = value
  }
  return out
}

function parseServers(raw: unknown, where: string): string[] {
  const list = typeof raw === 'string' ? raw.split(',') : raw
  if (!Array.isArray(list) || list.some((u) => typeof u !== 'string')) {
    throw new ConfigError(
      'cluster',
      `${where} must be NATS URLs: a list, or one string separated by commas; got ${shown(raw)}`,
    )
  }
  const servers = (list as string[]).map((u) => u.trim()).filter((u) => u !== '')
  if (servers.length === 0) {
    throw new ConfigError('cluster', `${where} needs at least one NATS URL, e.g. nats://127.0.0.1:4222`)
  }
  for (const url of servers) checkServer(url, where)
  return servers
}

function checkServer(url: string, where: string): void {
  const fail = (why: string): never => {
    throw new ConfigError('cluster', `${where}: '${url}' ${why}`)
  }
  if (!/^(nats|tls):\/\//i.test(url)) fail('must start with nats:// or tls:// (e.g. nats://127.0.0.1:4222)')
  const u = URL.canParse(url) ? new URL(url) : fail('is not a URL; write nats://host:4222')
  if (u.hostname === '') fail('has no host; write nats://host:4222')
  // Kept out of the URL, a secret is never logged nor shown by the admin API with the servers.
  if (u.username !== '' || u.password !== '')
    fail('holds credentials; give them as cluster: { user, password } or { token } instead')
}

function nodeName(raw: unknown, where: string): string {
  if (typeof raw !== 'string' || !NODE_NAME.test(raw)) {
    throw new ConfigError(
      'cluster',
      `${where} must be a name of letters, digits, '-' and '_' (e.g. node-a); got ${shown(raw)}`,
    )
  }
  return raw
}

function text(raw: unknown, where: string): string {
  if (typeof raw !== 'string' || raw === '') {
    throw new ConfigError('cluster', `${where} must be a non-empty string; got ${shown(raw)}`)
  }
  return raw
}

function wholeNumber(raw: unknown, where: string, min: number, max: number): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < min || raw > max) {
    throw new ConfigError(
      'cluster',
      `${where} must be a whole number from ${min} to ${max}; got ${shown(raw)}`,
    )
  }
  return raw
}

function parseTls(raw: unknown, where: string): ClusterTlsFiles {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(
      'cluster',
      `${where} must be a mapping of PEM file paths { ca, cert, key }; got ${shown(raw)}`,
    )
  }
  const tls: ClusterTlsFiles = { ca: undefined, cert: undefined, key: undefined }
  for (const [key, value] of Object.entries(raw)) {
    if (!TLS_KEYS.includes(key as 'ca')) {
      throw new ConfigError('cluster', `${where}: unknown key '${key}'; allowed keys: ${TLS_KEYS.join(', ')}`)
    }
    tls[key as 'ca'] = text(value, `${where}.${key}`)
  }
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ConfigError('cluster', `${where} needs both cert and key (a client certificate), or neither`)
  }
  return tls
}

async function secretFile(path: string | undefined, what: string): Promise<string | undefined> {
  if (path === undefined) return undefined
  const secret = (await readUserFile(path, 'cluster', what)).toString('utf8').trim()
  if (secret === '') throw new ConfigError('cluster', `the ${what} ${path} is empty`)
  return secret
}

async function pem(path: string, what: string): Promise<string> {
  return (await readUserFile(path, 'cluster', what)).toString('utf8')
}

function shown(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v))
}
