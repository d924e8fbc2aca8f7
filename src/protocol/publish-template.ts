import { Buffer } from 'node:buffer'
import { MAX_PACKET_ID, type QoS } from './constants.js'
import { varintSize, writeVarint } from './encoder.js'
import { ErrorCode, protocolError } from './errors.js'
import { utf8Length, writeUtf8 } from './utf8.js'

/**
 * Encode a PUBLISH once, send it to many subscribers.
 *
 * QoS 0 copies are one shared buffer per RETAIN value, written as is to every
 * QoS 0 subscriber (or the publisher's own bytes, when they can be forwarded
 * unchanged). QoS 1/2 copies differ from each other only in the first byte and
 * the packet id: they are a memcpy of one prepared image plus three stamped bytes.
 */
export class PublishTemplate {
  readonly topic: string
  readonly payload: Buffer
  private readonly topicLen: number
  private q0: Buffer | null
  private q0r: Buffer | null = null
  private q1: Buffer | null = null
  /** Offset of the packet id in the QoS 1/2 image. */
  private pidAt = 0

  /**
   * @param wireQos0 the bytes of this message as a QoS 0, non-retained PUBLISH,
   *   if already at hand (the publisher's own packet): forwarded unchanged.
   */
  constructor(topic: string, payload: Buffer, wireQos0: Buffer | null = null) {
    this.topic = topic
    this.payload = payload
    this.topicLen = utf8Length(topic)
    if (this.topicLen > 65_535) {
      throw protocolError(
        ErrorCode.INVALID_PACKET,
        `topic is ${this.topicLen} bytes; at most 65535 fit`,
        'MQTT-1.5.3',
      )
    }
    this.q0 = wireQos0
  }

  /** The QoS 0 form, shared: never modify the returned buffer. */
  qos0(retain: boolean): Buffer {
    if (retain) return (this.q0r ??= this.build(0, true))
    return (this.q0 ??= this.build(0, false))
  }

  /** A buffer of its own for one QoS 1/2 delivery. */
  qos12(qos: QoS, packetId: number, dup: boolean, retain: boolean): Buffer {
    if (!(packetId >= 1 && packetId <= MAX_PACKET_ID)) {
      throw protocolError(
        ErrorCode.ZERO_PACKET_ID,
        `packet id ${packetId} is not in 1..65535`,
        'MQTT-2.3.1-1',
      )
    }
    const image = (this.q1 ??= this.build(1, false))
    const out = Buffer.allocUnsafe(image.length)
    image.copy(out, 0, 0, image.length)
    out[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 1 : 0)
    out[this.pidAt] = packetId >>> 8
    out[this.pidAt + 1] = packetId & 0xff
    return out
  }

  /** Any form: the shared QoS 0 buffer, or a fresh QoS 1/2 one. */
  bytes(qos: QoS, packetId: number, dup: boolean, retain: boolean): Buffer {
    return qos === 0 ? this.qos0(retain) : this.qos12(qos, packetId, dup, retain)
  }

  private build(qos: 0 | 1, retain: boolean): Buffer {
    const remaining = 2 + this.topicLen + (qos ? 2 : 0) + this.payload.length
    const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
    buf[0] = 0x30 | (qos << 1) | (retain ? 1 : 0)
    let off = writeVarint(buf, 1, remaining)
    buf[off] = this.topicLen >>> 8
    buf[off + 1] = this.topicLen & 0xff
    off = writeUtf8(buf, off + 2, this.topic, this.topicLen)
    if (qos) {
      this.pidAt = off
      off += 2
    }
    buf.set(this.payload, off)
    return buf
  }
}

/**
 * Re-stamps an encoded QoS 1/2 PUBLISH in place, e.g. to set DUP on redelivery
 * [MQTT-3.3.1-1] without encoding it again.
 */
export function restampPublish(buf: Buffer, dup: boolean, packetId?: number): void {
  buf[0] = (buf[0]! & ~0x08) | (dup ? 0x08 : 0)
  if (packetId === undefined) return
  let i = 1
  while (buf[i]! & 0x80) i++
  i++
  const topicLen = (buf[i]! << 8) | buf[i + 1]!
  const at = i + 2 + topicLen
  buf[at] = packetId >>> 8
  buf[at + 1] = packetId & 0xff
}
