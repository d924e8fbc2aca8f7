/**
 * The byte-level vectors of test/vectors/ against the decoder and encoder: every
 * vector in one chunk, split in two at every byte boundary, and byte by byte.
 * The v5-*.json vectors run with a decoder speaking MQTT 5 and encode(packet, 5).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ProtocolError } from '../../../src/errors.js'
import {
  Decoder,
  type DecoderOptions,
  ErrorCode,
  encode,
  PacketType,
  PropertyId,
  type ProtocolVersion,
} from '../../../src/protocol/index.js'
import { byteByByte, cutAt, type DecodeResult, decodeChunks, splitPoints } from '../../helpers/decode.js'
import { loadVectors, type MalformedVector, type ValidVector } from '../../helpers/vectors.js'

const all = loadVectors()
const { valid, malformed } = all

function optionsOf(v: { maxPacketSize: number | undefined; version: ProtocolVersion }): DecoderOptions {
  const o: DecoderOptions = { protocolVersion: v.version }
  if (v.maxPacketSize !== undefined) o.maxPacketSize = v.maxPacketSize
  return o
}

function expectPacket(v: ValidVector, r: DecodeResult, how: string): void {
  if (r.error !== undefined) assert.fail(`${how}: threw ${String(r.error)}`)
  assert.equal(r.packets.length, 1, `${how}: one packet`)
  assert.deepEqual(r.packets[0], v.packet, how)
  assert.ok(r.raws[0]!.equals(v.bytes), `${how}: rawBytes() is the packet's wire bytes`)
  assert.equal(r.buffered, 0, `${how}: nothing left buffered`)
}

/** A single statement id such as MQTT-3.3.1-4 (or MQTT-3-8.3-4, as the spec spells it). */
const STATEMENT_ID = /^MQTT-[\d.-]+$/

function expectError(v: MalformedVector, r: DecodeResult, how: string): void {
  const err = r.error
  if (!(err instanceof ProtocolError)) {
    assert.fail(
      `${how}: expected ProtocolError ${v.error}, got ${err === undefined ? 'no error' : String(err)}`,
    )
  }
  assert.equal(err.code, v.error, `${how}: ${err.message}`)
  if (v.rule !== undefined) assert.equal(err.rule, v.rule, `${how}: rule`)
  else if (STATEMENT_ID.test(v.spec)) assert.equal(err.rule, v.spec, `${how}: rule`)
  assert.equal(err.returnCode, v.returnCode, `${how}: returnCode`)
  if (v.reasonCode !== undefined) assert.equal(err.reasonCode, v.reasonCode, `${how}: reasonCode`)
  assert.equal(r.packets.length, 0, `${how}: no packet delivered`)
  if (v.maxPacketSize !== undefined) assert.ok(r.maxBuffered <= v.maxPacketSize, `${how}: buffered`)
}

function files(): string[] {
  return [...new Set([...valid, ...malformed].map((v) => v.file))]
}

for (const file of files()) {
  describe(file, () => {
    for (const v of valid.filter((x) => x.file === file)) {
      test(`decodes: ${v.name} [${v.spec}]`, () => {
        const opts = optionsOf(v)
        expectPacket(v, decodeChunks([v.bytes], opts), 'one chunk')
        for (const at of splitPoints(v.bytes.length)) {
          expectPacket(v, decodeChunks(cutAt(v.bytes, [at]), opts), `split at ${at}`)
        }
        expectPacket(v, decodeChunks(byteByByte(v.bytes), opts), 'byte by byte')
        if (v.canonical) {
          const out = encode(v.packet, v.version)
          assert.ok(out.equals(v.bytes), `encode() gives back the same bytes, not ${out.toString('hex')}`)
        } else if (v.encodes !== undefined) {
          const out = encode(v.packet, v.version)
          assert.ok(
            out.equals(v.encodes),
            `encode() writes ${v.encodes.toString('hex')}, not ${out.toString('hex')}`,
          )
        } else {
          assert.deepEqual(
            decodeChunks([encode(v.packet, v.version)], opts).packets,
            [v.packet],
            'encode() output decodes',
          )
        }
      })
    }
    for (const v of malformed.filter((x) => x.file === file)) {
      test(`refuses: ${v.name} [${v.spec}]`, () => {
        const opts = optionsOf(v)
        expectError(v, decodeChunks([v.bytes], opts), 'one chunk')
        for (const at of splitPoints(v.bytes.length)) {
          expectError(v, decodeChunks(cutAt(v.bytes, [at]), opts), `split at ${at}`)
        }
        expectError(v, decodeChunks(byteByByte(v.bytes), opts), 'byte by byte')
      })
    }
  })
}

for (const version of [4, 5] as const)
  describe(`vector streams (protocol version ${version})`, () => {
    const valid = all.valid.filter((v) => v.version === version)
    const malformed = all.malformed.filter((v) => v.version === version)
    const opts = { protocolVersion: version }
    test('all valid vectors back-to-back in one chunk decode in order', () => {
      const r = decodeChunks([Buffer.concat(valid.map((v) => v.bytes))], opts)
      assert.equal(r.error, undefined)
      assert.equal(r.packets.length, valid.length)
      valid.forEach((v, i) => {
        assert.deepEqual(r.packets[i], v.packet, v.name)
        assert.ok(r.raws[i]!.equals(v.bytes), `${v.name}: rawBytes()`)
      })
      assert.equal(r.buffered, 0)
    })

    test('all valid vectors back-to-back in chunks of 1 to 4096 bytes decode in order', () => {
      const whole = Buffer.concat(valid.map((v) => v.bytes))
      const sizes = [1, 2, 3, 5, 7, 13, 64, 127, 128, 1000, 4096]
      const cuts: number[] = []
      for (let i = 0, at = 1; at < whole.length; i++) {
        cuts.push(at)
        at += sizes[i % sizes.length]!
      }
      const r = decodeChunks(cutAt(whole, cuts), opts)
      assert.equal(r.error, undefined)
      assert.deepEqual(
        r.packets,
        valid.map((v) => v.packet),
      )
    })

    test('the small valid vectors back-to-back byte by byte decode in order', () => {
      const small = valid.filter((v) => v.bytes.length < 1024)
      const r = decodeChunks(byteByByte(Buffer.concat(small.map((v) => v.bytes))), opts)
      assert.equal(r.error, undefined)
      assert.deepEqual(
        r.packets,
        small.map((v) => v.packet),
      )
    })

    test('packets before a malformed one in the same chunk are delivered, then the error is thrown', () => {
      const ping = valid.find((v) => v.packet.type === PacketType.PINGREQ)!
      const pub = valid.find((v) => v.packet.type === PacketType.PUBLISH && v.packet.qos === 1)!
      for (const v of malformed) {
        const r = decodeChunks([Buffer.concat([ping.bytes, pub.bytes, v.bytes])], optionsOf(v))
        assert.ok(r.error instanceof ProtocolError, v.name)
        assert.equal(r.error.code, v.error, v.name)
        assert.deepEqual(r.packets, [ping.packet, pub.packet], v.name)
      }
    })

    test('after a malformed packet the decoder refuses all further input', () => {
      for (const v of malformed) {
        const got: unknown[] = []
        const decoder = new Decoder((p) => got.push(p), optionsOf(v))
        assert.throws(() => decoder.push(v.bytes), ProtocolError, v.name)
        assert.throws(
          () => decoder.push(Buffer.from([0xc0, 0x00])),
          (err) => err instanceof ProtocolError && err.code === ErrorCode.DECODER_FAILED,
          v.name,
        )
        assert.deepEqual(got, [], v.name)
      }
    })
  })

describe('vector coverage', () => {
  const of = (version: number) => ({
    valid: valid.filter((v) => v.version === version),
    malformed: malformed.filter((v) => v.version === version),
  })

  test('3.1.1 valid vectors cover all 14 packet types, MQTT 5 ones all 15', () => {
    for (const version of [4, 5]) {
      const types = new Set(of(version).valid.map((v) => v.packet.type))
      for (const t of Object.values(PacketType)) {
        // AUTH is MQTT 5 only
        if (version === 5 || t !== PacketType.AUTH) assert.ok(types.has(t), `version ${version}: type ${t}`)
      }
    }
  })

  test('malformed vectors break the fixed-header flags of every type but PUBLISH, in both versions [MQTT-2.2.2-2]', () => {
    for (const version of [4, 5]) {
      const types = new Set(
        of(version)
          .malformed.filter((v) => v.error === ErrorCode.RESERVED_FLAGS)
          .map((v) => v.bytes[0]! >>> 4),
      )
      for (const t of Object.values(PacketType)) {
        if (t === PacketType.PUBLISH || (version === 4 && t === PacketType.AUTH)) continue
        assert.ok(types.has(t), `version ${version}: type ${t}`)
      }
    }
  })

  test('malformed vectors produce every error code the decoder can throw', () => {
    const codes = new Set(malformed.map((v) => v.error))
    for (const code of Object.values(ErrorCode)) {
      if (code === ErrorCode.DECODER_FAILED || code === ErrorCode.MALFORMED_TOPIC_FILTER) continue
      assert.ok(codes.has(code), code)
    }
  })

  test('MQTT 5 valid vectors carry every property, and malformed ones put each where it is not allowed [2.2.2.2]', () => {
    const seen = new Set<string>()
    const note = (props: object | undefined) => {
      for (const k of Object.keys(props ?? {})) seen.add(k)
    }
    for (const v of of(5).valid) {
      const p = v.packet as { properties?: object; will?: { properties?: object } }
      note(p.properties)
      note(p.will?.properties)
    }
    // one field per identifier, but Subscription Identifier: one in SUBSCRIBE, a list in PUBLISH
    const fields = Object.keys(PropertyId).length + 1
    assert.equal(seen.size, fields, [...seen].sort().join(', '))
    const notAllowed = of(5).malformed.filter(
      (v) => v.error === ErrorCode.MALFORMED_PROPERTY && v.spec === '2.2.2.2',
    )
    // User Property is allowed wherever there are properties
    assert.ok(notAllowed.length >= Object.keys(PropertyId).length - 1)
  })

  test('every MQTT 5 malformed vector states the reason code its error carries', () => {
    for (const v of of(5).malformed) assert.notEqual(v.reasonCode, undefined, v.name)
  })
})
