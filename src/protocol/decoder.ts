import { Buffer } from 'node:buffer'
import { MAX_PACKET_SIZE, PacketType, PROTOCOL_V5, type ProtocolVersion } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'
import type { Packet } from './packets.js'
import { checkFirstByte, parseOther, parsePublish } from './parse.js'
import { parseOther5, parsePublish5 } from './parse5.js'

export interface DecoderOptions {
  /** Largest whole packet (fixed header included) accepted, in bytes. Default: the MQTT maximum. */
  maxPacketSize?: number
  /**
   * Version the connection speaks; a broker learns it from CONNECT. Default 4 (3.1.1).
   * CONNECT itself is decoded whatever this is: it names its own level.
   */
  protocolVersion?: ProtocolVersion
  /** See Decoder.wholeUpTo. Default 4 KiB. */
  wholeUpTo?: number
}

export type PacketHandler = (packet: Packet) => void

enum State {
  Header = 0,
  Body = 1,
  Failed = 2,
}

/**
 * Incremental decoder. Feed it chunks as they are read, of any size; it calls
 * `onPacket` for every complete packet, in order, and throws a ProtocolError at
 * the first malformed one (packets before it in the chunk have been delivered;
 * the decoder then refuses further input).
 *
 * Packets that lie wholly inside a chunk are parsed in place: their payloads are
 * views of the chunk. A packet split across chunks is gathered into one buffer,
 * allocated once its header is known and grown by doubling as its bytes arrive
 * (see startBody): what it holds follows what was sent, not what the header
 * announced. The size limit is enforced from the remaining-length field, before
 * any of the body is buffered.
 */
export class Decoder {
  /** May change between packets: a broker sets 5 after a level-5 CONNECT, a client after CONNACK. */
  protocolVersion: ProtocolVersion
  /** May change between packets (a broker raises it once a client is authenticated). */
  maxPacketSize: number
  /**
   * A split packet up to this size is given its whole buffer as soon as its header is read;
   * a larger one grows by doubling as its bytes arrive (see startBody). Small (4 KiB) for a
   * peer not yet trusted, so that what it makes the decoder hold follows what it sent; a
   * broker raises it once the client is authenticated, a client trusts its server from the
   * start: a 1 MiB PUBLISH is then copied once, not once per doubling.
   */
  wholeUpTo: number
  private readonly onPacket: PacketHandler
  private state: State = State.Header
  // a fixed header split across chunks: at most 5 bytes (made when first needed: most
  // connections never split one, and a typed array costs ~200 bytes per idle connection)
  private head: Uint8Array = NO_HEAD
  private headLen = 0
  // a body split across chunks
  private first = 0
  private body: Buffer = EMPTY
  private bodyStart = 0
  private bodyTotal = 0
  private bodyFill = 0
  // where the packet being delivered lies, for rawBytes()
  private rawBuf: Buffer | null = null
  private rawStart = 0
  private rawEnd = 0

  constructor(onPacket: PacketHandler, options: DecoderOptions = {}) {
    this.onPacket = onPacket
    this.maxPacketSize = options.maxPacketSize ?? MAX_PACKET_SIZE
    this.protocolVersion = options.protocolVersion ?? 4
    this.wholeUpTo = options.wholeUpTo ?? FIRST_ALLOC
  }

  /** Bytes held for a packet not yet complete. */
  get buffered(): number {
    return this.state === State.Body ? this.bodyFill : this.headLen
  }

  /**
   * The complete wire bytes of the packet being delivered; valid only inside
   * `onPacket`. Lets a broker forward a packet unchanged.
   */
  rawBytes(): Buffer {
    const b = this.rawBuf
    if (b === null) throw protocolError(ErrorCode.DECODER_FAILED, 'rawBytes() called outside onPacket')
    return b.subarray(this.rawStart, this.rawEnd)
  }

  /**
   * Whether the packet being delivered is the whole of the memory it lies in (one gathered
   * from several reads, or a read that held exactly it): keeping it pins nothing else. Valid
   * only inside `onPacket`; allocates nothing, unlike rawBytes().
   */
  get packetOwnsItsMemory(): boolean {
    const b = this.rawBuf
    return b !== null && this.rawStart === 0 && this.rawEnd === b.length && ownsItsMemory(b)
  }

  /** Bytes of the packet being delivered, fixed header included; valid only inside `onPacket`. */
  get packetLength(): number {
    return this.rawEnd - this.rawStart
  }

  push(chunk: Buffer): void {
    if (this.state === State.Failed) {
      throw protocolError(ErrorCode.DECODER_FAILED, 'decoder already failed on malformed input')
    }
    try {
      this.run(chunk)
    } catch (err) {
      this.state = State.Failed
      this.rawBuf = null
      throw err
    }
  }

  private run(chunk: Buffer): void {
    const len = chunk.length
    let off = 0
    if (this.state === State.Body) {
      off = this.continueBody(chunk, 0)
      if (this.state === State.Body) return
    } else if (this.headLen > 0) {
      off = this.fillHead(chunk)
      if (this.headLen > 0) return
      if ((this.state as State) === State.Body) {
        off = this.continueBody(chunk, off)
        if ((this.state as State) === State.Body) return
      }
    }
    while (off < len) {
      const first = chunk[off]!
      checkFirstByte(first, this.protocolVersion)
      // remaining length: 1 to 4 bytes, 7 bits each [MQTT-2.2.3]
      let p = off + 1
      let remaining = 0
      let mult = 1
      let complete = false
      for (let i = 0; i < 4 && p < len; i++) {
        const b = chunk[p++]!
        remaining += (b & 0x7f) * mult
        if ((b & 0x80) === 0) {
          complete = true
          break
        }
        if (i === 3) throw this.badLength()
        mult *= 128
      }
      if (!complete) {
        // fixed header split across chunks: keep its bytes (at most 4 here)
        if (this.head === NO_HEAD) this.head = new Uint8Array(5)
        for (let i = off; i < len; i++) this.head[this.headLen++] = chunk[i]!
        return
      }
      const total = p - off + remaining
      if (total > this.maxPacketSize) throw this.tooLarge(total)
      if (off + total <= len) {
        this.deliver(first, chunk, off, p, off + total)
        off += total
      } else {
        this.startBody(first, chunk, off, p - off, total, len - off)
        off = this.continueBody(chunk, p)
        return
      }
    }
  }

  /** Completes a fixed header split across chunks, one byte at a time. */
  private fillHead(chunk: Buffer): number {
    let off = 0
    while (off < chunk.length) {
      const b = chunk[off++]!
      this.head[this.headLen++] = b
      if ((b & 0x80) === 0 && this.headLen > 1) {
        const headerLen = this.headLen
        let remaining = 0
        let mult = 1
        for (let i = 1; i < headerLen; i++) {
          remaining += (this.head[i]! & 0x7f) * mult
          mult *= 128
        }
        this.headLen = 0
        const total = headerLen + remaining
        if (total > this.maxPacketSize) throw this.tooLarge(total)
        const first = this.head[0]!
        if (remaining === 0) {
          const raw = Buffer.from(this.head.subarray(0, headerLen))
          this.deliver(first, raw, 0, headerLen, headerLen)
        } else {
          this.startBody(first, this.head, 0, headerLen, total, headerLen + chunk.length - off)
        }
        return off
      }
      if (this.headLen === 5) throw this.badLength()
    }
    return off
  }

  /**
   * Allocates the packet's buffer once its size is known and copies its fixed
   * header in; `have` bytes of the packet (header included) are at hand. Up to
   * wholeUpTo bytes (FIRST_ALLOC unless raised) it is allocated whole; a larger one starts at twice what is
   * at hand (at most GROW_FROM) and grows by doubling as its bytes arrive, so a
   * header that announces 64 KiB or 256 MiB and sends little more costs 4 KiB:
   * a client that trickles (before CONNECT is answered too) holds what it sent.
   */
  private startBody(
    first: number,
    src: Uint8Array,
    at: number,
    headerLen: number,
    total: number,
    have: number,
  ): void {
    const size = total <= this.wholeUpTo ? total : Math.min(total, GROW_FROM, Math.max(FIRST_ALLOC, have * 2))
    const buf = Buffer.allocUnsafe(size)
    for (let i = 0; i < headerLen; i++) buf[i] = src[at + i]!
    this.first = first
    this.body = buf
    this.bodyTotal = total
    this.bodyStart = headerLen
    this.bodyFill = headerLen
    this.state = State.Body
  }

  private continueBody(chunk: Buffer, off: number): number {
    let body = this.body
    const total = this.bodyTotal
    const need = total - this.bodyFill
    const avail = chunk.length - off
    const n = avail < need ? avail : need
    if (this.bodyFill + n > body.length) {
      let cap = body.length * 2
      while (cap < this.bodyFill + n) cap *= 2
      const grown = Buffer.allocUnsafe(cap < total ? cap : total)
      body.copy(grown, 0, 0, this.bodyFill)
      this.body = body = grown
    }
    chunk.copy(body, this.bodyFill, off, off + n)
    this.bodyFill += n
    if (this.bodyFill === total) {
      this.state = State.Header
      this.body = EMPTY
      this.bodyFill = 0
      this.deliver(this.first, body, 0, this.bodyStart, total)
    }
    return off + n
  }

  private deliver(first: number, buf: Buffer, start: number, bodyStart: number, end: number): void {
    this.rawBuf = buf
    this.rawStart = start
    this.rawEnd = end
    const v5 = this.protocolVersion === PROTOCOL_V5
    const packet =
      first >>> 4 === PacketType.PUBLISH
        ? v5
          ? parsePublish5(first, buf, bodyStart, end)
          : parsePublish(first, buf, bodyStart, end)
        : v5
          ? parseOther5(first, buf, bodyStart, end)
          : parseOther(first, buf, bodyStart, end)
    this.onPacket(packet)
    this.rawBuf = null
  }

  private badLength() {
    return protocolError(
      ErrorCode.MALFORMED_REMAINING_LENGTH,
      'remaining length longer than 4 bytes',
      'MQTT-2.2.3',
    )
  }

  private tooLarge(total: number) {
    return protocolError(
      ErrorCode.PACKET_TOO_LARGE,
      `packet of ${total} bytes exceeds the maximum of ${this.maxPacketSize}`,
      'MQTT-2.2.3',
    )
  }
}

const EMPTY = Buffer.alloc(0)
/** Decoder.head before a fixed header is first split (never written: see run). */
const NO_HEAD = new Uint8Array(0)
/** Packets larger than this are gathered in a growing buffer (see startBody). */
const GROW_FROM = 65_536
/** A split packet up to this size is allocated whole; a larger one starts at twice what came with its header, at least this. */
const FIRST_ALLOC = 4096

/** Whether `b` views the whole of its memory (no other buffer's bytes are pinned by keeping it). */
export function ownsItsMemory(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength
}
