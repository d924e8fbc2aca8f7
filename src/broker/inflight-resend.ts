import { encodePubrel } from '../protocol/encoder.js'
import { restampPublish } from '../protocol/publish-template.js'
import { Await, type OutboundFlow } from '../session/outbound.js'
import { convertPublish } from './publish-form.js'
import type { Queued, SessionLink } from './session-types.js'

/** What the re-send needs of its session. */
export interface ResendHost {
  /**
   * Encodes a message read from the store for a re-send on this connection; returns the bytes
   * to keep for it, or null when larger than the client's Maximum Packet Size [MQTT-3.1.2-25].
   */
  encodeResend(q: Queued, packetId: number): Buffer | null
  /** Deletes a stored delivery by its key. */
  forgetDelivery(seq: number): void
  /** Writes a re-sent packet to the connection. */
  writeResent(link: SessionLink, bytes: Buffer): void
}

/**
 * The re-send of a session's in-flight QoS 1/2 messages when a connection attaches
 * [MQTT-4.4.0-1]: those read back from the store after a restart, the PUBLISHes kept in
 * another protocol version's form, and those past the client's Receive Maximum, which
 * wait for acknowledgements [MQTT-3.3.4-9].
 */
export class InflightResend {
  private readonly outbound: OutboundFlow<number>
  private readonly host: ResendHost
  /** In-flight messages read from the store, by packet id: encoded for the first connection. */
  private restored: Map<number, Queued> | null = null
  /** In-flight PUBLISHes not yet re-sent on this connection: its Receive Maximum was full [MQTT-3.3.4-9]. */
  private later: number[] | null = null
  /** True when the PUBLISH bytes kept in `outbound` for a re-send are in the MQTT 5 form. */
  private trackedV5 = false

  constructor(outbound: OutboundFlow<number>, host: ResendHost) {
    this.outbound = outbound
    this.host = host
  }

  /** True while in-flight PUBLISHes wait for room in the Receive Maximum. */
  get waiting(): boolean {
    return this.later !== null
  }

  /**
   * Puts back a message that was in flight before a restart, with its packet id, so that a
   * QoS 2 flow stays exactly once [MQTT-4.3.3]. Past PUBREC only its PUBREL is re-sent; a
   * PUBLISH is encoded when a connection attaches, in that connection's form.
   */
  restore(q: Queued, packetId: number, released: boolean): void {
    const qos = q.qos as 1 | 2
    this.outbound.restore({
      packetId,
      qos,
      awaiting: released ? Await.Pubcomp : qos === 1 ? Await.Puback : Await.Pubrec,
      bytes: released ? encodePubrel(packetId) : q.msg.tpl.qos12(qos, packetId, true, q.retain),
      ctx: q.seq,
    })
    if (!released) (this.restored ??= new Map()).set(packetId, q)
  }

  /**
   * Re-sends in order what was in flight [MQTT-4.4.0-1]: PUBLISH with DUP set [MQTT-3.3.1-1] in
   * this connection's form, PUBREL as it was; PUBLISHes past the Receive Maximum wait for acks.
   */
  attach(link: SessionLink, v5: boolean): void {
    const outbound = this.outbound
    const restored = this.restored
    this.restored = null
    const convert = v5 !== this.trackedV5
    this.trackedV5 = v5
    this.later = null
    let n = 0
    for (const e of outbound.entries()) {
      if (e.awaiting !== Await.Pubcomp) {
        const q = restored?.get(e.packetId)
        if (q !== undefined) {
          const bytes = this.host.encodeResend(q, e.packetId)
          if (bytes === null) {
            // too large for this client: as if sent and acknowledged [MQTT-3.1.2-25]
            e.awaiting = Await.Pubcomp
            outbound.ack('pubcomp', e.packetId)
            this.host.forgetDelivery(e.ctx)
            continue
          }
          e.bytes = bytes
        } else if (convert) e.bytes = convertPublish(e.bytes, v5)
        if (n >= outbound.maxInflight) {
          ;(this.later ??= []).push(e.packetId)
          continue
        }
        restampPublish(e.bytes, true)
      }
      n++
      this.host.writeResent(link, e.bytes)
    }
  }

  /** Acknowledgements made room: re-sends in-flight PUBLISHes that waited for it. */
  more(link: SessionLink): void {
    const later = this.later!
    const outbound = this.outbound
    while (later.length > 0 && outbound.size - later.length < outbound.maxInflight) {
      const e = outbound.get(later.shift()!)
      if (e === undefined) continue
      restampPublish(e.bytes, true)
      this.host.writeResent(link, e.bytes)
    }
    if (later.length === 0) this.later = null
  }

  /** The connection is gone: nothing waits for its Receive Maximum any more. */
  detach(): void {
    this.later = null
  }

  /** The session is discarded. */
  clear(): void {
    this.restored = null
    this.later = null
  }
}
