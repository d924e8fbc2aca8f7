import { Buffer } from 'node:buffer'
import { ErrorCode, protocolError } from './errors.js'

/**
 * Node's Buffer has undocumented but long-stable slice/write methods that skip
 * the argument normalisation of toString()/write(); on short strings they are
 * markedly faster. They exist on every Buffer since Node 0.x.
 */
type FastBuffer = Buffer & {
  latin1Slice(start: number, end: number): string
  utf8Slice(start: number, end: number): string
  utf8Write(s: string, offset: number, length: number): number
  latin1Write(s: string, offset: number, length: number): number
}

/**
 * Strict UTF-8 for MQTT strings. [MQTT-1.5.3-1]: ill-formed UTF-8, including
 * overlong forms and the UTF-16 surrogates U+D800..U+DFFF, is a protocol error.
 * [MQTT-1.5.3-2]: U+0000 is a protocol error.
 * A leading U+FEFF is kept, never stripped [MQTT-1.5.3-3].
 */
export function decodeUtf8(buf: Buffer, start: number, end: number): string {
  let ascii = true
  for (let i = start; i < end; i++) {
    const b = buf[i]!
    if (b === 0) throw protocolError(ErrorCode.UTF8_NULL, 'string contains U+0000', 'MQTT-1.5.3-2')
    if (b >= 0x80) {
      ascii = false
      validateMultibyte(buf, i, end)
      break
    }
  }
  return ascii ? (buf as FastBuffer).latin1Slice(start, end) : (buf as FastBuffer).utf8Slice(start, end)
}

/**
 * `buf[start..end)` as a latin1 string: one character (0-255) per byte, so any bytes round-trip
 * through `Buffer.from(s, 'latin1')`. For text, only for bytes already known to be ASCII.
 */
export function asciiString(buf: Buffer, start: number, end: number): string {
  return (buf as FastBuffer).latin1Slice(start, end)
}

function malformed(): never {
  throw protocolError(ErrorCode.MALFORMED_UTF8, 'string is not well-formed UTF-8', 'MQTT-1.5.3-1')
}

function cont(buf: Buffer, i: number, end: number, lo = 0x80, hi = 0xbf): void {
  if (i >= end) malformed()
  const b = buf[i]!
  if (b < lo || b > hi) malformed()
}

function validateMultibyte(buf: Buffer, from: number, end: number): void {
  let i = from
  while (i < end) {
    const b = buf[i]!
    if (b < 0x80) {
      if (b === 0) throw protocolError(ErrorCode.UTF8_NULL, 'string contains U+0000', 'MQTT-1.5.3-2')
      i++
    } else if (b >= 0xc2 && b <= 0xdf) {
      cont(buf, i + 1, end)
      i += 2
    } else if (b >= 0xe0 && b <= 0xef) {
      // E0: no overlongs below U+0800; ED: no surrogates U+D800..U+DFFF.
      cont(buf, i + 1, end, b === 0xe0 ? 0xa0 : 0x80, b === 0xed ? 0x9f : 0xbf)
      cont(buf, i + 2, end)
      i += 3
    } else if (b >= 0xf0 && b <= 0xf4) {
      // F0: no overlongs below U+10000; F4: nothing above U+10FFFF.
      cont(buf, i + 1, end, b === 0xf0 ? 0x90 : 0x80, b === 0xf4 ? 0x8f : 0xbf)
      cont(buf, i + 2, end)
      cont(buf, i + 3, end)
      i += 4
    } else {
      malformed() // stray continuation byte, C0/C1 overlong lead, or F5..FF
    }
  }
}

/**
 * Byte length of `s` in UTF-8. Buffer.byteLength is a V8 fast API call, ~15 ns
 * whatever the length; only for very short strings is a loop cheaper.
 */
export function utf8Length(s: string): number {
  const n = s.length
  if (n > 8) return Buffer.byteLength(s)
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8')
  }
  return n
}

/** Writes `s`, whose UTF-8 length is `len`, at `off`. Returns the offset after it. */
export function writeUtf8(buf: Buffer, off: number, s: string, len: number): number {
  if (len === s.length) {
    // ASCII (a UTF-8 length equal to the UTF-16 length admits nothing else): a
    // byte per char. A loop beats the native call (~45 ns) up to ~32 chars; beyond
    // that latin1Write, a plain narrowing copy, is cheaper than the UTF-8 encoder.
    if (len <= 32) for (let i = 0; i < len; i++) buf[off + i] = s.charCodeAt(i)
    else (buf as FastBuffer).latin1Write(s, off, len)
  } else {
    ;(buf as FastBuffer).utf8Write(s, off, len)
  }
  return off + len
}

/** Writes the latin1 string `s` at `off`, a byte per character. Returns the offset after it. */
export function writeLatin1(buf: Buffer, off: number, s: string): number {
  return off + (buf as FastBuffer).latin1Write(s, off, s.length)
}

/**
 * True when `s` can be sent as an MQTT string: no U+0000 [MQTT-1.5.3-2] and no
 * unpaired surrogate, which has no UTF-8 form [MQTT-1.5.3-1].
 */
export function isValidMqttString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0) return false
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c >= 0xdc00) return false
      const next = s.charCodeAt(i + 1)
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false
      i++
    }
  }
  return true
}

/** `buf[start..end)` decoded as UTF-8 without checks: for bytes Petrel wrote itself (a store's file). */
export function utf8String(buf: Buffer, start: number, end: number): string {
  return (buf as FastBuffer).utf8Slice(start, end)
}
