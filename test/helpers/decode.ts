/** Feeding bytes to a Decoder in chosen chunks, for codec tests. */
import { Decoder, type DecoderOptions, type Packet } from '../../src/protocol/index.js'

export interface DecodeResult {
  packets: Packet[]
  /** The wire bytes of each packet, copied from rawBytes() inside onPacket. */
  raws: Buffer[]
  /** What push() threw, if anything. */
  error: unknown
  /** decoder.buffered after the last push that did not throw. */
  buffered: number
  /** The largest decoder.buffered seen after any push. */
  maxBuffered: number
}

/** Pushes `chunks` in order; stops at the first throw. */
export function decodeChunks(chunks: Iterable<Buffer>, options: DecoderOptions = {}): DecodeResult {
  const packets: Packet[] = []
  const raws: Buffer[] = []
  const decoder: Decoder = new Decoder((p) => {
    packets.push(p)
    raws.push(Buffer.from(decoder.rawBytes()))
  }, options)
  let error: unknown
  let buffered = 0
  let maxBuffered = 0
  try {
    for (const c of chunks) {
      decoder.push(c)
      buffered = decoder.buffered
      if (buffered > maxBuffered) maxBuffered = buffered
    }
  } catch (err) {
    error = err
  }
  return { packets, raws, error, buffered, maxBuffered }
}

/** `bytes` cut at the given offsets (ascending, inside 1..length-1). */
export function cutAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const out: Buffer[] = []
  let from = 0
  for (const at of offsets) {
    out.push(bytes.subarray(from, at))
    from = at
  }
  out.push(bytes.subarray(from))
  return out
}

/** One chunk per byte, made as they are pushed (a vector may be megabytes). */
export function* byteByByte(bytes: Buffer): Generator<Buffer> {
  for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1)
}

/**
 * The offsets at which to split a vector in two: every one for small inputs;
 * for large ones every one near both ends and a sample in between.
 */
export function splitPoints(length: number, every = 4096): number[] {
  const out: number[] = []
  if (length <= every) {
    for (let i = 1; i < length; i++) out.push(i)
    return out
  }
  const edge = 64
  const step = Math.max(1, Math.floor((length - 2 * edge) / 32))
  for (let i = 1; i < edge; i++) out.push(i)
  for (let i = edge; i < length - edge; i += step) out.push(i)
  for (let i = length - edge; i < length; i++) out.push(i)
  return out
}
