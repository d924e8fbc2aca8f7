import { createPrivateKey, X509Certificate } from 'node:crypto'
import {
  createSecureContext,
  createServer,
  type SecureContextOptions,
  type TLSSocket,
  type TlsOptions,
  type Server as TlsServer,
} from 'node:tls'
import { ConfigError } from '../errors.js'
import { wrapDuplex } from './duplex.js'
import { bindServer, Handshakes } from './tcp.js'
import type { Incoming, ListenBase, Listener } from './transport.js'

export type Pem = string | Buffer
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3'

/** What a TLS server presents and trusts: what `reload` swaps without dropping a connection. */
export interface TlsContextOptions {
  /** PEM certificate chain of the server. */
  cert: Pem
  /** PEM private key of `cert`. */
  key: Pem
  /** PEM CA certificate(s) client certificates must chain to; default Node's bundled roots. */
  ca?: Pem | Pem[] | undefined
  /** Lowest TLS version accepted. Default TLSv1.2. */
  minVersion?: TlsVersion | undefined
  /** OpenSSL cipher list (TLS 1.2 and below); default Node's. */
  ciphers?: string | undefined
}

/** A TLS server's settings that are fixed for its life. */
export interface TlsServerOptions extends TlsContextOptions {
  /** Refuse, in the handshake, a client without a certificate that chains to `ca`. */
  requireCertificate?: boolean
  /**
   * Ask for a client certificate without requiring one (the handshake accepts a client
   * without one, or with one that does not verify: it then has no `identity`).
   */
  requestCertificate?: boolean
  /** Milliseconds a TLS handshake may take; a slower one is closed. Default 10000. */
  handshakeTimeout?: number
}

export type TlsListenOptions = ListenBase & TlsServerOptions

/** A listener whose certificates can be replaced while it runs. */
export interface TlsListener extends Listener {
  /**
   * New connections use these certificates and settings from now on; connections already
   * open keep theirs. Throws a ConfigError (and changes nothing) when they are not valid.
   */
  reload(options: TlsContextOptions): void
}

const DEFAULT_HANDSHAKE_TIMEOUT = 10_000

/**
 * The secure context options, checked by building one: a key that does not match its
 * certificate or a file that is not PEM is a ConfigError here, not a failure per handshake.
 */
export function secureContextOptions(o: TlsContextOptions): SecureContextOptions {
  const options: SecureContextOptions = { cert: o.cert, key: o.key, minVersion: o.minVersion ?? 'TLSv1.2' }
  if (o.ca !== undefined) options.ca = o.ca
  if (o.ciphers !== undefined) options.ciphers = o.ciphers
  // each part on its own first, so that the message says which one is wrong
  checkPart('cert', 'a PEM certificate', () => new X509Certificate(o.cert))
  checkPart('key', 'a PEM private key', () => createPrivateKey(o.key))
  for (const ca of o.ca === undefined ? [] : Array.isArray(o.ca) ? o.ca : [o.ca]) {
    checkPart('ca', 'PEM CA certificates', () => createSecureContext({ ca }))
  }
  try {
    createSecureContext(options)
  } catch (err) {
    throw new ConfigError('cert', `invalid TLS settings: ${tlsReason(err)}`)
  }
  return options
}

function checkPart(name: 'cert' | 'key' | 'ca', what: string, parse: () => unknown): void {
  try {
    parse()
  } catch (err) {
    throw new ConfigError(name, `invalid TLS settings: ${name} is not ${what} (${tlsReason(err)})`)
  }
}

/** The options of a node:tls (or https) server. */
export function tlsServerOptions(o: TlsServerOptions): TlsOptions {
  const required = o.requireCertificate === true
  return {
    ...secureContextOptions(o),
    requestCert: required || o.requestCertificate === true,
    rejectUnauthorized: required,
    handshakeTimeout: o.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
  }
}

/** OpenSSL's reason without its error code: 'error:0480006C:PEM routines::no start line' -> 'PEM routines: no start line'. */
function tlsReason(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err)
  const parts = /^error:[0-9A-F]+:([^:]*):[^:]*:(.*)$/.exec(m)
  return parts === null ? m : `${parts[1]}: ${parts[2]}`
}

/**
 * The subject CN of the client certificate, only when the handshake verified it against the
 * CA; undefined without a certificate, with one that did not verify, or with no single CN.
 */
export function peerIdentity(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined
  const cn: unknown = socket.getPeerCertificate().subject?.CN
  return typeof cn === 'string' && cn !== '' ? cn : undefined
}

/**
 * Watches a TLS server's handshakes: each one that fails or times out (handshakeTimeout) is
 * reported and its socket destroyed, so a client that never finishes costs one timer.
 */
export function watchHandshakes(server: TlsServer, options: ListenBase): void {
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    options.report?.refused('tls-handshake', err.code ?? tlsReason(err), socket.remoteAddress)
    socket.destroy()
  })
}

/** A TLS listener (Nagle off: the broker gathers its own writes); default port 8883. */
export async function listenTls(
  options: TlsListenOptions,
  accept: (incoming: Incoming) => void,
): Promise<TlsListener> {
  let name = ''
  const handshakes = new Handshakes()
  const server = createServer({ ...tlsServerOptions(options), noDelay: true }, (socket) => {
    handshakes.done(socket)
    accept({
      remoteAddress: socket.remoteAddress,
      identity: peerIdentity(socket),
      listener: name,
      open: (e) => wrapDuplex(socket, e),
    })
  })
  handshakes.watch(server)
  watchHandshakes(server, options)
  const l = await bindServer(server, 'mqtts', options, 8883, handshakes)
  name = l.name
  return { ...l, reload: (o) => server.setSecureContext(secureContextOptions(o)) }
}
