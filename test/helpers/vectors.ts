/**
 * Loads the byte-level vectors of test/vectors/*.json (format: test/vectors/README.md)
 * for the codec, broker and fuzz tests.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Packet, PacketType } from '../../src/protocol/index.js'

export interface ValidVector {
  file: string
  name: string
  spec: string
  bytes: Buffer
  packet: Packet
  /** False when encode(packet) writes other (shorter) bytes than `bytes`. */
  canonical: boolean
  maxPacketSize: number | undefined
}

export interface MalformedVector {
  file: string
  name: string
  spec: string
  bytes: Buffer
  /** The expected ProtocolError code. */
  error: string
  returnCode: number | undefined
  maxPacketSize: number | undefined
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

/** JSON packet (type by name, binary fields as hex) -> Packet. */
function toPacket(raw: Json, where: string): Packet {
  const name = str(raw, 'type', where)
  const type = (PacketType as Record<string, number>)[name]
  if (type === undefined) throw new Error(`${where}: unknown packet type '${name}'`)
  const out: Json = { ...raw, type }
  if (typeof raw.payload === 'string') out.payload = parseHex(raw.payload)
  if (typeof raw.password === 'string') out.password = parseHex(raw.password)
  if (raw.will !== undefined) {
    const will = raw.will as Json
    out.will = { ...will, payload: parseHex(str(will, 'payload', `${where} will`)) }
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
      const common = {
        file,
        name,
        spec: str(v, 'spec', where),
        bytes: parseHex(str(v, 'hex', where)),
        maxPacketSize: optNumber(v, 'maxPacketSize', where),
      }
      if (v.packet !== undefined && v.error === undefined) {
        valid.push({ ...common, packet: toPacket(v.packet as Json, where), canonical: v.canonical !== false })
      } else if (v.error !== undefined && v.packet === undefined) {
        malformed.push({
          ...common,
          error: str(v, 'error', where),
          returnCode: optNumber(v, 'returnCode', where),
        })
      } else {
        throw new Error(`${where}: a vector has either 'packet' or 'error'`)
      }
    }
  }
  cache = { valid, malformed }
  return cache
}
