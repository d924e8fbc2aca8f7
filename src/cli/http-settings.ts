import { ConfigError } from '../errors.js'
import type { HttpOptions } from '../http/server.js'
import { tokenFromFile } from '../http/token.js'
import { readUserFile } from '../read-file.js'
import type { FlagSpec } from './args.js'

/**
 * The operator's HTTP endpoint of `petrel broker` (/metrics, health, admin API, dashboard): off
 * unless a port is given, as `http: { port, host, certfile, keyfile, tokenFile }` in the config
 * file or as --http-port, --http-host, --http-cert, --http-key, --http-token-file (which win).
 */
export interface HttpSettings {
  port: number
  /** Default 127.0.0.1. */
  host: string
  certfile: string | undefined
  keyfile: string | undefined
  tokenFile: string | undefined
}

/** The flags' keys (camelCase, as config.ts names flags) and the `http:` key each stands for. */
export const HTTP_FLAG_KEYS = {
  httpPort: 'port',
  httpHost: 'host',
  httpCert: 'certfile',
  httpKey: 'keyfile',
  httpTokenFile: 'tokenFile',
} as const

type FlagKey = keyof typeof HTTP_FLAG_KEYS
type Field = (typeof HTTP_FLAG_KEYS)[FlagKey]
const FIELDS: readonly Field[] = Object.values(HTTP_FLAG_KEYS)
const FLAG_OF: Record<Field, string> = {
  port: '--http-port',
  host: '--http-host',
  certfile: '--http-cert',
  keyfile: '--http-key',
  tokenFile: '--http-token-file',
}

/** The --http-* flags of `petrel broker` (not config keys: a file says `http: { ... }`). */
export const HTTP_FLAGS: readonly FlagSpec[] = [
  {
    name: 'http-port',
    value: true,
    arg: 'port',
    help: 'HTTP endpoint port: /metrics, /healthz, /readyz, admin API, dashboard (default: off)',
  },
  { name: 'http-host', value: true, arg: 'address', help: 'HTTP endpoint address (default 127.0.0.1)' },
  {
    name: 'http-cert',
    value: true,
    arg: 'file',
    help: 'PEM certificate (chain): the HTTP endpoint speaks HTTPS',
  },
  { name: 'http-key', value: true, arg: 'file', help: 'PEM private key of --http-cert' },
  {
    name: 'http-token-file',
    value: true,
    arg: 'file',
    help: 'file holding the bearer token that /metrics and /api/ require',
  },
]

export function isHttpFlag(key: string): key is FlagKey {
  return Object.hasOwn(HTTP_FLAG_KEYS, key)
}

/** One --http-* flag's value (a string), checked: `{ port: 9090 }`, `{ host: '::1' }` ... */
export function httpFlag(key: FlagKey, raw: string): Partial<HttpSettings> {
  const field = HTTP_FLAG_KEYS[key]
  const value = field === 'port' && /^\d+$/.test(raw) ? Number(raw) : raw
  return { [field]: checkField(field, value, FLAG_OF[field]) }
}

/** Checks the config file's `http:` mapping; `where` names it in errors ("petrel.yaml: http"). */
export function parseHttpSection(raw: unknown, where: string): Partial<HttpSettings> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError('http', `${where} must be a mapping such as { port: 9090, host: 127.0.0.1 }`)
  }
  const out: Partial<Record<Field, unknown>> = {}
  for (const [key, value] of Object.entries(raw)) {
    if (!FIELDS.includes(key as Field)) {
      throw new ConfigError('http', `${where}: unknown key '${key}'; allowed keys: ${FIELDS.join(', ')}`)
    }
    out[key as Field] = checkField(key as Field, value, `${where}.${key}`)
  }
  return out as Partial<HttpSettings>
}

function checkField(field: Field, raw: unknown, where: string): string | number {
  if (field === 'port') {
    if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 0 || raw > 65_535) {
      throw new ConfigError('http', `${where} must be a whole number from 0 to 65535; got ${shown(raw)}`)
    }
    return raw
  }
  if (typeof raw !== 'string' || raw === '') {
    throw new ConfigError('http', `${where} must be a non-empty string; got ${shown(raw)}`)
  }
  return raw
}

/**
 * The endpoint's settings from the file's `http:` section and the flags (already checked by
 * checkField; they win), or undefined when neither gives a port: the endpoint is off.
 */
export function settleHttp(
  section: Partial<HttpSettings> | undefined,
  flags: Partial<HttpSettings>,
  fileName: string,
): HttpSettings | undefined {
  const merged: Partial<HttpSettings> = { ...section, ...flags }
  if (merged.port === undefined) {
    if (section !== undefined)
      throw new ConfigError('http', `${fileName}: http needs a port (e.g. port: 9090)`)
    const given = Object.keys(flags) as Field[]
    if (given.length > 0) {
      throw new ConfigError(
        'http',
        `${FLAG_OF[given[0]!]} needs --http-port (or http: { port } in a config file)`,
      )
    }
    return undefined
  }
  if ((merged.certfile === undefined) !== (merged.keyfile === undefined)) {
    throw new ConfigError(
      'http',
      'the HTTP endpoint needs both a certificate and its key for HTTPS (--http-cert and --http-key, or http: { certfile, keyfile })',
    )
  }
  return {
    port: merged.port,
    host: merged.host ?? '127.0.0.1',
    certfile: merged.certfile,
    keyfile: merged.keyfile,
    tokenFile: merged.tokenFile,
  }
}

/** Reads the files the settings name (certificate, key, token): a ConfigError naming the one that cannot be read. */
export async function loadHttpOptions(s: HttpSettings): Promise<HttpOptions> {
  const options: HttpOptions = { port: s.port, host: s.host }
  if (s.certfile !== undefined && s.keyfile !== undefined) {
    options.cert = await readUserFile(s.certfile, 'http', 'HTTP certificate file')
    options.key = await readUserFile(s.keyfile, 'http', 'HTTP key file')
  }
  if (s.tokenFile !== undefined) {
    const text = (await readUserFile(s.tokenFile, 'http', 'HTTP token file')).toString('utf8')
    const token = tokenFromFile(text)
    if (token === '' || /\s/.test(token)) {
      throw new ConfigError(
        'http',
        `the HTTP token file ${s.tokenFile} must hold one word (the token) and nothing else`,
      )
    }
    options.token = token
  }
  return options
}

function shown(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v))
}
