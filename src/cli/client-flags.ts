import { type Client, connect, type EndOptions } from '../client/client.js'
import {
  ConnackRefusedError,
  ConnectFailedError,
  ConnectionLostError,
  ConnectTimeoutError,
} from '../client/errors.js'
import type { ClientOptions } from '../client/options.js'
import { ConfigError } from '../errors.js'
import {
  PROTOCOL_V5,
  PROTOCOL_V311,
  type ProtocolVersion,
  type QoS,
  SESSION_NEVER_EXPIRES,
} from '../protocol/constants.js'
import { isValidTopicName } from '../protocol/topic.js'
import { TransportError, TransportErrorCode } from '../transport/connect-errors.js'
import { all, type FlagSpec, has, intFlag, last, type ParsedArgs, parseArgs, usage } from './args.js'
import { type Endpoint, endpointOf, endpointTransport, TLS_FLAGS } from './endpoint.js'
import {
  PropertyError,
  parseProperties,
  propertyArity,
  protocolVersionOf,
  type ToolProperties,
} from './properties.js'

/**
 * Exit codes of `petrel pub` and `petrel sub`, as the Mosquitto tools have them:
 * a refused connection exits with the CONNACK return code (1-5), a `-W`
 * timeout with 27 (MOSQ_ERR_TIMEOUT), every other error with 1.
 */
export const ToolExit = { OK: 0, ERROR: 1, TIMEOUT: 27 } as const

/** An error that ends `petrel pub`/`sub`: one line on stderr, then this exit code. */
export class ToolError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode: number = ToolExit.ERROR) {
    super(message)
    this.name = 'ToolError'
    this.exitCode = exitCode
  }
}

/** The flags that `petrel pub` and `petrel sub` share, named as in mosquitto_pub/_sub. */
export const CONNECTION_FLAGS: FlagSpec[] = [
  { name: 'host', short: 'h', value: true, arg: 'host', help: 'broker host (default localhost)' },
  { name: 'port', short: 'p', value: true, arg: 'port', help: 'broker port (default 1883; 8883 with TLS)' },
  {
    name: 'url',
    short: 'L',
    value: true,
    arg: 'url',
    help: 'mqtt(s)://[user[:password]@]host[:port]/topic instead of -h -p -u -P -t; or ws(s)://host[:port]/path',
  },
  { name: 'username', short: 'u', value: true, arg: 'user', help: 'user name' },
  { name: 'pw', short: 'P', value: true, arg: 'password', help: 'password (needs -u)' },
  { name: 'id', short: 'i', value: true, arg: 'id', help: 'client id (default: a random one)' },
  {
    name: 'id-prefix',
    short: 'I',
    value: true,
    arg: 'prefix',
    help: 'client id: this prefix and the process id',
  },
  { name: 'keepalive', short: 'k', value: true, arg: 'seconds', help: 'keep-alive, 5 to 65535 (default 60)' },
  {
    name: 'disable-clean-session',
    short: 'c',
    value: false,
    help: 'persistent session: the broker keeps it after disconnect (needs -i)',
  },
  { name: 'qos', short: 'q', value: true, arg: '0|1|2', help: 'quality of service (default 0)' },
  { name: 'will-topic', value: true, arg: 'topic', help: 'topic of the will (sent if this client vanishes)' },
  { name: 'will-payload', value: true, arg: 'payload', help: 'payload of the will (default empty)' },
  { name: 'will-qos', value: true, arg: '0|1|2', help: 'QoS of the will' },
  { name: 'will-retain', value: false, help: 'retain the will' },
  {
    name: 'protocol-version',
    short: 'V',
    value: true,
    arg: 'version',
    help: 'mqttv5 (or 5), mqttv311 (311, the default) or mqttv31 (31)',
  },
  {
    name: 'property',
    short: 'D',
    value: true,
    arg: 'command identifier value',
    arity: propertyArity,
    help: 'an MQTT 5 property, as mosquitto_pub takes it (implies -V mqttv5)',
  },
  {
    name: 'session-expiry-interval',
    short: 'x',
    value: true,
    arg: 'seconds',
    help: 'MQTT 5 Session Expiry Interval; -1 never (the default with -c)',
  },
  ...TLS_FLAGS,
  { name: 'quiet', value: false, help: 'print no error messages' },
  { name: 'help', value: false, help: 'show this help' },
]

export interface Target {
  url: string
  /** `host:port`, for messages. */
  where: string
  options: ClientOptions
  /** Topics from -t, after the path of an -L URL if it had one. */
  topics: string[]
  qos: QoS
  protocolVersion: ProtocolVersion
  /** The -D properties (all empty without -D). */
  properties: ToolProperties
}

export function qosOf(v: string | undefined, what: string): QoS {
  if (v === undefined) return 0
  if (v !== '0' && v !== '1' && v !== '2') throw new ToolError(`Error: Invalid ${what} given: ${v}`)
  return Number(v) as QoS
}

/** Parses the connection flags into a URL and ClientOptions; refuses what mosquitto_pub/_sub refuse. */
export function connectionTarget(args: ParsedArgs): Target {
  int(args, 'port', 1883, 1, 65_535) // mosquitto's message for a bad -p
  let endpoint: Endpoint
  try {
    endpoint = endpointOf(args)
    endpointTransport(endpoint) // the certificate files parsed now: a bad one is a usage error
  } catch (err) {
    if (err instanceof ConfigError) throw new ToolError(toolMessage(err))
    throw err
  }
  const { username, password } = endpoint
  if (password !== undefined && username === undefined) {
    // [MQTT-3.1.2-22] MQTT 3.1.1 sends a password only with a user name.
    throw new ToolError('Error: A password (-P) needs a user name (-u).')
  }
  const { protocolVersion, properties, sessionExpiry } = versionAndProperties(args)
  const options: ClientOptions = {
    ...endpoint.options,
    protocolVersion,
    reconnect: false,
    connectTimeout: 10_000,
    keepalive: int(args, 'keepalive', 60, 5, 65_535),
  }
  if (username !== undefined) options.username = username
  if (password !== undefined) options.password = password
  const id = last(args, 'id')
  const prefix = last(args, 'id-prefix')
  if (id !== undefined && prefix !== undefined)
    throw new ToolError('Error: -i and -I cannot be used together.')
  if (id !== undefined) options.clientId = id
  else if (prefix !== undefined) options.clientId = `${prefix}${process.pid}`
  if (has(args, 'disable-clean-session')) {
    if (id === undefined)
      throw new ToolError('Error: You must provide a client id (-i) if you are using the -c option.')
    options.clean = false
  }
  if (protocolVersion === PROTOCOL_V5) {
    Object.assign(options, properties.connect)
    // -c in MQTT 5 means a session that outlives the connection: mosquitto's default is "never expires".
    const expiry = sessionExpiry ?? properties.connect.sessionExpiryInterval
    if (expiry !== undefined) options.sessionExpiryInterval = expiry
    else if (options.clean === false) options.sessionExpiryInterval = SESSION_NEVER_EXPIRES
  }
  const willTopic = last(args, 'will-topic')
  if (willTopic === undefined) {
    for (const f of ['will-payload', 'will-qos', 'will-retain']) {
      if (has(args, f)) throw new ToolError(`Error: --${f} given, but no will topic (--will-topic).`)
    }
    if (Object.keys(properties.will).length > 0) {
      throw new ToolError('Error: Will properties given (-D will ...), but no will topic (--will-topic).')
    }
  } else {
    if (!isValidTopicName(willTopic)) throw new ToolError(`Error: Invalid will topic '${willTopic}'.`)
    options.will = {
      topic: willTopic,
      payload: last(args, 'will-payload') ?? '',
      qos: qosOf(last(args, 'will-qos'), 'will QoS'),
      retain: has(args, 'will-retain'),
    }
    if (Object.keys(properties.will).length > 0) options.will.properties = properties.will
  }
  const urlTopic = endpoint.topic
  return {
    url: endpoint.url,
    where: endpoint.where,
    options,
    topics: urlTopic === undefined ? all(args, 'topic') : [urlTopic, ...all(args, 'topic')],
    qos: qosOf(last(args, 'qos'), 'QoS'),
    protocolVersion,
    properties,
  }
}

/**
 * -V, -D and -x. Like mosquitto_pub, -D (and -x) without -V speaks MQTT 5; unlike it, an
 * explicit -V mqttv311 with them is refused rather than silently upgraded.
 */
function versionAndProperties(args: ParsedArgs): {
  protocolVersion: ProtocolVersion
  properties: ToolProperties
  sessionExpiry: number | undefined
} {
  let properties: ToolProperties
  try {
    properties = parseProperties(args.lists.get('property') ?? [])
  } catch (err) {
    if (err instanceof PropertyError) throw new ToolError(err.message)
    throw err
  }
  const x = last(args, 'session-expiry-interval')
  let sessionExpiry: number | undefined
  if (x !== undefined) {
    if (x === '-1' || x === '∞') sessionExpiry = SESSION_NEVER_EXPIRES
    else if (/^\d+$/.test(x) && Number(x) <= SESSION_NEVER_EXPIRES) sessionExpiry = Number(x)
    else
      throw new ToolError(
        `Error: Invalid session-expiry-interval given: ${x} (0 to 4294967295, or -1 for never).`,
      )
  }
  const v = last(args, 'protocol-version')
  const wantsV5 = properties.count > 0 || x !== undefined
  let protocolVersion: ProtocolVersion = wantsV5 ? PROTOCOL_V5 : PROTOCOL_V311
  if (v !== undefined) {
    const named = protocolVersionOf(v)
    if (named === undefined) {
      throw new ToolError(
        `Error: Invalid protocol version argument given: ${v} (mqttv5, mqttv311 or mqttv31).`,
      )
    }
    if (wantsV5 && named !== PROTOCOL_V5) {
      throw new ToolError(`Error: -D and -x are MQTT 5 properties, but -V ${v} was given (use -V mqttv5).`)
    }
    protocolVersion = named
  }
  return { protocolVersion, properties, sessionExpiry }
}

/** The DISCONNECT of `client.end()`: its -D disconnect properties (MQTT 5). */
export function disconnectOptions(target: Target): EndOptions {
  const d = target.properties.disconnect
  const o: EndOptions = {}
  if (d.sessionExpiryInterval !== undefined) o.sessionExpiryInterval = d.sessionExpiryInterval
  if (d.reasonString !== undefined) o.reasonString = d.reasonString
  if (d.userProperties !== undefined) o.userProperties = d.userProperties
  return o
}

/** intFlag() with mosquitto's message. */
function int(args: ParsedArgs, name: string, dflt: number, min: number, max: number): number {
  try {
    return intFlag(args, name, dflt, min, max)
  } catch {
    throw new ToolError(`Error: Invalid ${name} given: ${last(args, name)} (allowed: ${min} to ${max})`)
  }
}

const CONNACK_TEXT: readonly string[] = [
  'accepted',
  'unacceptable protocol version',
  'identifier rejected',
  'broker unavailable',
  'bad user name or password',
  'not authorised',
]

/** connect() to the target; a failure becomes its one line and exit code. */
export function connectTo(target: Target): Promise<Client> {
  return connect(target.url, target.options).catch((err: unknown) => {
    const failure = connectFailure(err, target.where)
    const cause = connectCause(err)
    if (
      target.options.cert !== undefined &&
      cause instanceof ConnectionLostError &&
      cause.cause === undefined
    ) {
      // A server built on node:tls refuses a client certificate after a TLS 1.3 handshake by
      // closing, with no alert: the client cannot tell more than this.
      throw new ToolError(
        `${failure.message.replace(/\.$/, '')}, before CONNACK: the broker may have refused the client certificate; check --cert and --key.`,
        failure.exitCode,
      )
    }
    throw failure
  })
}

/** A failed connect() as one line and an exit code, the way mosquitto_pub/_sub report it. */
export function connectFailure(err: unknown, where: string): ToolError {
  if (err instanceof ConnackRefusedError && err.v5) {
    // The client's message names the reason and its code, e.g. "Not authorized (0x87)".
    const why = err.message.replace(/^broker refused the connection: /, '')
    return new ToolError(`Connection refused: ${why}.`, err.reasonCode)
  }
  if (err instanceof ConnackRefusedError) {
    const why = CONNACK_TEXT[err.returnCode] ?? `return code ${err.returnCode}`
    return new ToolError(`Connection refused: ${why}.`, err.returnCode)
  }
  if (err instanceof ConnectTimeoutError) return new ToolError(`Error: No answer from ${where}.`)
  const cause = connectCause(err)
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ECONNREFUSED') return new ToolError(`Error: Connection refused by ${where}.`)
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ToolError(`Error: Unable to connect: host ${where.replace(/:\d+$/, '')} not found.`)
  }
  if (cause instanceof TransportError)
    return new ToolError(`Error: Unable to connect to ${where}: ${tlsAdvice(cause)}.`)
  const text = cause instanceof Error ? cause.message : String(cause)
  return new ToolError(`Error: Unable to connect to ${where}: ${text}.`)
}

/** What made a connect() fail: the transport's error rather than the client's wrapper. */
export function connectCause(err: unknown): unknown {
  const cause = err instanceof ConnectFailedError ? err.cause : err
  // A TLS 1.3 server judges the client certificate just after the handshake: the lost connection's cause.
  if (cause instanceof ConnectionLostError && cause.cause instanceof TransportError) return cause.cause
  return cause
}

/** A TLS or WebSocket failure with the flag that fixes it (the library's message names its options). */
export function tlsAdvice(err: TransportError): string {
  const detail = err.cause instanceof Error ? err.cause.message : err.message
  if (err.code === TransportErrorCode.TLS_UNTRUSTED) {
    return `the server's TLS certificate is not trusted (${detail}); give the CA that signed it with --cafile`
  }
  if (err.code === TransportErrorCode.TLS_NAME) {
    return `the server's TLS certificate is for another name (${detail}); use -h with a name it holds, or --insecure`
  }
  if (err.code === TransportErrorCode.TLS_CLIENT_CERT) {
    return `the server refused the TLS client certificate (${detailReason(err)}); give one it trusts with --cert and --key`
  }
  return err.message
}

function detailReason(err: TransportError): string {
  return (err.cause as { reason?: string } | undefined)?.reason ?? 'no certificate given'
}

/**
 * The frame of `petrel pub` and `petrel sub`: parse the flags, answer --help,
 * run the tool, and turn a ToolError (a flag parser's error in mosquitto's
 * words) into its message, unless --quiet, and exit code.
 */
export async function runTool(
  argv: string[],
  flags: FlagSpec[],
  title: string,
  body: (args: ParsedArgs) => Promise<number>,
): Promise<number> {
  let quiet = argv.includes('--quiet')
  try {
    const args = parseToolArgs(argv, flags)
    if (has(args, 'help')) {
      process.stdout.write(usage(title, flags))
      return ToolExit.OK
    }
    quiet = has(args, 'quiet')
    return await body(args)
  } catch (err) {
    if (!(err instanceof ToolError)) throw err
    if (!quiet) process.stderr.write(`${err.message}\n`)
    return err.exitCode
  }
}

function parseToolArgs(argv: string[], flags: FlagSpec[]): ParsedArgs {
  try {
    return parseArgs(argv, flags)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    throw new ToolError(toolMessage(err))
  }
}

/** A ConfigError in the tools' words: `Error: Its message.` */
function toolMessage(err: ConfigError): string {
  return `Error: ${err.message.charAt(0).toUpperCase()}${err.message.slice(1)}.`
}
