import type { QoS } from '../protocol/constants.js'
import { publishPayloadLength } from './publish-form.js'
import type { SessionCounters, SessionLimits } from './session-types.js'

/** Why a session drops a message (DropCounts keys). */
export type SessionDrop = 'queueFull' | 'qos0Budget' | 'tooLarge'

/**
 * What one session counts in the broker's BrokerStats: PUBLISHes written, messages expired,
 * filtered by authorizeRead or dropped. Integers only; a run of drops is told once at its
 * start, then at 2x, 4x, ... the count, never per message.
 */
export class DeliveryCounts {
  /** Where this connection's PUBLISHes are counted in publishOut: (protocol version - 3) * 3. */
  outBase = 3
  /** Messages this session dropped because a queue or an output buffer was full (or too large). */
  private dropped = 0
  private droppedLogged = 0
  private readonly clientId: string
  private readonly counters: SessionCounters
  private readonly limits: SessionLimits

  constructor(clientId: string, counters: SessionCounters, limits: SessionLimits) {
    this.clientId = clientId
    this.counters = counters
    this.limits = limits
  }

  /** [MQTT-3.3.2-5] a message that expired before it was sent. */
  expired(): void {
    this.counters.expired++
  }

  /** A message the client may not read (authorizeRead). */
  unreadable(): void {
    this.counters.denied.read++
    this.counters.drops.notAuthorized++
  }

  /** Counts a dropped message by reason; tells the first of each run of drops (then at 2x, 4x, ...), not every one. */
  /** (DeliveryForm) A message larger than the client's Maximum Packet Size is not sent to it. */
  tooLarge(qos: QoS): void {
    this.drop(qos, "a message is larger than the client's Maximum Packet Size", 'tooLarge')
  }

  drop(qos: QoS, why: string, reason: SessionDrop): void {
    this.counters.dropped++
    this.counters.drops[reason]++
    if (this.dropped++ === this.droppedLogged) {
      const fields = { clientId: this.clientId, qos, dropped: this.dropped, reason }
      const detail = `dropping messages for ${this.clientId}: ${why} (${this.dropped} so far)`
      const notable = this.limits.notable
      if (notable !== undefined) notable.report('dropping', 'warn', detail, fields)
      else this.limits.logger.warn(fields, `dropping messages: ${why}`)
      this.droppedLogged = this.dropped * 2 // then again at 2x, 4x, ... the count
    }
  }

  /**
   * A packet about to be written; a PUBLISH (type 3) is counted by the client's version and the
   * QoS in its first byte, with its `payload` bytes (-1: not known, a re-send: read from the
   * bytes). The connection counts every packet and byte it sends ($SYS messages/sent, bytes/sent).
   */
  written(bytes: Buffer, payload: number): void {
    const first = bytes[0]!
    if (first >>> 4 === 3) {
      const c = this.counters
      const i = this.outBase + ((first >>> 1) & 3)
      c.publishOut[i]!++
      c.publishOutBytes[i]! += bytes.length
      c.publishPayloadOut += payload >= 0 ? payload : publishPayloadLength(bytes, this.outBase === 6)
    }
  }

  /** `packets` QoS 0 PUBLISHes written in one Buffer of `bytes` (RetainedEncoder), each counted. */
  writtenRaw(bytes: number, packets: number, payload: number): void {
    const c = this.counters
    c.publishOut[this.outBase]! += packets
    c.publishOutBytes[this.outBase]! += bytes
    c.publishPayloadOut += payload
  }
}
