import { Buffer } from 'node:buffer'
import { MAX_STRING_BYTES, MAX_VARIABLE_BYTE_INTEGER } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'
import type { UserProperties } from './packets.js'
import { type AnyProperties, BY_NAME, checkValue, defFor, Kind, valueError, where } from './property-table.js'
import { type Reader, truncated } from './reader.js'
import { utf8Length } from './utf8.js'
import { varintSize, writeBinary, writeString, writeU16, writeVarint } from './wire.js'

export { type AnyProperties, WILL_PROPERTIES } from './property-table.js'

/**
 * Reading, sizing and writing MQTT 5 property blocks (2.2.2), as the table of
 * property-table.ts says.
 */

/**
 * Reads a property block at `r.pos` for packet type `ctx` (or WILL_PROPERTIES).
 * Returns undefined when it is empty, so that the common case allocates nothing.
 * Every property lies inside the packet, whose size the decoder has already bounded
 * by its maxPacketSize: the block cannot make the parser allocate beyond that.
 */
export function readProperties(r: Reader, ctx: number): AnyProperties | undefined {
  const len = r.varint('property length')
  if (len === 0) return undefined
  const end = r.pos + len
  if (end > r.end) truncated('properties')
  const outerEnd = r.end
  r.end = end
  const out: Record<string, unknown> = {}
  // identifiers seen: bit (id & 31) of lo for id < 32, of hi above
  let lo = 0
  let hi = 0
  while (r.pos < end) {
    const id = r.u8('property identifier')
    const d = defFor(id, ctx)
    if (d === undefined) {
      throw protocolError(
        ErrorCode.MALFORMED_PROPERTY,
        `property 0x${id.toString(16)} is not allowed in ${where(ctx)}`,
        '',
      )
    }
    if (d.kind !== Kind.Pairs && d.kind !== Kind.Varints) {
      const m = 1 << (id & 31)
      if ((id < 32 ? lo : hi) & m) {
        throw protocolError(ErrorCode.DUPLICATE_PROPERTY, `${d.name} appears more than once`, '')
      }
      if (id < 32) lo |= m
      else hi |= m
    }
    switch (d.kind) {
      case Kind.Byte:
      case Kind.U16:
      case Kind.U32:
      case Kind.Varint: {
        const v = readInt(r, d.kind, d.name)
        checkValue(d, v)
        out[d.name] = v
        break
      }
      case Kind.Bool: {
        const v = r.u8(d.name)
        if (v > 1) valueError(d.name, v, '2.2.2.2')
        out[d.name] = v === 1
        break
      }
      case Kind.Varints: {
        const v = r.varint(d.name)
        checkValue(d, v)
        const list = out[d.name] as number[] | undefined
        if (list === undefined) out[d.name] = [v]
        else list.push(v)
        break
      }
      case Kind.String:
        out[d.name] = r.string(d.name)
        break
      case Kind.Binary:
        out[d.name] = r.binary(d.name)
        break
      case Kind.Pairs: {
        const pair: [string, string] = [r.string('user property name'), r.string('user property value')]
        const list = out[d.name] as UserProperties | undefined
        if (list === undefined) out[d.name] = [pair]
        else list.push(pair)
        break
      }
    }
  }
  r.end = outerEnd
  return out as AnyProperties
}

/** One integer property of `kind` (Byte, U16, U32 or Varint). */
function readInt(r: Reader, kind: Kind, name: string): number {
  if (kind === Kind.Byte) return r.u8(name)
  if (kind === Kind.U16) return r.u16(name)
  if (kind === Kind.U32) return r.u32(name)
  return r.varint(name)
}

function badField(name: string, ctx: number, why: string): never {
  throw protocolError(ErrorCode.MALFORMED_PROPERTY, `${name} ${why} in ${where(ctx)}`)
}

function stringSize(s: unknown, name: string, ctx: number): number {
  if (typeof s !== 'string') badField(name, ctx, 'is not a string')
  const n = utf8Length(s)
  if (n > MAX_STRING_BYTES) badField(name, ctx, `is ${n} bytes; at most 65535 fit`)
  return 2 + n
}

/** Largest value of an integer kind (the Byte kind's values are 0 or 1). */
function intMax(kind: Kind): number {
  if (kind === Kind.Byte) return 1
  if (kind === Kind.U16) return 0xffff
  if (kind === Kind.U32) return 0xffff_ffff
  return MAX_VARIABLE_BYTE_INTEGER
}

/** Bytes on the wire of `v` as an integer kind. */
function intBytes(kind: Kind, v: number): number {
  if (kind === Kind.Byte) return 1
  if (kind === Kind.U16) return 2
  if (kind === Kind.U32) return 4
  return varintSize(v)
}

function intSize(v: unknown, max: number, name: string, ctx: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    badField(name, ctx, `must be an integer in 0..${max}`)
  }
}

/**
 * Byte length of the properties of `p` (without their length field) for packet
 * type `ctx`, checking that each is allowed there and holds a value of its type.
 * `skip` names fields to leave out (a PublishTemplate writes some per delivery).
 */
export function propertiesSize(p: object | undefined, ctx: number, skip?: ReadonlySet<string>): number {
  if (p === undefined) return 0
  let size = 0
  for (const [name, v] of Object.entries(p)) {
    if (v === undefined || skip?.has(name)) continue
    const d = BY_NAME.get(name)
    if (d === undefined || !(d.allowed & (1 << ctx))) badField(name, ctx, 'is not allowed')
    switch (d.kind) {
      case Kind.Byte:
      case Kind.U16:
      case Kind.U32:
      case Kind.Varint:
        intSize(v, intMax(d.kind), name, ctx)
        checkValue(d, v as number)
        size += 1 + intBytes(d.kind, v as number)
        break
      case Kind.Bool:
        if (typeof v !== 'boolean') badField(name, ctx, 'is not a boolean')
        size += 2
        break
      case Kind.Varints:
        if (!Array.isArray(v)) badField(name, ctx, 'is not an array')
        for (const n of v) {
          intSize(n, MAX_VARIABLE_BYTE_INTEGER, name, ctx)
          checkValue(d, n as number)
          size += 1 + varintSize(n as number)
        }
        break
      case Kind.String:
        size += 1 + stringSize(v, name, ctx)
        break
      case Kind.Binary:
        if (!(v instanceof Uint8Array)) badField(name, ctx, 'is not a Buffer')
        if (v.length > MAX_STRING_BYTES) badField(name, ctx, `is ${v.length} bytes; at most 65535 fit`)
        size += 3 + v.length
        break
      case Kind.Pairs:
        if (!Array.isArray(v)) badField(name, ctx, 'is not an array of [name, value] pairs')
        for (const pair of v as unknown[]) {
          if (!Array.isArray(pair) || pair.length !== 2)
            badField(name, ctx, 'holds a pair that is not [name, value]')
          size += 1 + stringSize(pair[0], name, ctx) + stringSize(pair[1], name, ctx)
        }
        break
    }
  }
  return size
}

function writeStr(buf: Buffer, off: number, s: string): number {
  return writeString(buf, off, s, utf8Length(s))
}

/** One property value of `kind` (one item for Varints and Pairs), after its identifier. */
function writeValue(buf: Buffer, off: number, kind: Kind, v: unknown): number {
  switch (kind) {
    case Kind.Byte:
      buf[off] = v as number
      return off + 1
    case Kind.Bool:
      buf[off] = v ? 1 : 0
      return off + 1
    case Kind.U16:
      return writeU16(buf, off, v as number)
    case Kind.U32:
      return buf.writeUInt32BE(v as number, off)
    case Kind.Varint:
    case Kind.Varints:
      return writeVarint(buf, off, v as number)
    case Kind.String:
      return writeStr(buf, off, v as string)
    case Kind.Binary:
      return writeBinary(buf, off, v as Uint8Array)
    case Kind.Pairs: {
      const [k, val] = v as [string, string]
      return writeStr(buf, writeStr(buf, off, k), val)
    }
  }
}

/**
 * Writes the properties of `p` (already checked by propertiesSize with the same
 * `skip`) at `off`, without their length field. Returns the offset after them.
 */
export function writeProperties(
  buf: Buffer,
  off: number,
  p: object | undefined,
  skip?: ReadonlySet<string>,
): number {
  if (p === undefined) return off
  for (const [name, v] of Object.entries(p)) {
    if (v === undefined || skip?.has(name)) continue
    const d = BY_NAME.get(name)!
    if (d.kind === Kind.Varints || d.kind === Kind.Pairs) {
      // a list: the identifier again before each item
      for (const item of v as unknown[]) {
        buf[off++] = d.id
        off = writeValue(buf, off, d.kind, item)
      }
    } else {
      buf[off++] = d.id
      off = writeValue(buf, off, d.kind, v)
    }
  }
  return off
}

/** A property block (its length field, unless `withLength` is false, then the properties) as a Buffer. */
export function encodeProperties(
  p: object | undefined,
  ctx: number,
  skip?: ReadonlySet<string>,
  withLength = true,
): Buffer {
  const size = propertiesSize(p, ctx, skip)
  const buf = Buffer.allocUnsafe((withLength ? varintSize(size) : 0) + size)
  writeProperties(buf, withLength ? writeVarint(buf, 0, size) : 0, p, skip)
  return buf
}
