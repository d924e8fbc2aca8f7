import type { ListenerInfo, ListenOptions, ListenProtocol } from '../broker/listen-options.js'
import { ConfigError } from '../errors.js'
import { readUserFile } from '../read-file.js'
import type { Reloader } from './reload.js'

/**
 * The `listeners:` list of a `petrel broker` config file: each item one listener, its keys
 * named as Mosquitto names them where it has them (certfile, keyfile, cafile,
 * require_certificate as requireCertificate ...). TLS files are read at start and on SIGHUP.
 */
export interface ListenerSettings {
  protocol: ListenProtocol
  port?: number
  host?: string
  maxConnections?: number
  certfile?: string
  keyfile?: string
  cafile?: string
  requireCertificate?: boolean
  useIdentityAsUsername?: boolean
  minVersion?: 'TLSv1.2' | 'TLSv1.3'
  ciphers?: string
  path?: string
  origins?: string[]
}

type Field = keyof ListenerSettings
type Check = { kind: string; ok: (v: unknown) => boolean; on?: 'tls' | 'ws' }

const text = (v: unknown): boolean => typeof v === 'string' && v !== ''
const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3']
const PROTOCOLS = ['mqtt', 'mqtts', 'ws', 'wss']

const FIELDS: Record<Field, Check> = {
  protocol: { kind: `one of ${PROTOCOLS.join(', ')}`, ok: (v) => PROTOCOLS.includes(v as string) },
  port: {
    kind: 'a whole number from 0 to 65535',
    ok: (v) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65_535,
  },
  host: { kind: 'an address such as 127.0.0.1 or 0.0.0.0', ok: text },
  maxConnections: { kind: 'a whole number >= 1', ok: (v) => Number.isSafeInteger(v) && (v as number) >= 1 },
  certfile: { kind: 'the path of a PEM certificate file', ok: text, on: 'tls' },
  keyfile: { kind: 'the path of a PEM private key file', ok: text, on: 'tls' },
  cafile: { kind: 'the path of a PEM CA certificate file', ok: text, on: 'tls' },
  requireCertificate: { kind: 'true or false', ok: (v) => typeof v === 'boolean', on: 'tls' },
  useIdentityAsUsername: { kind: 'true or false', ok: (v) => typeof v === 'boolean', on: 'tls' },
  minVersion: {
    kind: `one of ${TLS_VERSIONS.join(', ')}`,
    ok: (v) => TLS_VERSIONS.includes(v as string),
    on: 'tls',
  },
  ciphers: { kind: 'an OpenSSL cipher list', ok: text, on: 'tls' },
  path: {
    kind: "a URL path starting with '/'",
    ok: (v) => typeof v === 'string' && v.startsWith('/'),
    on: 'ws',
  },
  origins: {
    kind: 'a list of origins such as https://example.com',
    ok: (v) => Array.isArray(v) && v.length > 0 && v.every(text),
    on: 'ws',
  },
}
const KEYS = Object.keys(FIELDS) as Field[]

function shown(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v))
}

/** Checks the `listeners:` value; `where` names it in messages ('petrel.yaml: listeners'). */
export function parseListeners(raw: unknown, where: string): ListenerSettings[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new ConfigError(
      'listeners',
      `${where} must be a list of listeners, each a mapping such as { protocol: mqtts, port: 8883, certfile: ..., keyfile: ... }`,
    )
  }
  return raw.map((item, i) => parseOne(item, `${where}[${i}]`))
}

function parseOne(item: unknown, where: string): ListenerSettings {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new ConfigError(
      'listeners',
      `${where} must be a mapping such as { protocol: mqtt, port: 1883 }; got ${shown(item)}`,
    )
  }
  const o = item as Record<string, unknown>
  const protocol = (o.protocol ?? 'mqtt') as ListenProtocol
  const tls = protocol === 'mqtts' || protocol === 'wss'
  const ws = protocol === 'ws' || protocol === 'wss'
  const out: Record<string, unknown> = { protocol }
  for (const [key, value] of Object.entries(o)) {
    const check = FIELDS[key as Field]
    if (check === undefined) {
      const near = KEYS.find((k) => k.toLowerCase() === key.toLowerCase().replace(/_/g, ''))
      const hint = near === undefined ? '' : ` (did you mean '${near}'?)`
      throw new ConfigError(
        'listeners',
        `${where}: unknown key '${key}'${hint}; allowed keys: ${KEYS.join(', ')}`,
      )
    }
    if (!check.ok(value))
      throw new ConfigError('listeners', `${where}.${key} must be ${check.kind}; got ${shown(value)}`)
    if ((check.on === 'tls' && !tls) || (check.on === 'ws' && !ws)) {
      const which = check.on === 'tls' ? 'mqtts and wss' : 'ws and wss'
      throw new ConfigError(
        'listeners',
        `${where}.${key} applies to ${which} listeners only, not ${protocol}`,
      )
    }
    out[key] = value
  }
  if (tls) {
    for (const k of ['requireCertificate', 'useIdentityAsUsername'] as const) {
      if (out[k] === true && out.cafile === undefined) {
        throw new ConfigError(
          'listeners',
          `${where}.${k} needs cafile: the CA certificate(s) client certificates must chain to`,
        )
      }
    }
    for (const k of ['certfile', 'keyfile'] as const) {
      if (out[k] === undefined)
        throw new ConfigError(
          'listeners',
          `${where}: a ${protocol} listener needs ${k} (the server's PEM ${k === 'certfile' ? 'certificate' : 'private key'})`,
        )
    }
  }
  return out as unknown as ListenerSettings
}

/**
 * The listeners to open: `listeners:` when given, else one mqtt listener on `port`/`host`.
 * With both, --port/--host (flags) replace the first mqtt listener's port and host (or add
 * one); `port:`/`host:` at the top of a file that has `listeners:` are refused as ambiguous.
 */
export function settleListeners(
  listeners: ListenerSettings[] | undefined,
  port: number | undefined,
  host: string | undefined,
  fileHasPortOrHost: boolean,
  fileName: string,
): ListenerSettings[] {
  if (listeners === undefined) return [{ protocol: 'mqtt', port: port ?? 1883, host: host ?? '127.0.0.1' }]
  if (fileHasPortOrHost) {
    throw new ConfigError(
      'listeners',
      `${fileName}: port and host go inside listeners: when listeners: is given`,
    )
  }
  if (port === undefined && host === undefined) return listeners
  const at = listeners.findIndex((l) => l.protocol === 'mqtt')
  const base: ListenerSettings = at === -1 ? { protocol: 'mqtt' } : listeners[at]!
  const merged: ListenerSettings = { ...base }
  if (port !== undefined) merged.port = port
  if (host !== undefined) merged.host = host
  return at === -1 ? [merged, ...listeners] : listeners.map((l, i) => (i === at ? merged : l))
}

async function readPem(
  l: ListenerSettings,
  key: 'certfile' | 'keyfile' | 'cafile',
): Promise<Buffer | undefined> {
  const path = l[key]
  if (path === undefined) return undefined
  return readUserFile(path, 'listeners', key)
}

/** The PEM files of a TLS listener, read now (at start, and again on each SIGHUP). */
async function readTlsFiles(l: ListenerSettings): Promise<{ cert: Buffer; key: Buffer; ca?: Buffer }> {
  const cert = await readPem(l, 'certfile')
  const key = await readPem(l, 'keyfile')
  const ca = await readPem(l, 'cafile')
  return ca === undefined ? { cert: cert!, key: key! } : { cert: cert!, key: key!, ca }
}

/** What Broker.listen takes for this listener, its TLS files read. */
async function listenOptionsOf(l: ListenerSettings): Promise<ListenOptions> {
  const { certfile, keyfile, cafile, ...rest } = l
  const o: ListenOptions = { ...rest }
  if (certfile !== undefined) Object.assign(o, await readTlsFiles(l))
  return o
}

/** A ConfigError about a TLS part ('cert', 'key', 'ca') names the file it came from. */
function named(err: ConfigError, l: ListenerSettings): string {
  const file = { cert: l.certfile, key: l.keyfile, ca: l.cafile }[err.option]
  return file === undefined ? err.message : `${err.message} [${err.option}file ${file}]`
}

/** For log lines: 'mqtts 0.0.0.0:8883' style names before the listener is bound. */
function describeListener(l: ListenerSettings): string {
  return `${l.protocol}://${l.host ?? '127.0.0.1'}:${l.port ?? 'default'}${l.path ?? ''}`
}

/** A listener that could not be opened (its address in use ...): `where` is host:port. */
export class ListenFailed extends Error {
  constructor(
    readonly where: string,
    readonly error: unknown,
  ) {
    super(`cannot listen on ${where}`)
  }
}

/** What opening listeners needs of the broker and of SIGHUP. */
export interface ListenerHost {
  listen(options: ListenOptions): Promise<ListenerInfo>
}

/**
 * Opens each listener in order, its TLS files read now; a TLS listener's files are read
 * again on every SIGHUP (`reloader`). Rejects with a ConfigError naming the listener and the
 * file (unreadable, not PEM), or a ListenFailed.
 */
export async function openListeners(
  broker: ListenerHost,
  list: readonly ListenerSettings[],
  reloader: Pick<Reloader, 'add'>,
): Promise<ListenerInfo[]> {
  const opened: ListenerInfo[] = []
  for (const [i, l] of list.entries()) {
    const which =
      list.length === 1 ? `listener ${describeListener(l)}` : `listeners[${i}] (${describeListener(l)})`
    let info: ListenerInfo
    try {
      info = await broker.listen(await listenOptionsOf(l))
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError('listeners', `${which}: ${named(err, l)}`)
      throw new ListenFailed(`${l.host ?? '127.0.0.1'}:${l.port ?? 'default port'}`, err)
    }
    opened.push(info)
    const reload = info.reload
    if (reload !== undefined && l.certfile !== undefined) {
      const reloadFiles = async (): Promise<void> => {
        try {
          reload(await readTlsFiles(l))
        } catch (err) {
          throw err instanceof ConfigError ? new ConfigError(err.option, named(err, l)) : err
        }
      }
      reloader.add({ name: `certificates of ${info.name}`, reload: reloadFiles })
    }
  }
  return opened
}
