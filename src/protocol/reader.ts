import { ErrorCode, protocolError } from './errors.js'
import { decodeUtf8 } from './utf8.js'

/** Body parsing helpers shared by the MQTT 3.1.1 and MQTT 5 parsers. */

export function truncated(what: string): never {
  throw protocolError(ErrorCode.TRUNCATED, `packet ends inside its ${what}`, 'MQTT-2.2.3')
}

export function trailing(type: number, extra: number): never {
  throw protocolError(
    ErrorCode.TRAILING_BYTES,
    `${extra} bytes left over at the end of a packet of type ${type}`,
    'MQTT-2.2.3',
  )
}

/** A cursor over one packet body. Kept as a small class so V8 keeps it monomorphic. */
export class Reader {
  buf: Buffer
  pos: number
  end: number
  constructor(buf: Buffer, pos: number, end: number) {
    this.buf = buf
    this.pos = pos
    this.end = end
  }
  u8(what: string): number {
    if (this.pos >= this.end) truncated(what)
    return this.buf[this.pos++]!
  }
  u16(what: string): number {
    const p = this.pos
    if (p + 2 > this.end) truncated(what)
    this.pos = p + 2
    return (this.buf[p]! << 8) | this.buf[p + 1]!
  }
  u32(what: string): number {
    const p = this.pos
    if (p + 4 > this.end) truncated(what)
    this.pos = p + 4
    return this.buf.readUInt32BE(p)
  }
  /** A Variable Byte Integer: 1 to 4 bytes, 7 bits each (1.5.5). */
  varint(what: string): number {
    let value = 0
    let mult = 1
    for (let i = 0; i < 4; i++) {
      const b = this.u8(what)
      value += (b & 0x7f) * mult
      if ((b & 0x80) === 0) return value
      mult *= 128
    }
    throw protocolError(ErrorCode.MALFORMED_VARINT, `${what}: variable byte integer longer than 4 bytes`)
  }
  string(what: string): string {
    const len = this.u16(what)
    const start = this.pos
    if (start + len > this.end) truncated(what)
    this.pos = start + len
    return decodeUtf8(this.buf, start, start + len)
  }
  binary(what: string): Buffer {
    const len = this.u16(what)
    const start = this.pos
    if (start + len > this.end) truncated(what)
    this.pos = start + len
    return this.buf.subarray(start, start + len)
  }
  packetId(): number {
    const id = this.u16('packet id')
    if (id === 0) throw protocolError(ErrorCode.ZERO_PACKET_ID, 'packet id 0 is not allowed', 'MQTT-2.3.1-1')
    return id
  }
  done(type: number): void {
    if (this.pos !== this.end) trailing(type, this.end - this.pos)
  }
}
