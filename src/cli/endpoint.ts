import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { shownUrl, type TransportOptions, transportFor, urlCredential } from '../client/transport-for.js'
import { ConfigError } from '../errors.js'
import { unreadable } from '../read-file.js'
import { PUBLIC_CAS } from '../transport/tls-options.js'
import { authority, type Transport, urlHost } from '../transport/transport.js'
import { type FlagSpec, has, last, type ParsedArgs, parseIntIn } from './args.js'

/**
 * The TLS flags of mosquitto_pub/_sub, shared by `petrel pub`, `sub` and `bench`. As with
 * Mosquitto, --cafile or --capath (here every TLS flag) turns TLS on and makes 8883 the
 * default port; -p 8883 alone or -L mqtts:// does too, trusting Node's list of CAs.
 */
export const TLS_FLAGS: FlagSpec[] = [
  {
    name: 'cafile',
    value: true,
    arg: 'file',
    help: 'TLS, trusting the CA certificates (PEM) in this file (default port 8883)',
  },
  {
    name: 'capath',
    value: true,
    arg: 'dir',
    help: 'TLS, trusting the CA certificates (PEM) in the files of this directory',
  },
  {
    name: 'cert',
    value: true,
    arg: 'file',
    help: 'TLS client certificate (PEM), for brokers that ask for one',
  },
  { name: 'key', value: true, arg: 'file', help: 'private key (PEM) of --cert' },
  {
    name: 'insecure',
    value: false,
    help: 'do not check the host name in the server certificate (its CA still is)',
  },
  {
    name: 'tls-version',
    value: true,
    arg: 'version',
    help: 'lowest TLS version: tlsv1.3, tlsv1.2 (the default) or tlsv1.1',
  },
  {
    name: 'tls-use-os-certs',
    value: false,
    help: "TLS, trusting Node's list of public CAs (with --cafile: both)",
  },
  { name: 'ciphers', value: true, arg: 'list', help: 'OpenSSL cipher list for TLS 1.2' },
]

const TLS_FLAG_NAMES = TLS_FLAGS.map((f) => f.name)

/** mosquitto's --tls-version names: the lowest version offered (tlsv1.2 still takes 1.3). */
const TLS_VERSIONS = { 'tlsv1.3': 'TLSv1.3', 'tlsv1.2': 'TLSv1.2', 'tlsv1.1': 'TLSv1.1' } as const

type Scheme = 'mqtt' | 'mqtts' | 'ws' | 'wss'
const DEFAULT_PORT: Record<Scheme, number> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 }
/** The port on which, with no TLS flag, Mosquitto's tools speak TLS all the same. */
const MQTTS_PORT = 8883

/** Where a command connects, and how, from -h -p -L and the TLS flags. */
export interface Endpoint {
  /** For connect(): `scheme://host:port` (and the path, for ws:// and wss://). */
  url: string
  /** `host:port`, for messages. */
  where: string
  /** The path of an mqtt:// or mqtts:// -L URL, which the tools take as a topic. */
  topic: string | undefined
  username: string | undefined
  password: string | undefined
  /** The TLS options for connect() (empty without TLS). */
  options: TransportOptions
}

/** Reads -h, -p, -L and the TLS flags; a bad flag or an unreadable file is a ConfigError of one line. */
export function endpointOf(args: ParsedArgs): Endpoint {
  let host = last(args, 'host') ?? 'localhost'
  const p = last(args, 'port')
  let port = p === undefined ? undefined : parseIntIn('--port', p, 1, 65_535)
  let scheme: Scheme | undefined
  let path = ''
  let topic: string | undefined
  let username = last(args, 'username')
  let password = last(args, 'pw')
  const raw = last(args, 'url')
  if (raw !== undefined) {
    const s = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase()
    if (s === undefined) throw new ConfigError('url', `invalid URL for -L: ${shownUrl(raw)}`)
    if (s !== 'mqtt' && s !== 'mqtts' && s !== 'ws' && s !== 'wss') {
      throw new ConfigError(
        'url',
        `unsupported URL scheme ${s}:// for -L; use mqtt://, mqtts://, ws:// or wss://`,
      )
    }
    scheme = s
    const web = scheme === 'ws' || scheme === 'wss'
    // As in mosquitto_pub, the topic of mqtt(s):// is everything after the host's '/', as
    // written: '#' and '?' are topic characters there, not a URL's fragment and query.
    const rest = raw.slice(s.length + 3)
    const slash = rest.indexOf('/')
    const authority = web || slash < 0 ? rest : rest.slice(0, slash)
    let u: URL
    try {
      u = new URL(`${scheme}://${authority}`)
    } catch {
      throw new ConfigError('url', `invalid URL for -L: ${shownUrl(raw)}`)
    }
    if (u.hostname === '') throw new ConfigError('url', `no host in -L ${shownUrl(raw)}`)
    host = urlHost(u)
    if (u.port !== '') port = Number(u.port)
    username = urlCredential(u, 'username') ?? username
    password = urlCredential(u, 'password') ?? password
    if (web) {
      // The path of a WebSocket URL is the HTTP path of the broker's endpoint, not a topic.
      path = `${u.pathname === '/' ? '' : u.pathname}${u.search}`
    } else if (slash >= 0 && slash < rest.length - 1) {
      topic = rest.slice(slash + 1)
    }
  }
  const tlsGiven = TLS_FLAG_NAMES.filter((f) => has(args, f))
  if (scheme === undefined) {
    scheme = tlsGiven.length > 0 || port === MQTTS_PORT ? 'mqtts' : 'mqtt'
  } else if ((scheme === 'mqtt' || scheme === 'ws') && tlsGiven.length > 0) {
    throw new ConfigError(
      tlsGiven[0]!,
      `--${tlsGiven[0]} is for TLS, but -L gives ${scheme}://; write ${scheme}s:// to use TLS`,
    )
  }
  port ??= DEFAULT_PORT[scheme]
  const where = authority(host, port)
  const secure = scheme === 'mqtts' || scheme === 'wss'
  const options = secure ? tlsOptions(args) : {}
  return {
    url: `${scheme}://${where}${path}`,
    where,
    topic,
    username,
    password,
    options,
  }
}

/**
 * The transport of an endpoint, built once (the certificates parsed once: `petrel bench`
 * shares it between all its connections). A ConfigError names the flag to fix.
 */
export function endpointTransport(e: Endpoint): Transport {
  try {
    return transportFor(new URL(e.url), e.options)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    const flag = FLAG_OF[err.option]
    throw new ConfigError(err.option, flag === undefined ? err.message : `${flag}: ${err.message}`)
  }
}

/** Which flag set a TLS option, for messages. */
const FLAG_OF: Record<string, string> = {
  ca: '--cafile/--capath',
  cert: '--cert',
  key: '--key',
  passphrase: '--key',
  minVersion: '--tls-version',
  ciphers: '--ciphers',
}

function tlsOptions(args: ParsedArgs): TransportOptions {
  const o: TransportOptions = {}
  const ca: Buffer[] = []
  const cafile = last(args, 'cafile')
  if (cafile !== undefined) ca.push(readPem('--cafile', cafile))
  const capath = last(args, 'capath')
  if (capath !== undefined) ca.push(...readCaDir(capath))
  if (ca.length > 0) {
    // --tls-use-os-certs with a CA file trusts both, as Mosquitto does.
    o.ca = has(args, 'tls-use-os-certs') ? [...PUBLIC_CAS, ...ca] : ca
  }
  const cert = last(args, 'cert')
  const key = last(args, 'key')
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError('cert', 'both --cert and --key are needed for a client certificate')
  }
  if (cert !== undefined && key !== undefined) {
    o.cert = readPem('--cert', cert)
    o.key = readPem('--key', key)
  }
  // Mosquitto's --insecure skips the host name check only; the chain is still verified.
  if (has(args, 'insecure')) o.checkServerIdentity = () => undefined
  const v = last(args, 'tls-version')
  if (v !== undefined) {
    const min = TLS_VERSIONS[v as keyof typeof TLS_VERSIONS]
    if (min === undefined) {
      throw new ConfigError('tls-version', `--tls-version must be tlsv1.3, tlsv1.2 or tlsv1.1; got '${v}'`)
    }
    o.minVersion = min
  }
  const ciphers = last(args, 'ciphers')
  if (ciphers !== undefined) o.ciphers = ciphers
  return o
}

/** A PEM file's bytes, or a ConfigError saying why it cannot be read. */
function readPem(flag: string, file: string): Buffer {
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch (err) {
    throw new ConfigError(flag, `cannot read ${flag} ${file}: ${fileProblem(err, flag)}`)
  }
  if (!bytes.includes('-----BEGIN ')) {
    throw new ConfigError(flag, `${flag} ${file} is not a PEM file (no -----BEGIN line)`)
  }
  return bytes
}

/** Every PEM certificate file of a directory (OpenSSL's hashed links and .crt/.pem files alike). */
function readCaDir(dir: string): Buffer[] {
  let names: string[]
  try {
    names = readdirSync(dir).sort()
  } catch (err) {
    throw new ConfigError('capath', `cannot read --capath ${dir}: ${fileProblem(err, '--capath')}`)
  }
  const found: Buffer[] = []
  for (const name of names) {
    const p = join(dir, name)
    try {
      if (!statSync(p).isFile()) continue
      const bytes = readFileSync(p)
      if (bytes.includes('-----BEGIN CERTIFICATE-----')) found.push(bytes)
    } catch {
      // an unreadable entry (a dangling link): the others may do
    }
  }
  if (found.length === 0) throw new ConfigError('capath', `--capath ${dir} holds no PEM certificate file`)
  return found
}

/** unreadable()'s words, but 'no such file or directory' (a path may name either) and a hint for --cafile. */
function fileProblem(err: unknown, flag: string): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file or directory'
    case 'EISDIR':
      return flag === '--cafile' ? 'a directory (use --capath for a directory)' : 'a directory'
    default:
      return unreadable(err)
  }
}
