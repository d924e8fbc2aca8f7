import { X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import {
  createSecureContext,
  type PeerCertificate,
  rootCertificates,
  type SecureContext,
  type SecureVersion,
} from 'node:tls'
import { ConfigError } from '../errors.js'

/** Node's list of public CAs (the default trust), for a `ca` that adds to it (mosquitto's --tls-use-os-certs). */
export const PUBLIC_CAS: readonly string[] = rootCertificates

/** PEM text as node:tls takes it: one, or several (a chain, several CAs). */
export type Pem = string | Buffer | Array<string | Buffer>

/** The client side of a TLS connection (mqtts://, wss://), named as node:tls names them. */
export interface TlsClientOptions {
  /** CA certificates to trust instead of Node's default list (a private CA). */
  ca?: Pem
  /** Client certificate (with its chain), for brokers that ask for one; needs `key`. */
  cert?: Pem
  /** Private key of `cert`. */
  key?: Pem
  /** Passphrase of an encrypted `key`. */
  passphrase?: string
  /**
   * False accepts any server certificate, whoever signed it and whatever name it holds
   * (testing only: anyone on the path can read and change the traffic). Default true.
   */
  rejectUnauthorized?: boolean
  /** The name sent in SNI and checked against the certificate. Default: the URL's host, unless an IP address. */
  servername?: string
  /**
   * Checks the server's name against its (already verified) certificate; return an Error to refuse.
   * Default: node:tls's check. `() => undefined` skips only the name check (mosquitto's --insecure).
   */
  checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined
  /** Lowest TLS version to offer. Default: Node's ('TLSv1.2'). */
  minVersion?: SecureVersion
  /** Highest TLS version to offer. Default: Node's ('TLSv1.3'). */
  maxVersion?: SecureVersion
  /** OpenSSL cipher list (TLS 1.2 and below). Default: Node's. */
  ciphers?: string
}

/** Names of the options above, for checks that refuse them where they do not apply. */
export const TLS_OPTION_NAMES = [
  'ca',
  'cert',
  'key',
  'passphrase',
  'rejectUnauthorized',
  'servername',
  'checkServerIdentity',
  'minVersion',
  'maxVersion',
  'ciphers',
] as const satisfies readonly (keyof TlsClientOptions)[]

/** What tls.connect (directly, or under ws) is given for one connection. */
export interface TlsConnectParts {
  secureContext: SecureContext
  rejectUnauthorized: boolean
  servername?: string
  checkServerIdentity?: (hostname: string, cert: PeerCertificate) => Error | undefined
}

const VERSIONS: readonly string[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']

function isPem(v: unknown): boolean {
  const one = (x: unknown): boolean => typeof x === 'string' || Buffer.isBuffer(x)
  return one(v) || (Array.isArray(v) && v.every(one))
}

/**
 * Checks the options and builds the secure context once: the certificates are parsed
 * here (a bad PEM is a ConfigError now, not a failed connection later) and every
 * reconnect reuses the context.
 */
export function tlsConnectParts(host: string, o: TlsClientOptions): TlsConnectParts {
  for (const name of ['ca', 'cert', 'key'] as const) {
    if (o[name] !== undefined && !isPem(o[name])) {
      throw new ConfigError(name, `${name} must be PEM text: a string, a Buffer, or an array of them`)
    }
  }
  if (o.ca !== undefined) checkCertificates('ca', o.ca)
  if (o.cert !== undefined && o.key === undefined) {
    throw new ConfigError('key', 'cert needs key: give the private key of the client certificate')
  }
  if (o.key !== undefined && o.cert === undefined) {
    throw new ConfigError('cert', 'key needs cert: give the client certificate of the private key')
  }
  if (o.cert !== undefined) checkCertificates('cert', o.cert)
  for (const name of ['minVersion', 'maxVersion'] as const) {
    const v = o[name]
    if (v !== undefined && !VERSIONS.includes(v)) {
      throw new ConfigError(name, `${name} must be one of ${VERSIONS.join(', ')}; got ${String(v)}`)
    }
  }
  if (o.minVersion !== undefined && o.maxVersion !== undefined) {
    if (VERSIONS.indexOf(o.minVersion) > VERSIONS.indexOf(o.maxVersion)) {
      throw new ConfigError(
        'minVersion',
        `minVersion ${o.minVersion} is above maxVersion ${o.maxVersion}: no TLS version is left to offer`,
      )
    }
  }
  if (o.rejectUnauthorized !== undefined && typeof o.rejectUnauthorized !== 'boolean') {
    throw new ConfigError('rejectUnauthorized', 'rejectUnauthorized must be true or false')
  }
  if (o.servername !== undefined && (typeof o.servername !== 'string' || o.servername === '')) {
    throw new ConfigError('servername', 'servername must be a non-empty host name')
  }
  const context: Parameters<typeof createSecureContext>[0] = {}
  if (o.ca !== undefined) context.ca = o.ca
  if (o.cert !== undefined) context.cert = o.cert
  if (o.key !== undefined) context.key = o.key
  if (o.passphrase !== undefined) context.passphrase = o.passphrase
  if (o.minVersion !== undefined) context.minVersion = o.minVersion
  if (o.maxVersion !== undefined) context.maxVersion = o.maxVersion
  if (o.ciphers !== undefined) context.ciphers = o.ciphers
  let secureContext: SecureContext
  try {
    secureContext = createSecureContext(context)
  } catch (err) {
    throw contextError(err, o)
  }
  const parts: TlsConnectParts = { secureContext, rejectUnauthorized: o.rejectUnauthorized ?? true }
  // SNI carries a host name; RFC 6066 forbids an IP address there.
  const servername = o.servername ?? (isIP(host) === 0 ? host : undefined)
  if (servername !== undefined && isIP(servername) === 0) parts.servername = servername
  if (o.checkServerIdentity !== undefined) parts.checkServerIdentity = o.checkServerIdentity
  return parts
}

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/**
 * Each certificate of `ca` or `cert`, parsed: OpenSSL skips what it cannot read in a CA list
 * without a word, and its complaint about a bad `cert` ("no start line") does not say what is wrong.
 */
function checkCertificates(name: 'ca' | 'cert', pem: Pem): void {
  for (const one of Array.isArray(pem) ? pem : [pem]) {
    const text = one.toString()
    const blocks = text.match(CERTIFICATE)
    if (blocks === null) {
      if (name === 'ca' && text.includes('-----BEGIN TRUSTED CERTIFICATE-----')) continue // OpenSSL's own form
      const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) ? ' (it holds a private key)' : ''
      throw new ConfigError(
        name,
        `${name} holds no PEM certificate${key}: no -----BEGIN CERTIFICATE----- line`,
      )
    }
    for (const block of blocks) {
      try {
        new X509Certificate(block)
      } catch (err) {
        throw new ConfigError(
          name,
          `${name} holds a certificate that does not parse (${(err as Error).message})`,
        )
      }
    }
  }
}

/** An OpenSSL complaint about the options as one line naming the option. */
function contextError(err: unknown, o: TlsClientOptions): ConfigError {
  const text = err instanceof Error ? err.message : String(err)
  const code = (err as { code?: string }).code ?? ''
  if (/key values mismatch/i.test(text)) return new ConfigError('key', 'key is not the private key of cert')
  if (/bad decrypt|bad password|interrupted or cancelled/i.test(text)) {
    return new ConfigError(
      'passphrase',
      'key is encrypted: give its passphrase (the one given does not open it)',
    )
  }
  if (code === 'ERR_TLS_INVALID_PROTOCOL_VERSION' || /protocol version/i.test(text)) {
    return new ConfigError('minVersion', `TLS versions: ${text}`)
  }
  if (/cipher/i.test(text)) return new ConfigError('ciphers', `ciphers: ${text}`)
  // Which PEM failed: the key (PEM or decoder routines on it), else a certificate.
  const which =
    o.key !== undefined && /key|DECODER|ASN1/i.test(text) ? 'key' : o.ca !== undefined ? 'ca' : 'cert'
  return new ConfigError(which, `${which} is not usable PEM (${text})`)
}
