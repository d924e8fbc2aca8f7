/**
 * `-V` and `-D command identifier value` of `petrel pub` / `petrel sub`, with the command and
 * identifier names of mosquitto_pub/_sub, checked against what MQTT 5 allows in each packet.
 */
import {
  MAX_VARIABLE_BYTE_INTEGER,
  PROTOCOL_V5,
  PROTOCOL_V31,
  PROTOCOL_V311,
  type ProtocolVersion,
} from '../protocol/constants.js'
import type {
  ConnectProperties,
  DisconnectProperties,
  PublishProperties,
  UserProperties,
  WillProperties,
} from '../protocol/packets.js'

/** -V values, as mosquitto_pub/_sub take them. */
const VERSIONS: Record<string, ProtocolVersion> = {
  mqttv5: PROTOCOL_V5,
  '5': PROTOCOL_V5,
  mqttv311: PROTOCOL_V311,
  '311': PROTOCOL_V311,
  mqttv31: PROTOCOL_V31,
  '31': PROTOCOL_V31,
}

/** The protocol version a -V value names, or undefined. */
export function protocolVersionOf(v: string): ProtocolVersion | undefined {
  return Object.hasOwn(VERSIONS, v) ? VERSIONS[v] : undefined
}

export const COMMANDS = [
  'connect',
  'publish',
  'subscribe',
  'unsubscribe',
  'disconnect',
  'will',
  'auth',
] as const
export type Command = (typeof COMMANDS)[number]

type Kind = 'byte' | 'bool' | 'int16' | 'int32' | 'varint' | 'string' | 'binary' | 'pair'

interface Spec {
  kind: Kind
  /** Smallest value allowed (numbers). */
  min?: number
  /** The commands whose packet may carry it, as a client sends it. */
  in: readonly Command[]
}

const UINT16 = 0xffff
const UINT32 = 0xffff_ffff

/** Every MQTT 5 property by mosquitto's name; `in: []` for those only a server sends. */
const PROPERTIES: Record<string, Spec> = {
  'payload-format-indicator': { kind: 'byte', in: ['publish', 'will'] },
  'message-expiry-interval': { kind: 'int32', in: ['publish', 'will'] },
  'content-type': { kind: 'string', in: ['publish', 'will'] },
  'response-topic': { kind: 'string', in: ['publish', 'will'] },
  'correlation-data': { kind: 'binary', in: ['publish', 'will'] },
  'subscription-identifier': { kind: 'varint', min: 1, in: ['subscribe'] },
  'session-expiry-interval': { kind: 'int32', in: ['connect', 'disconnect'] },
  'assigned-client-identifier': { kind: 'string', in: [] },
  'server-keep-alive': { kind: 'int16', in: [] },
  'authentication-method': { kind: 'string', in: ['connect', 'auth'] },
  'authentication-data': { kind: 'binary', in: ['connect', 'auth'] },
  'request-problem-information': { kind: 'bool', in: ['connect'] },
  'will-delay-interval': { kind: 'int32', in: ['will'] },
  'request-response-information': { kind: 'bool', in: ['connect'] },
  'response-information': { kind: 'string', in: [] },
  'server-reference': { kind: 'string', in: [] },
  'reason-string': { kind: 'string', in: ['disconnect', 'auth'] },
  'receive-maximum': { kind: 'int16', min: 1, in: ['connect'] },
  'topic-alias-maximum': { kind: 'int16', in: ['connect'] },
  'topic-alias': { kind: 'int16', min: 1, in: ['publish'] },
  'maximum-qos': { kind: 'byte', in: [] },
  'retain-available': { kind: 'byte', in: [] },
  'user-property': {
    kind: 'pair',
    in: ['connect', 'publish', 'subscribe', 'unsubscribe', 'disconnect', 'will', 'auth'],
  },
  'maximum-packet-size': { kind: 'int32', min: 1, in: ['connect'] },
  'wildcard-subscription-available': { kind: 'byte', in: [] },
  'subscription-identifier-available': { kind: 'byte', in: [] },
  'shared-subscription-available': { kind: 'byte', in: [] },
}

/** What the tools do not send although MQTT 5 allows it (no AUTH exchange on the command line). */
const UNSUPPORTED = new Set(['authentication-method', 'authentication-data'])

/** The -D properties, per packet, in the client library's terms. */
export interface ToolProperties {
  connect: ConnectProperties
  will: WillProperties
  publish: PublishProperties
  /** Subscription Identifier and user properties of SUBSCRIBE. */
  subscribe: { subscriptionIdentifier?: number; userProperties?: UserProperties }
  unsubscribe: { userProperties?: UserProperties }
  disconnect: DisconnectProperties
  /** How many -D were given. */
  count: number
}

export class PropertyError extends Error {
  override readonly name = 'PropertyError'
}

/** How many arguments one -D takes: 4 for user-property (name and value), else 3. */
export function propertyArity(rest: readonly string[]): number | string {
  const n = rest[1] === 'user-property' ? 4 : 3
  if (rest.length < n) return '-D argument given but not enough arguments specified'
  return n
}

const camel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())

function numberOf(name: string, v: string, min: number, max: number): number {
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new PropertyError(
      `Error: Property value (${v}) out of range for property ${name} (${min} to ${max}).`,
    )
  }
  return n
}

function propertyValue(name: string, spec: Spec, v: string): number | boolean | string | Buffer {
  switch (spec.kind) {
    case 'byte':
      return numberOf(name, v, spec.min ?? 0, 1)
    case 'bool':
      return numberOf(name, v, 0, 1) === 1
    case 'int16':
      return numberOf(name, v, spec.min ?? 0, UINT16)
    case 'int32':
      return numberOf(name, v, spec.min ?? 0, UINT32)
    case 'varint':
      return numberOf(name, v, spec.min ?? 0, MAX_VARIABLE_BYTE_INTEGER)
    case 'binary':
      return Buffer.from(v)
    default:
      return v
  }
}

/** Parses every -D group (`[command, identifier, value]`, or two values for user-property). */
export function parseProperties(groups: readonly (readonly string[])[]): ToolProperties {
  const out: ToolProperties = {
    connect: {},
    will: {},
    publish: {},
    subscribe: {},
    unsubscribe: {},
    disconnect: {},
    count: groups.length,
  }
  for (const [command = '', name = '', value = '', value2 = ''] of groups) {
    if (!(COMMANDS as readonly string[]).includes(command)) {
      throw new PropertyError(
        `Error: Invalid command '${command}' given in --property argument (${COMMANDS.join(', ')}).`,
      )
    }
    const spec = PROPERTIES[name]
    if (spec === undefined)
      throw new PropertyError(`Error: Invalid property name '${name}' given in --property argument.`)
    if (!spec.in.includes(command as Command)) {
      throw new PropertyError(`Error: ${name} property not allowed for ${command} in --property argument.`)
    }
    if (command === 'auth' || UNSUPPORTED.has(name)) {
      throw new PropertyError(`Error: ${name} property not supported for ${command} in --property argument.`)
    }
    const target = out[command as Exclude<Command, 'auth'>] as Record<string, unknown>
    if (spec.kind === 'pair') {
      const list = (target.userProperties ??= []) as UserProperties
      list.push([value, value2])
      continue
    }
    const v = propertyValue(name, spec, value)
    // payload-format-indicator is 0 | 1 in the packet types; booleans are request-* flags.
    target[camel(name)] = v
  }
  return out
}
