/**
 * Fuzzes the decoder with random and mutated inputs (the vectors of test/vectors/
 * and generated packets, with bytes flipped, truncated, spliced, and fed in
 * random chunks). Whatever the input, the decoder may only deliver packets or
 * throw a ProtocolError; it never buffers more than maxPacketSize; and every
 * packet it delivers re-encodes to the bytes it came from (MQTT 3.1.1), or to
 * bytes that decode to a packet encoding to the same bytes again (MQTT 5, whose
 * acks have short forms). Each input is decoded as 3.1.1 or as MQTT 5, mostly
 * from the seeds of that version.
 *
 * Bounded: PETREL_FUZZ_RUNS inputs (default 1,000,000) or PETREL_FUZZ_MS
 * milliseconds (default 20,000), whichever comes first. A failure prints the
 * seed; PETREL_FUZZ_SEED=<seed> replays it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ProtocolError } from '../../src/errors.js'
import { Decoder, ErrorCode, encode, type Packet } from '../../src/protocol/index.js'
import { loadVectors } from '../helpers/vectors.js'

const RUNS = Number(process.env.PETREL_FUZZ_RUNS ?? 1_000_000)
const BUDGET_MS = Number(process.env.PETREL_FUZZ_MS ?? 20_000)
const SEED = Number(process.env.PETREL_FUZZ_SEED ?? (Date.now() ^ (process.pid << 16)) >>> 0) >>> 0 || 1

// xorshift32: cheap enough to call several times per input
let state = SEED
function rand(): number {
  state ^= state << 13
  state ^= state >>> 17
  state ^= state << 5
  return state >>> 0
}
function below(n: number): number {
  return rand() % n
}

// From 5 up: a fixed header (up to 5 bytes) is held before its length can be checked.
const MAX_SIZES = [5, 16, 64, 300, 268_435_460]
/** First bytes of every packet type with valid flags, and PUBLISH in all its forms. */
const FIRST_BYTES = [
  0x10, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x3a, 0x3b, 0x3c, 0x3d, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90,
  0xa2, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0,
]
const INTERESTING = [
  0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xff, 0xc0, 0xc3, 0xe0, 0xed, 0xf0, 0xf4, 0x2b, 0x23, 0x2f,
]

/** Seeds: every vector of a version of at most 256 bytes (all packet types, valid and malformed). */
function seedInputs(version: number): Buffer[] {
  const { valid, malformed } = loadVectors()
  return [...valid, ...malformed]
    .filter((v) => v.version === version)
    .map((v) => v.bytes)
    .filter((b) => b.length <= 256)
}

// Inputs are built in place in one scratch buffer: no allocation per input but its view.
const scratch = Buffer.alloc(4 * 256 + 64)

/** Makes a mutated single packet's 1-byte remaining length agree with its size, so its body gets parsed. */
function fixLength(n: number): number {
  if (n >= 2 && n - 2 < 0x80 && rand() & 1) scratch[1] = n - 2
  return n
}

/** Writes a mutated input into `scratch`; returns its length. */
function mutate(seeds: readonly Buffer[]): number {
  const s = seeds[below(seeds.length)]!
  const b = scratch
  switch (below(10)) {
    case 0: {
      // pure noise
      const n = below(24)
      for (let i = 0; i < n; i++) b[i] = rand()
      return n
    }
    case 1: {
      // a plausible fixed header over a random body
      const n = below(40)
      b[0] = FIRST_BYTES[below(FIRST_BYTES.length)]!
      b[1] = n
      for (let i = 2; i < n + 2; i++) b[i] = rand() & 1 ? rand() : INTERESTING[below(INTERESTING.length)]!
      return n + 2
    }
    case 2: {
      // overwrite 1-4 bytes
      b.set(s)
      for (let k = below(4); k >= 0 && s.length > 0; k--) b[below(s.length)] = rand()
      return fixLength(s.length)
    }
    case 3: {
      // flip 1-3 bits
      b.set(s)
      for (let k = below(3); k >= 0 && s.length > 0; k--) b[below(s.length)]! ^= 1 << below(8)
      return fixLength(s.length)
    }
    case 4: {
      // truncate
      const n = below(s.length + 1)
      s.copy(b, 0, 0, n)
      return fixLength(n)
    }
    case 5: {
      // splice the head of one input to the tail of another
      const t = seeds[below(seeds.length)]!
      const a = below(s.length + 1)
      const from = below(t.length + 1)
      s.copy(b, 0, 0, a)
      t.copy(b, a, from)
      return fixLength(a + t.length - from)
    }
    case 6: {
      // a stream of 2-4 inputs, one byte of it overwritten half the time
      b.set(s)
      let n = s.length
      for (let k = below(3); k >= 0; k--) {
        const t = seeds[below(seeds.length)]!
        b.set(t, n)
        n += t.length
      }
      if (rand() & 1) b[below(n)] = rand()
      return n
    }
    case 7: {
      // insert or delete one byte
      const at = below(s.length + 1)
      s.copy(b, 0, 0, at)
      if (rand() & 1) {
        b[at] = rand()
        s.copy(b, at + 1, at)
        return fixLength(s.length + 1)
      }
      if (at === s.length) return fixLength(at)
      s.copy(b, at, at + 1)
      return fixLength(s.length - 1)
    }
    case 8: {
      // interesting values at 1-3 places
      b.set(s)
      for (let k = below(3); k >= 0 && s.length > 0; k--) {
        b[below(s.length)] = INTERESTING[below(INTERESTING.length)]!
      }
      return fixLength(s.length)
    }
    default: {
      // a different remaining length, possibly multi-byte
      b.set(s)
      if (s.length > 1) b[1] = rand() & 1 ? rand() : rand() | 0x80
      return s.length
    }
  }
}

/** Length of the fixed header at the start of an encoded packet. */
function headerLength(b: Buffer): number {
  let i = 1
  while (b[i]! & 0x80) i++
  return i + 1
}

let decoder: Decoder
let delivered = 0
let problem: string | undefined

/** Every delivered packet re-encodes to the bytes it came from (the length field may have been non-minimal). */
function onPacket(p: Packet): void {
  delivered++
  const raw = decoder.rawBytes()
  const again = encode(p)
  if (raw[0] !== again[0] || !raw.subarray(headerLength(raw)).equals(again.subarray(headerLength(again)))) {
    problem ??= `packet ${JSON.stringify(p)} re-encodes to ${again.toString('hex')}, came from ${raw.toString('hex')}`
  }
}

/**
 * MQTT 5: every delivered packet encodes, and its encoding is a fixed point: it
 * decodes to a packet that encodes to the same bytes.
 */
function onPacket5(p: Packet): void {
  delivered++
  const raw = decoder.rawBytes().toString('hex')
  try {
    const again = encode(p, 5)
    let back: Packet | undefined
    new Decoder(
      (x) => {
        back = x
      },
      { protocolVersion: 5 },
    ).push(again)
    if (back === undefined || !encode(back, 5).equals(again)) {
      problem ??= `packet from ${raw} encodes to ${again.toString('hex')}, which does not decode back to itself`
    }
  } catch (err) {
    problem ??= `packet ${JSON.stringify(p)} from ${raw} does not re-encode: ${String(err)}`
  }
}

/**
 * Pushes `input` into a fresh decoder in one chunk (mode 0-4), random chunks (5-6)
 * or byte by byte (7); returns what it threw.
 */
function feed(input: Buffer, max: number, mode: number, version: 4 | 5): unknown {
  decoder = new Decoder(version === 5 ? onPacket5 : onPacket, {
    maxPacketSize: max,
    protocolVersion: version,
  })
  try {
    if (mode < 5 || input.length === 0) {
      decoder.push(input)
      checkBuffered(max)
    } else {
      for (let at = 0; at < input.length; ) {
        const size = mode < 7 ? 1 + below(input.length - at) : 1
        decoder.push(input.subarray(at, at + size))
        checkBuffered(max)
        at += size
      }
    }
  } catch (err) {
    return err
  }
  if (problem !== undefined) return new Error(problem)
  return undefined
}

function checkBuffered(max: number): void {
  if (decoder.buffered > max) problem ??= `buffered ${decoder.buffered} > maxPacketSize ${max}`
}

test('the decoder only ever delivers packets or throws ProtocolError, on a million random and mutated inputs', {
  timeout: BUDGET_MS + 60_000,
}, (t) => {
  const seeds = { 4: seedInputs(4), 5: seedInputs(5) }
  const all = [...seeds[4], ...seeds[5]]
  const deadline = performance.now() + BUDGET_MS
  const started = performance.now()
  let runs = 0
  let refused = 0
  // ProtocolErrors are expected here by the hundred thousand: skip their stack traces
  // (an unexpected error is replayed with stack traces on, below)
  const stackTraceLimit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    for (; runs < RUNS; runs++) {
      if ((runs & 1023) === 0 && performance.now() > deadline) break
      const version = rand() & 1 ? 5 : 4
      // mostly the seeds of the version decoded, sometimes those of the other
      const input = scratch.subarray(0, mutate(below(8) === 0 ? all : seeds[version]))
      const max = MAX_SIZES[below(MAX_SIZES.length)]!
      const mode = below(8)
      const before = state
      const err = feed(input, max, mode, version)
      if (err === undefined) continue
      if (!(err instanceof ProtocolError)) {
        Error.stackTraceLimit = stackTraceLimit
        state = before // the same chunking again
        const again = feed(input, max, mode, version)
        assert.fail(
          `seed ${SEED}, run ${runs}: input ${input.toString('hex')} (v${version}, max ${max}, mode ${mode}) threw ` +
            `${String(err)}\n${again instanceof Error ? again.stack : ''}`,
        )
      }
      refused++
      if ((runs & 63) === 0) {
        // a failed decoder refuses further input, with a ProtocolError too
        assert.throws(
          () => decoder.push(Buffer.from([0xc0, 0])),
          (e) => e instanceof ProtocolError && e.code === ErrorCode.DECODER_FAILED,
        )
      }
      if (problem !== undefined)
        assert.fail(`seed ${SEED}, run ${runs}: input ${input.toString('hex')} (v${version}): ${problem}`)
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit
  }
  const seconds = (performance.now() - started) / 1000
  t.diagnostic(
    `${runs} inputs in ${seconds.toFixed(1)} s (${Math.round(runs / seconds)}/s), ${refused} refused, ` +
      `${delivered} packets delivered, seed ${SEED}`,
  )
  assert.ok(runs >= Math.min(RUNS, 10_000), `only ${runs} inputs ran`)
})
