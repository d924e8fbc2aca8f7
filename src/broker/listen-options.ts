import type { Server } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import { ConfigError } from '../errors.js'
import { listenTcp } from '../transport/tcp.js'
import { listenTls, type Pem, type TlsContextOptions, type TlsVersion } from '../transport/tls.js'
import type { Incoming, ListenBase, ListenerReport } from '../transport/transport.js'
import { DEFAULT_WS_PATH, listenWs, type WsListener } from '../transport/ws.js'

export type ListenProtocol = 'mqtt' | 'mqtts' | 'ws' | 'wss'
const PROTOCOLS: readonly ListenProtocol[] = ['mqtt', 'mqtts', 'ws', 'wss']
const TLS_VERSIONS: readonly TlsVersion[] = ['TLSv1.2', 'TLSv1.3']

/** What `Broker.listen` takes: one listener of any of the four protocols. */
export interface ListenOptions {
  /** Default 'mqtt' (plain TCP). */
  protocol?: ListenProtocol
  /** Default 1883 (mqtt), 8883 (mqtts), 8080 (ws), 8081 (wss); 0 picks a free port. */
  port?: number
  /** Default 127.0.0.1; '0.0.0.0' or '::' for every interface. */
  host?: string
  /** Connections at once on this listener; one more is closed as soon as it is accepted. Default unlimited. */
  maxConnections?: number
  /** mqtts, wss: the server's PEM certificate chain and its key. Required. */
  cert?: Pem
  key?: Pem
  /** mqtts, wss: PEM CA certificate(s) that client certificates must chain to. */
  ca?: Pem | Pem[]
  /** mqtts, wss: refuse, in the TLS handshake, a client without a certificate that chains to `ca`. */
  requireCertificate?: boolean
  /**
   * mqtts, wss: the verified client certificate's subject CN is the user name the hooks see (the
   * CONNECT's user name is ignored); a client without one is refused (CONNACK 5 / 0x87).
   */
  useIdentityAsUsername?: boolean
  /** mqtts, wss: lowest TLS version accepted. Default 'TLSv1.2'. */
  minVersion?: TlsVersion
  /** mqtts, wss: OpenSSL cipher list for TLS 1.2. */
  ciphers?: string
  /** ws, wss: the URL path served. Default '/mqtt'. */
  path?: string
  /** ws, wss: Origin header values allowed; when set, any other (or none) is refused with 403. */
  origins?: string[]
  /**
   * ws (an http.Server) or wss (an https.Server): attach to the application's server instead
   * of listening: upgrades for `path` become MQTT connections, the rest stays the application's.
   */
  server?: Server | HttpsServer
}

/** A listener the broker opened. */
export interface ListenerInfo {
  readonly protocol: ListenProtocol
  /** e.g. 'mqtts://127.0.0.1:8883', 'ws://127.0.0.1:8080/mqtt'. */
  readonly name: string
  readonly port: number
  readonly host: string
  /**
   * mqtts and wss on their own server: new connections use these certificates from now on;
   * those open keep theirs. Settings not given stay as they were. Throws a ConfigError (and
   * changes nothing) when they are not valid.
   */
  reload?(tls: Partial<TlsContextOptions>): void
  /** Stops accepting on this listener; handshakes under way are closed, MQTT connections stay. */
  close(): Promise<void>
}

/** What the broker adds to each listener's options. */
export interface ListenContext {
  /** Largest WebSocket message: the broker's maxPacketSize. */
  readonly maxPayload: number
  /** Largest WebSocket message before the client is accepted: min(maxPacketSize, maxConnectSize). */
  readonly maxConnectPayload: number
  /** Milliseconds a TLS handshake or an HTTP upgrade may take: the broker's connectTimeout. */
  readonly handshakeTimeout: number
  readonly report: ListenerReport
}

const bad = (field: string, message: string): never => {
  throw new ConfigError(field, `listen: ${field} ${message}`)
}
const isPem = (v: unknown): boolean => (typeof v === 'string' && v !== '') || Buffer.isBuffer(v)

/** Checks ListenOptions from an embedder (or the config file): one ConfigError per bad field. */
export function checkListenOptions(o: ListenOptions): ListenProtocol {
  if (typeof o !== 'object' || o === null) bad('options', 'must be an object')
  const protocol = o.protocol ?? 'mqtt'
  if (!PROTOCOLS.includes(protocol))
    bad('protocol', `must be one of ${PROTOCOLS.join(', ')}; got ${String(protocol)}`)
  const tls = protocol === 'mqtts' || protocol === 'wss'
  const ws = protocol === 'ws' || protocol === 'wss'
  const given = (k: keyof ListenOptions): boolean => o[k] !== undefined
  const only = (keys: (keyof ListenOptions)[], when: boolean, what: string): void => {
    for (const k of keys) if (given(k) && !when) bad(k, `applies to ${what} listeners only, not ${protocol}`)
  }
  only(['path', 'origins', 'server'], ws, 'ws and wss')
  only(
    ['cert', 'key', 'ca', 'requireCertificate', 'useIdentityAsUsername', 'minVersion', 'ciphers'],
    tls,
    'mqtts and wss',
  )
  const p = o.port
  if (p !== undefined && (!Number.isInteger(p) || p < 0 || p > 65_535))
    bad('port', `must be a whole number from 0 to 65535; got ${String(p)}`)
  if (given('host') && (typeof o.host !== 'string' || o.host === ''))
    bad('host', 'must be a host name or address')
  const m = o.maxConnections
  if (m !== undefined && (!Number.isSafeInteger(m) || m < 1))
    bad('maxConnections', `must be a whole number >= 1; got ${String(m)}`)
  for (const k of ['requireCertificate', 'useIdentityAsUsername'] as const) {
    if (given(k) && typeof o[k] !== 'boolean') bad(k, `must be true or false; got ${String(o[k])}`)
  }
  if (given('minVersion') && !TLS_VERSIONS.includes(o.minVersion!))
    bad('minVersion', `must be one of ${TLS_VERSIONS.join(', ')}; got ${String(o.minVersion)}`)
  if (given('ciphers') && (typeof o.ciphers !== 'string' || o.ciphers === ''))
    bad('ciphers', 'must be an OpenSSL cipher list')
  if (given('ca') && !(Array.isArray(o.ca) ? o.ca.every(isPem) : isPem(o.ca)))
    bad('ca', 'must be PEM text (a string or Buffer), or a list of them')
  if (given('path') && (typeof o.path !== 'string' || !o.path.startsWith('/')))
    bad('path', `must start with '/'; got ${String(o.path)}`)
  if (
    given('origins') &&
    !(Array.isArray(o.origins) && o.origins.every((s) => typeof s === 'string' && s !== ''))
  )
    bad('origins', 'must be a list of origins such as https://example.com')
  if (o.server !== undefined) {
    if (typeof o.server !== 'object' || typeof o.server.on !== 'function')
      bad('server', 'must be an http.Server (ws) or https.Server (wss)')
    for (const k of [
      'port',
      'host',
      'cert',
      'key',
      'ca',
      'requireCertificate',
      'minVersion',
      'ciphers',
    ] as const) {
      if (given(k)) bad(k, "cannot be given with server: the application's server has its own")
    }
    const secure = typeof (o.server as { setSecureContext?: unknown }).setSecureContext === 'function'
    if (secure !== (protocol === 'wss'))
      bad('server', `must be ${protocol === 'wss' ? 'an https.Server for wss' : 'an http.Server for ws'}`)
  } else if (tls) {
    // Node would otherwise verify client certificates against its public roots
    for (const k of ['requireCertificate', 'useIdentityAsUsername'] as const) {
      if (o[k] === true && o.ca === undefined)
        bad(k, 'needs ca: the CA certificate(s) client certificates must chain to')
    }
    for (const k of ['cert', 'key'] as const)
      if (!isPem(o[k]))
        bad(
          k,
          `is required for ${protocol}: the server's PEM ${k === 'cert' ? 'certificate' : 'private key'}`,
        )
  }
  return protocol
}

/** Opens one listener; accepted connections go to `accept`. */
export async function openListener(
  o: ListenOptions,
  ctx: ListenContext,
  accept: (incoming: Incoming) => void,
): Promise<ListenerInfo> {
  const protocol = checkListenOptions(o)
  const base: ListenBase = { report: ctx.report }
  if (o.port !== undefined) base.port = o.port
  if (o.host !== undefined) base.host = o.host
  if (o.maxConnections !== undefined) base.maxConnections = o.maxConnections
  let context: TlsContextOptions | undefined
  const tls = () => {
    context = { cert: o.cert!, key: o.key!, ca: o.ca, minVersion: o.minVersion, ciphers: o.ciphers }
    // with useIdentityAsUsername the certificate is asked for even when not required
    return {
      ...context,
      requireCertificate: o.requireCertificate === true,
      requestCertificate: o.useIdentityAsUsername === true,
      handshakeTimeout: ctx.handshakeTimeout,
    }
  }
  let l: WsListener
  if (protocol === 'mqtt') l = await listenTcp(base, accept)
  else if (protocol === 'mqtts') l = await listenTls({ ...base, ...tls() }, accept)
  else {
    const w = {
      ...base,
      path: o.path ?? DEFAULT_WS_PATH,
      maxPayload: ctx.maxPayload,
      maxConnectPayload: ctx.maxConnectPayload,
      handshakeTimeout: ctx.handshakeTimeout,
    }
    l = await listenWs(
      {
        ...w,
        ...(o.origins === undefined ? {} : { origins: o.origins }),
        ...(o.server === undefined ? {} : { server: o.server }),
        ...(protocol === 'wss' && o.server === undefined ? { tls: tls() } : {}),
      },
      accept,
    )
  }
  const info: ListenerInfo = { protocol, name: l.name, port: l.port, host: l.host, close: () => l.close() }
  const reload = l.reload
  if (reload !== undefined && context !== undefined) {
    info.reload = (next) => {
      const merged = { ...context!, ...definedOnly(next) }
      reload(merged)
      context = merged
    }
  }
  return info
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
