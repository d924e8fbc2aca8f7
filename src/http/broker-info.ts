import type { Broker } from '../broker/broker.js'
import { VERSION } from '../version.js'

/** What GET /api/v1/broker answers. */
export interface BrokerInfo {
  version: string
  /** ISO time the broker started. */
  startedAt: string
  uptimeSeconds: number
  pid: number
  /** Node's version, e.g. "v20.11.1". */
  node: string
  listeners: { protocol: string; host: string; port: number }[]
  /** The settings the broker runs with, secrets redacted (see redactConfig). */
  config: Record<string, unknown>
}

export const REDACTED = '[redacted]'
/** A key whose value may be a secret: a password, a key, a token, credentials, the users. */
const SECRET_KEY = /pass|secret|token|key|users|credential/i
/** ...unless the key names a file or a directory: a path is shown (its contents never are). */
const PATH_KEY = /(file|path|dir)$/i
/** Keys never shown: code, not settings. */
const OMITTED = new Set(['logger', 'hooks', 'now', 'authenticate', 'authorizePublish', 'authorizeSubscribe'])
/** Deeper than this a value is cut (settings are shallow; this guards against cycles). */
const MAX_DEPTH = 8

/**
 * The broker's figures and settings for operators. `given` is the settings the user started it
 * with (a config file's keys and flags); without them the broker's resolved options are shown.
 */
export function brokerInfo(broker: Broker, given: Readonly<Record<string, unknown>> | undefined): BrokerInfo {
  const startedAt = broker.stats.startedAt
  const settings = given !== undefined && Object.keys(given).length > 0 ? given : broker.options
  return {
    version: VERSION,
    startedAt: new Date(startedAt).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((Date.now() - startedAt) / 1000)),
    pid: process.pid,
    node: process.version,
    listeners: broker.openListeners.map((l) => ({ protocol: l.protocol, host: l.host, port: l.port })),
    config: redactConfig(settings),
  }
}

/**
 * Settings made safe to show, as JSON: the value of any key that may hold a secret (matching
 * /pass|secret|token|key|users|credential/i) becomes "[redacted]", except booleans (a switch such
 * as allowPlaintextUsers is no secret) and file or directory paths (keys ending in file, path or
 * dir: passwordFile, keyfile and tokenFile show which file, never what is in it). Functions, the
 * logger and the hooks are left out; a store is shown as its kind ("memory", "sqlite"); Maps become
 * objects, Buffers their size.
 */
export function redactConfig(settings: object): Record<string, unknown> {
  const out = shown(settings, 0)
  return typeof out === 'object' && out !== null && !Array.isArray(out)
    ? (out as Record<string, unknown>)
    : {}
}

function shown(value: unknown, depth: number): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value)
  if (typeof value === 'bigint') return value.toString()
  if (typeof value !== 'object') return undefined // functions, symbols, undefined
  if (depth >= MAX_DEPTH) return '[...]'
  if (Buffer.isBuffer(value)) return `[${value.length} bytes]`
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.map((v) => shown(v, depth + 1) ?? null)
  const entries: [string, unknown][] =
    value instanceof Map ? [...value].map(([k, v]) => [String(k), v]) : Object.entries(value)
  const out: Record<string, unknown> = {}
  for (const [k, v] of entries) {
    if (OMITTED.has(k)) continue
    let s: unknown
    if (SECRET_KEY.test(k) && !(typeof v === 'boolean') && !(PATH_KEY.test(k) && typeof v === 'string'))
      s = v === undefined ? undefined : REDACTED
    else if (k === 'store' && typeof v === 'object' && v !== null) s = storeKind(v)
    else s = shown(v, depth + 1)
    if (s !== undefined) out[k] = s
  }
  return out
}

/** MemoryStore -> "memory", SqliteStore -> "sqlite", another class by its name. */
function storeKind(store: object): string {
  const name = store.constructor?.name ?? 'custom'
  return name.endsWith('Store') && name.length > 'Store'.length ? name.slice(0, -5).toLowerCase() : name
}
