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

/** Bytes the topic filters of an UNSUBSCRIBE take; each one's UTF-8 length goes into `lens`. */
export function filtersSize(topics: readonly string[], lens: number[]): number {
  let size = 0
  for (let i = 0; i < topics.length; i++) {
    const len = stringLength(topics[i]!, 'topic filter')
    lens[i] = len
    size += 2 + len
  }
  return size
}

/** Writes the topic filters of an UNSUBSCRIBE sized by filtersSize(). */
export function writeFilters(
  buf: Buffer,
  off: number,
  topics: readonly string[],
  lens: readonly number[],
): number {
  for (let i = 0; i < topics.length; i++) off = writeString(buf, off, topics[i]!, lens[i]!)
  return off
}

interface Credentials {
  username?: string | undefined
  password?: Uint8Array | undefined
}

/** CONNECT flags for a user name (0x80) and a password (0x40), where present. */
export const credentialFlags = (p: Credentials): number =>
  (p.username !== undefined ? 0x80 : 0) | (p.password !== undefined ? 0x40 : 0)

/** Bytes the user name and password of a CONNECT take, each checked to fit its length field. */
export function credentialsSize(p: Credentials): number {
  let size = 0
  if (p.username !== undefined) size += 2 + stringLength(p.username, 'username')
  if (p.password !== undefined) {
    checkString(p.password.length, 'password')
    size += 2 + p.password.length
  }
  return size
}

/** Writes the user name and password of a CONNECT, where present. */
export function writeCredentials(buf: Buffer, off: number, p: Credentials): number {
  if (p.username !== undefined) off = writeString(buf, off, p.username, utf8Length(p.username))
  if (p.password !== undefined) off = writeBinary(buf, off, p.password)
  return off
}
