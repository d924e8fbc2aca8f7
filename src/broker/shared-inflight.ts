import type { Fifo } from '../session/fifo.js'
import type { OutboundFlow } from '../session/outbound.js'
import type { Queued } from './session-types.js'
import type { SharedGroup } from './shared.js'

/**
 * A client's QoS 1 deliveries of shared subscriptions in flight, by packet id, and their
 * hand-over to another member of the group when the client leaves first.
 */
export class SharedInflight<Member> {
  private readonly byId = new Map<number, Queued<Member>>()

  track(packetId: number, q: Queued<Member>): void {
    this.byId.set(packetId, q)
  }

  /** The flow ended (acknowledged). */
  delete(packetId: number): void {
    this.byId.delete(packetId)
  }

  /**
   * Takes back the messages of shared subscriptions the client has not taken, for `moveOn`
   * groups (those with another member): QoS 1 in flight, then whatever is queued, in order.
   * QoS 2 in flight stays [MQTT-4.8.2-4] [MQTT-4.8.2-5]. `forget` deletes a stored delivery.
   */
  static take<Member>(
    inflight: SharedInflight<Member> | null,
    outbound: OutboundFlow<number>,
    queue: Fifo<Queued<Member>>,
    moveOn: (group: SharedGroup<Member>) => boolean,
    forget: ((seq: number) => void) | null,
  ): Queued<Member>[] {
    const out: Queued<Member>[] = []
    if (inflight !== null) {
      for (const [id, q] of inflight.byId) {
        if (!moveOn(q.group!)) continue
        outbound.ack('puback', id) // forgets the flow: it is no longer this client's
        inflight.byId.delete(id)
        if (forget !== null && q.seq !== 0) forget(q.seq)
        out.push(q)
      }
    }
    if (queue.size > 0) {
      queue.retain((q) => {
        if (q.group == null || !moveOn(q.group!)) return true
        if (forget !== null && q.seq !== 0) forget(q.seq)
        out.push(q)
        return false
      })
    }
    return out
  }
}
