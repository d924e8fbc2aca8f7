/**
 * Loads the byte-level vectors of test/vectors/*.json (format: test/vectors/README.md)
 * for the codec, broker and fuzz tests.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Packet, PacketType, type ProtocolVersion } from '../../src/protocol/index.js'

export interface ValidVector {
  file: string
  name: string
  spec: string
  bytes: Buffer
  packet: Packet
  /** False when encode(packet) writes other (shorter) bytes than `bytes`. */
  canonical: boolean
  /** The bytes encode(packet) writes instead, when the vector names them (`"encodes"`). */
  encodes: Buffer | undefined
  maxPacketSize: number | undefined
  /** The version the decoder speaks (and encode() writes): 5 for the v5-*.json files. */
  version: ProtocolVersion
}

export interface MalformedVector {
  file: string
  name: string
  spec: string
  bytes: Buffer
  /** The expected ProtocolError code. */
  error: string
  /**
   * The statement id the error names, when it is not `spec`: an MQTT 5 vector cites the
   * MQTT 5 statement, and the error may name the 3.1.1 one for the same rule.
   */
  rule: string | undefined
  returnCode: number | undefined
  /** The MQTT 5 reason code the error carries (checked when given). */
  reasonCode: number | undefined
  maxPacketSize: number | undefined
  version: ProtocolVersion
}

export interface Vectors {
  valid: ValidVector[]
  malformed: MalformedVector[]
}

// build/test/helpers/vectors.js -> <repo>/test/vectors/
const DIR = fileURLToPath(new URL('../../../test/vectors/', import.meta.url))

/** Hex with whitespace ignored and `(HH*N)` meaning the bytes HH repeated N times. */
export function parseHex(text: string): Buffer {
  const parts: Buffer[] = []
  let last = 0
  for (const m of text.matchAll(/\(([0-9a-fA-F\s]+)\*(\d+)\)/g)) {
    parts.push(plainHex(text.slice(last, m.index)))
    const unit = plainHex(m[1]!)
    parts.push(Buffer.alloc(unit.length * Number(m[2]), unit))
    last = m.index + m[0].length
  }
  parts.push(plainHex(text.slice(last)))
  return Buffer.concat(parts)
}

function plainHex(text: string): Buffer {
  const hex = text.replace(/\s+/g, '')
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`bad hex in vector: ${text.slice(0, 80)}`)
  return Buffer.from(hex, 'hex')
}

type Json = Record<string, unknown>

function str(o: Json, key: string, where: string): string {
  const v = o[key]
  if (typeof v !== 'string') throw new Error(`${where}: '${key}' must be a string`)
  return v
}

function optNumber(o: Json, key: string, where: string): number | undefined {
  const v = o[key]
  if (v === undefined) return undefined
  if (typeof v !== 'number') throw new Error(`${where}: '${key}' must be a number`)
  return v
}

/** The binary properties (2.2.2.2), hex in the JSON. */
const BINARY_PROPERTIES = ['correlationData', 'authenticationData']

function toProperties(raw: unknown): Json | undefined {
  if (raw === undefined) return undefined
  const out: Json = { ...(raw as Json) }
  for (const k of BINARY_PROPERTIES) if (typeof out[k] === 'string') out[k] = parseHex(out[k] as string)
  return out
}

/** JSON packet (type by name, binary fields as hex) -> Packet. */
function toPacket(raw: Json, where: string): Packet {
  const name = str(raw, 'type', where)
  const type = (PacketType as Record<string, number>)[name]
  if (type === undefined) throw new Error(`${where}: unknown packet type '${name}'`)
  const out: Json = { ...raw, type }
  if (typeof raw.payload === 'string') out.payload = parseHex(raw.payload)
  if (typeof raw.password === 'string') out.password = parseHex(raw.password)
  if (raw.properties !== undefined) out.properties = toProperties(raw.properties)
  if (raw.will !== undefined) {
    const will = raw.will as Json
    out.will = { ...will, payload: parseHex(str(will, 'payload', `${where} will`)) }
    if (will.properties !== undefined) (out.will as Json).properties = toProperties(will.properties)
  }
  return out as unknown as Packet
}

let cache: Vectors | undefined

/** Every vector of every file, in file order. */
export function loadVectors(): Vectors {
  if (cache) return cache
  const valid: ValidVector[] = []
  const malformed: MalformedVector[] = []
  const names = new Set<string>()
  for (const file of readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const list = JSON.parse(readFileSync(DIR + file, 'utf8')) as Json[]
    for (const v of list) {
      const name = str(v, 'name', file)
      const where = `${file}: ${name}`
      if (names.has(name)) throw new Error(`duplicate vector name: ${where}`)
      names.add(name)
      const version = (optNumber(v, 'version', where) ?? (file.startsWith('v5-') ? 5 : 4)) as ProtocolVersion
      const common = {
        file,
        name,
        spec: str(v, 'spec', where),
        bytes: parseHex(str(v, 'hex', where)),
        maxPacketSize: optNumber(v, 'maxPacketSize', where),
        version,
      }
      if (v.packet !== undefined && v.error === undefined) {
        const encodes = typeof v.encodes === 'string' ? parseHex(v.encodes) : undefined
        valid.push({
          ...common,
          packet: toPacket(v.packet as Json, where),
          canonical: v.canonical !== false && encodes === undefined,
          encodes,
        })
      } else if (v.error !== undefined && v.packet === undefined) {
        malformed.push({
          ...common,
          error: str(v, 'error', where),
          rule: typeof v.rule === 'string' ? v.rule : undefined,
          returnCode: optNumber(v, 'returnCode', where),
          reasonCode: optNumber(v, 'reasonCode', where),
        })
      } else {
        throw new Error(`${where}: a vector has either 'packet' or 'error'`)
      }
    }
  }
  cache = { valid, malformed }
  return cache
}
