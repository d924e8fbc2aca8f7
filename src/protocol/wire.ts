import { Buffer } from 'node:buffer'
import { MAX_PACKET_ID, MAX_REMAINING_LENGTH, MAX_STRING_BYTES } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'
import { utf8Length, writeUtf8 } from './utf8.js'

/** Writing helpers shared by the MQTT 3.1.1 and MQTT 5 encoders. */

/** Size of a Variable Byte Integer: the remaining length, property lengths (1.5.5). */
export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4
}

/** Writes a Variable Byte Integer at `off`, returns the offset after it. [MQTT-1.5.5-1] */
export function writeVarint(buf: Buffer, off: number, n: number): number {
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n > 0) b |= 0x80
    buf[off++] = b
  } while (n > 0)
  return off
}

export function checkRemaining(len: number): void {
  if (len > MAX_REMAINING_LENGTH) {
    throw protocolError(
      ErrorCode.PACKET_TOO_LARGE,
      `packet of ${len} bytes exceeds the MQTT maximum`,
      'MQTT-2.2.3',
    )
  }
}

export function checkString(len: number, what: string): void {
  if (len > MAX_STRING_BYTES) {
    throw protocolError(ErrorCode.INVALID_PACKET, `${what} is ${len} bytes; at most 65535 fit`, 'MQTT-1.5.3')
  }
}

export function checkPacketId(id: number): void {
  if (!(id >= 1 && id <= MAX_PACKET_ID && Number.isInteger(id))) {
    throw protocolError(ErrorCode.ZERO_PACKET_ID, `packet id ${id} is not in 1..65535`, 'MQTT-2.3.1-1')
  }
}

/** A buffer for a whole packet, its first byte written; the remaining length goes at offset 1. */
export function alloc(first: number, remaining: number): Buffer {
  checkRemaining(remaining)
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
  buf[0] = first
  return buf
}

export function writeU16(buf: Buffer, off: number, n: number): number {
  buf[off] = n >>> 8
  buf[off + 1] = n & 0xff
  return off + 2
}

export function writeString(buf: Buffer, off: number, s: string, len: number): number {
  off = writeU16(buf, off, len)
  return writeUtf8(buf, off, s, len)
}

export function writeBinary(buf: Buffer, off: number, b: Uint8Array): number {
  off = writeU16(buf, off, b.length)
  buf.set(b, off)
  return off + b.length
}

/** UTF-8 length of a string field, checked to fit its two-byte length. */
export function stringLength(s: string, what: string): number {
  const n = utf8Length(s)
  checkString(n, what)
  return n
}
