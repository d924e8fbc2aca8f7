import type { QoS } from '../protocol/constants.js'
import { encodePuback, encodePubcomp, encodePubrec } from '../protocol/encoder.js'
import { emptySet, ownSet } from './empty.js'

/** Keeps a receiver's QoS 2 ids where they survive a restart (the broker's store). */
export interface InboundPersistence {
  added(packetId: number): void
  released(packetId: number): void
}

/**
 * The receiver's side of QoS 1 and 2, the same for a broker receiving from a client
 * and a client receiving from a broker:
 * - QoS 1: passed on, answered with PUBACK [MQTT-4.3.2-2];
 * - QoS 2: passed on the first time its packet id is seen, answered with PUBREC
 *   every time; a PUBLISH that comes again before its PUBREL is a re-send and is not
 *   passed on twice (exactly once) [MQTT-4.3.3-2];
 * - PUBREL: the id is free again, answered with PUBCOMP, also for an id not known.
 * It does no I/O: it says whether to pass a message on, and returns the bytes to send.
 */
export class InboundFlow {
  private ids: Set<number> = emptySet()
  private readonly persist: InboundPersistence | null

  constructor(persist: InboundPersistence | null = null) {
    this.persist = persist
  }

  /** A PUBLISH arrived: true when it must be passed on. */
  receive(qos: QoS, packetId: number): boolean {
    if (qos < 2) return true
    if (this.ids.has(packetId)) return false
    this.ids = ownSet(this.ids)
    this.ids.add(packetId)
    this.persist?.added(packetId)
    return true
  }

  /** The acknowledgement of a PUBLISH of `qos` (null for QoS 0). */
  answer(qos: QoS, packetId: number): Buffer | null {
    return qos === 0 ? null : qos === 1 ? encodePuback(packetId) : encodePubrec(packetId)
  }

  /** PUBREL: the flow ends, the sender may reuse the id; returns the PUBCOMP. */
  release(packetId: number): Buffer {
    if (this.ids.delete(packetId)) this.persist?.released(packetId)
    return encodePubcomp(packetId)
  }

  /** Puts back an id read from a store at start. */
  restore(packetId: number): void {
    this.ids = ownSet(this.ids)
    this.ids.add(packetId)
  }

  get size(): number {
    return this.ids.size
  }

  /** Whether a QoS 2 PUBLISH with this id was passed on and awaits its PUBREL. */
  has(packetId: number): boolean {
    return this.ids.has(packetId)
  }

  /** Forgets every id (a session starts anew). */
  clear(): void {
    this.ids.clear()
  }
}
