import { ConfigError } from '../errors.js'
import { tcpTransport } from '../transport/tcp-connect.js'
import { tlsTransport } from '../transport/tls-connect.js'
import { TLS_OPTION_NAMES, type TlsClientOptions } from '../transport/tls-options.js'
import { type Transport, urlHost } from '../transport/transport.js'
import { withoutQueryValues, wsTransport } from '../transport/ws-connect.js'

/** How the URL's transport is set up: TLS for mqtts:// and wss://, HTTP for ws:// and wss://. */
export interface TransportOptions extends TlsClientOptions {
  /** ws://, wss://: the HTTP path when the URL has none (`ws://host:8080`). Default '/mqtt'. */
  wsPath?: string
  /** ws://, wss://: extra headers of the HTTP upgrade request (a token, a cookie...). */
  wsHeaders?: Record<string, string>
  /** ws://, wss://: the Origin header, for brokers that allow only some origins. */
  wsOrigin?: string
}

/** The WebSocket path MQTT brokers serve by default (Mosquitto's examples, MQTT.js's default). */
export const DEFAULT_WS_PATH = '/mqtt'

type Kind = 'tcp' | 'tls' | 'ws' | 'wss'

/** Each scheme connect() takes: its transport and default port. */
const SCHEMES: Record<string, { kind: Kind; port: number }> = {
  'mqtt:': { kind: 'tcp', port: 1883 },
  'tcp:': { kind: 'tcp', port: 1883 },
  'mqtts:': { kind: 'tls', port: 8883 },
  'ssl:': { kind: 'tls', port: 8883 },
  'tls:': { kind: 'tls', port: 8883 },
  'ws:': { kind: 'ws', port: 80 },
  'wss:': { kind: 'wss', port: 443 },
}

const SUPPORTED = Object.keys(SCHEMES)
  .map((s) => `${s}//`)
  .join(', ')

const WS_OPTION_NAMES = ['wsPath', 'wsHeaders', 'wsOrigin'] as const

function given(o: TransportOptions, names: readonly (keyof TransportOptions)[]): (keyof TransportOptions)[] {
  return names.filter((n) => o[n] !== undefined)
}

/** The option names among `o` that only a URL's transport uses (refused with `transport`). */
export function transportOptionsGiven(o: TransportOptions): string[] {
  return given(o, [...TLS_OPTION_NAMES, ...WS_OPTION_NAMES])
}

/** The transport for a broker URL: mqtt:// and tcp:// (TCP), mqtts://, ssl://, tls:// (TLS), ws://, wss://. */
export function transportFor(url: URL, o: TransportOptions = {}): Transport {
  const scheme = SCHEMES[url.protocol]
  if (scheme === undefined) {
    throw new ConfigError(
      'url',
      `unsupported scheme ${url.protocol}// in ${shownUrl(url)}; use ${SUPPORTED}, or pass a transport option`,
    )
  }
  if (url.hostname === '') throw new ConfigError('url', `no host in ${shownUrl(url)}`)
  const host = urlHost(url)
  const port = url.port === '' ? scheme.port : Number(url.port)
  if (port === 0)
    throw new ConfigError(
      'url',
      `port 0 in ${shownUrl(url)}: give the broker's port, or none for ${scheme.port}`,
    )
  const secure = scheme.kind === 'tls' || scheme.kind === 'wss'
  const web = scheme.kind === 'ws' || scheme.kind === 'wss'
  const tlsGiven = given(o, TLS_OPTION_NAMES)
  if (!secure && tlsGiven.length > 0) {
    const instead = web ? 'wss://' : 'mqtts://'
    throw new ConfigError(
      tlsGiven[0]!,
      `${tlsGiven.join(', ')}: TLS options, but ${url.protocol}// does not use TLS; write ${instead}`,
    )
  }
  const wsGiven = given(o, WS_OPTION_NAMES)
  if (!web && wsGiven.length > 0) {
    throw new ConfigError(
      wsGiven[0]!,
      `${wsGiven.join(', ')}: WebSocket options, but the URL is ${url.protocol}//; write ws:// or wss://`,
    )
  }
  if (scheme.kind === 'tcp') return tcpTransport({ host, port })
  const tls: TlsClientOptions = {}
  for (const name of tlsGiven) Object.assign(tls, { [name]: o[name] })
  if (scheme.kind === 'tls') return tlsTransport({ host, port, ...tls })
  return wsTransport({ url: wsUrl(url, o.wsPath), ...tls, ...wsExtras(o) })
}

/**
 * A URL for error messages, which end up in logs: its password as `***`, and a query's values
 * left out (they often carry tokens). A string that is no URL gets the password masked too.
 */
export function shownUrl(url: URL | string): string {
  if (typeof url === 'string') return url.replace(/(\/\/[^/@:]*:)[^/@]*@/, '$1***@')
  const u = new URL(url.href)
  if (u.password !== '') u.password = '***'
  return withoutQueryValues(u)
}

/**
 * The user name or password of a URL, percent-decoded (`mqtt://al%40ice:p%3Ass@host` gives
 * `al@ice`, `p:ss`); undefined when the URL has none. A malformed escape is a ConfigError.
 */
export function urlCredential(url: URL, part: 'username' | 'password'): string | undefined {
  const raw = url[part]
  if (raw === '') return undefined
  try {
    return decodeURIComponent(raw)
  } catch {
    throw new ConfigError(
      'url',
      `the ${part === 'username' ? 'user name' : 'password'} in the URL has a malformed %-escape; write % as %25`,
    )
  }
}

/** The URL ws is given: `/mqtt` (or wsPath) when the URL has no path of its own. */
function wsUrl(url: URL, wsPath: string | undefined): URL {
  const u = new URL(url.href)
  const hasPath = u.pathname !== '' && u.pathname !== '/'
  if (wsPath !== undefined) {
    if (typeof wsPath !== 'string' || !wsPath.startsWith('/')) {
      throw new ConfigError('wsPath', `wsPath must start with '/'; got ${String(wsPath)}`)
    }
    if (hasPath && u.pathname !== wsPath) {
      throw new ConfigError(
        'wsPath',
        `the URL's path ${u.pathname} and wsPath ${wsPath} differ; give the path once`,
      )
    }
    u.pathname = wsPath
  } else if (!hasPath) {
    u.pathname = DEFAULT_WS_PATH
  }
  return u
}

function wsExtras(o: TransportOptions): { headers?: Record<string, string>; origin?: string } {
  const extras: { headers?: Record<string, string>; origin?: string } = {}
  if (o.wsHeaders !== undefined) extras.headers = o.wsHeaders
  if (o.wsOrigin !== undefined) extras.origin = o.wsOrigin
  return extras
}
