import type { QoS } from '../protocol/constants.js'
import type { Store } from '../store/store.js'
import type { Message } from './message.js'

/**
 * A persistent session's deliveries as the store keeps them, each under its key (seq, from 1):
 * added when queued or sent, updated when sent or released, forgotten when done or dropped.
 * A clean session has no store: nothing is kept, and every key is 0.
 */
export class DeliveryLog {
  /** The next key (seq) of a delivery kept for this client. */
  private nextSeq = 1

  constructor(
    private readonly store: Store | null,
    private readonly clientId: string,
  ) {}

  /** Whether deliveries are kept (a persistent session). */
  get kept(): boolean {
    return this.store !== null
  }

  /** Keeps a delivery; returns its key, or 0 when nothing is kept. */
  add(msg: Message, qos: QoS, retain: boolean, packetId: number, subIds: number[] | null): number {
    if (this.store === null) return 0
    const seq = this.nextSeq++
    this.store.addDelivery(this.clientId, {
      seq,
      topic: msg.topic,
      payload: msg.payload,
      qos,
      retain,
      packetId,
      released: false,
      properties: msg.properties,
      expiresAt: msg.expiresAt,
      subIds,
    })
    return seq
  }

  /** A queued delivery went out under `packetId` (after a restart it is re-sent with that id). */
  sent(seq: number, packetId: number): void {
    if (seq !== 0) this.store?.updateDelivery(this.clientId, seq, packetId, false)
  }

  /** A QoS 2 delivery's PUBREC came: only its PUBREL is left to send. */
  released(seq: number, packetId: number): void {
    if (seq !== 0) this.store?.updateDelivery(this.clientId, seq, packetId, true)
  }

  /** A delivery is done (acknowledged, expired, dropped): the store forgets it. */
  forget(seq: number): void {
    if (seq !== 0) this.store?.deleteDelivery(this.clientId, seq)
  }

  /** A delivery read back from the store at start: later keys come after it. */
  restored(seq: number): void {
    if (seq >= this.nextSeq) this.nextSeq = seq + 1
  }
}
