/** Strict UTF-8 for MQTT strings [MQTT-1.5.3], checked against the WHATWG decoder in fatal mode. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { ProtocolError } from '../../../src/errors.js'
import { ErrorCode, isValidMqttString } from '../../../src/protocol/index.js'
import { decodeUtf8, utf8Length, writeUtf8 } from '../../../src/protocol/utf8.js'
import { codePoint } from '../../helpers/arbitraries.js'

// fatal: ill-formed input throws; ignoreBOM: a leading U+FEFF is kept [MQTT-1.5.3-3]
const reference = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** What decodeUtf8 may give: the string, or the error codes that fit (the first problem in the bytes is reported). */
function expected(bytes: Uint8Array): string[] {
  let s: string
  try {
    s = reference.decode(bytes)
  } catch {
    return bytes.includes(0) ? [ErrorCode.MALFORMED_UTF8, ErrorCode.UTF8_NULL] : [ErrorCode.MALFORMED_UTF8]
  }
  return [s.includes('\0') ? ErrorCode.UTF8_NULL : s]
}

function actual(bytes: Uint8Array, pad = 0): string {
  // decode from the middle of a larger buffer, as the decoder does; continuation
  // bytes around it would complete a truncated sequence if the bounds were ignored
  const buf = Buffer.alloc(bytes.length + 2 * pad, 0x80)
  buf.set(bytes, pad)
  try {
    return decodeUtf8(buf, pad, pad + bytes.length)
  } catch (err) {
    if (err instanceof ProtocolError) return err.code
    throw err
  }
}

/** Bytes that are mostly near the interesting boundaries of UTF-8. */
const byte = fc.oneof(
  fc.integer({ min: 0, max: 255 }),
  fc.constantFrom(
    0x00,
    0x41,
    0x7f,
    0x80,
    0x8f,
    0x90,
    0x9f,
    0xa0,
    0xbf,
    0xc0,
    0xc1,
    0xc2,
    0xdf,
    0xe0,
    0xed,
    0xef,
  ),
  fc.constantFrom(0xf0, 0xf4, 0xf5, 0xff),
)

describe('decodeUtf8', () => {
  test('accepts and refuses exactly what a fatal UTF-8 decoder does, and decodes to the same string', () => {
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 12 }), (arr) => {
        const bytes = Uint8Array.from(arr)
        assert.ok(expected(bytes).includes(actual(bytes, 3)), Buffer.from(bytes).toString('hex'))
      }),
      { numRuns: 30_000 },
    )
  })

  test('decodes every well-formed string back to itself', () => {
    fc.assert(
      fc.property(fc.string({ unit: codePoint, maxLength: 40 }), (s) => {
        const bytes = Buffer.from(s)
        assert.equal(actual(bytes, 1), s.includes('\0') ? ErrorCode.UTF8_NULL : s)
      }),
      { numRuns: 5_000 },
    )
  })

  test('checks every code point boundary: U+007F/0080, 07FF/0800, D7FF/D800, DFFF/E000, FFFF/10000, 10FFFF', () => {
    const cases: [hex: string, ok: boolean][] = [
      ['7f', true],
      ['c280', true],
      ['dfbf', true],
      ['e0a080', true],
      ['ed9fbf', true],
      ['eda080', false],
      ['edbfbf', false],
      ['ee8080', true],
      ['efbfbf', true],
      ['f0908080', true],
      ['f48fbfbf', true],
      ['f4908080', false],
    ]
    for (const [hex, ok] of cases) {
      const bytes = Buffer.from(hex, 'hex')
      assert.equal(actual(bytes) !== ErrorCode.MALFORMED_UTF8, ok, hex)
      assert.deepEqual([actual(bytes)], expected(bytes), hex)
    }
  })
})

describe('encoding strings', () => {
  test('utf8Length and writeUtf8 agree with Buffer for any well-formed string', () => {
    fc.assert(
      fc.property(fc.string({ unit: codePoint, maxLength: 80 }), fc.nat(7), (s, off) => {
        const len = utf8Length(s)
        assert.equal(len, Buffer.byteLength(s))
        const buf = Buffer.alloc(off + len + 3, 0xee)
        assert.equal(writeUtf8(buf, off, s, len), off + len)
        assert.ok(buf.subarray(off, off + len).equals(Buffer.from(s)))
        assert.ok(buf.subarray(off + len).equals(Buffer.alloc(3, 0xee)), 'writes nothing past the string')
      }),
      { numRuns: 5_000 },
    )
  })

  test('isValidMqttString refuses U+0000 [MQTT-1.5.3-2] and lone surrogates [MQTT-1.5.3-1], and nothing else', () => {
    const unit = fc.constantFrom('a', '\0', '\ud800', '\udbff', '\udc00', '\udfff', 'é', '😀', '\ufeff')
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 8 }), (s) => {
        const wellFormed = Buffer.from(s).toString() === s
        assert.equal(isValidMqttString(s), wellFormed && !s.includes('\0'))
      }),
      { numRuns: 10_000 },
    )
  })
})
