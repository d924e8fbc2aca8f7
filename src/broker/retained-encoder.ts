import { PacketType } from '../protocol/constants.js'
import { utf8Length, writeLatin1 } from '../protocol/utf8.js'
import { varintSize, writeString, writeVarint } from '../protocol/wire.js'
import type { StoredRetained } from '../store/store.js'

/**
 * How a connection takes retained QoS 0 PUBLISHes encoded straight from the retained parts:
 * 3.1.1, or MQTT 5 without outbound Topic Aliases (DeliveryForm.raw).
 */
export interface RawForm {
  readonly v5: boolean
  /** The client's Maximum Packet Size; 0 when it set none. */
  readonly maxPacketSize: number
}

/** Where a slab of PUBLISHes goes: `packets` of them, `payload` bytes of payload in all. */
export type RawSink = (bytes: Buffer, packets: number, payload: number) => void

/** PUBLISH, DUP 0, QoS 0, RETAIN 1 [MQTT-3.3.1-6]. */
const FIRST_BYTE = (PacketType.PUBLISH << 4) | 1
/** Bytes of the topic name's length prefix. */
const TOPIC_LENGTH_BYTES = 2
/**
 * A slab's size: PUBLISHes are written into it back to back and it goes to the connection as one
 * Buffer, so a writev takes tens of buffers a turn, not one per message.
 */
export const SLAB_BYTES = 65_536

/**
 * Encodes retained QoS 0 PUBLISHes with no properties (for MQTT 5, a property length of 0) into
 * slabs, from the parts a retained walk yields: no Message, no template, no Buffer per packet
 * (a payload kept as a latin1 string is written as it is). The replay hands the slab over with
 * `flush` when it must keep the order with a message sent the usual way, when it yields, and
 * `add` does when the next packet does not fit.
 */
export class RetainedEncoder {
  private slab: Buffer = Buffer.allocUnsafe(0)
  private off = 0
  private packets = 0
  private payload = 0
  private readonly sink: RawSink

  constructor(sink: RawSink) {
    this.sink = sink
  }

  /** Bytes encoded and not yet handed over (output the connection does not count yet). */
  get pending(): number {
    return this.off
  }

  /**
   * Encodes `e` as a retained QoS 0 PUBLISH in `form`; false, with nothing written, when it is
   * larger than the client's Maximum Packet Size [MQTT-3.1.2-25] (the caller sends it the usual
   * way, which counts it as dropped).
   */
  add(e: StoredRetained, form: RawForm): boolean {
    const topic = e.topic
    const p = e.payload
    const topicBytes = utf8Length(topic)
    const payloadBytes = p.length // a payload kept as a string has a latin1 character per byte
    const remaining = TOPIC_LENGTH_BYTES + topicBytes + (form.v5 ? 1 : 0) + payloadBytes
    const size = 1 + varintSize(remaining) + remaining
    if (form.maxPacketSize !== 0 && size > form.maxPacketSize) return false
    if (size > this.slab.length - this.off) this.fresh(size)
    const buf = this.slab
    let o = this.off
    buf[o++] = FIRST_BYTE
    o = writeVarint(buf, o, remaining)
    o = writeString(buf, o, topic, topicBytes)
    if (form.v5) buf[o++] = 0 // no properties
    if (typeof p === 'string') writeLatin1(buf, o, p)
    else p.copy(buf, o)
    this.off = o + payloadBytes
    this.packets++
    this.payload += payloadBytes
    return true
  }

  /** Hands what is encoded to the sink. */
  flush(): void {
    if (this.off === 0) return
    const bytes = this.slab.subarray(0, this.off)
    const packets = this.packets
    const payload = this.payload
    // the rest of the slab is not in the bytes handed over: it may take the next packets
    this.slab = this.slab.subarray(this.off)
    this.off = 0
    this.packets = 0
    this.payload = 0
    this.sink(bytes, packets, payload)
  }

  /** Hands over what is encoded and starts a slab with room for `size` bytes. */
  private fresh(size: number): void {
    this.flush()
    this.slab = Buffer.allocUnsafe(size > SLAB_BYTES ? size : SLAB_BYTES)
  }
}
