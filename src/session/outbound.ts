import { encodePubrel } from '../protocol/encoder.js'
import { restampPublish } from '../protocol/publish-template.js'
import { emptyMap, own } from './empty.js'

/**
 * The sender's side of QoS 1 and 2 [MQTT-4.3.2] [MQTT-4.3.3], the same for a
 * broker delivering to a subscriber and a client publishing to a broker.
 *
 * It owns the packet ids of one session: an id is taken when a PUBLISH is sent
 * and freed when its flow completes, so an id still in flight is never reused
 * [MQTT-2.3.1-2]. Entries are kept in sending order (a Map keeps insertion
 * order, and a PUBREC changes an entry in place), which is the order they are
 * re-sent in after a reconnect [MQTT-4.6.0-1].
 *
 * It does no I/O: it returns the bytes to send and the entry that completed.
 */

export enum Await {
  /** QoS 1 PUBLISH sent, waiting for PUBACK. */
  Puback = 1,
  /** QoS 2 PUBLISH sent, waiting for PUBREC. */
  Pubrec = 2,
  /** PUBREL sent, waiting for PUBCOMP. */
  Pubcomp = 3,
}

export interface InflightEntry<T> {
  packetId: number
  qos: 1 | 2
  awaiting: Await
  /** The PUBLISH bytes (owned by the entry), or the PUBREL once PUBREC arrived. */
  bytes: Buffer
  /** What the driver attached: a message, a promise's resolver. */
  ctx: T
}

export type AckType = 'puback' | 'pubrec' | 'pubcomp'

export class OutboundFlow<T> {
  maxInflight: number
  private inflight: Map<number, InflightEntry<T>> = emptyMap()
  /** Ids held by other packets of the session (a client's SUBSCRIBE, UNSUBSCRIBE): made on first use. */
  private reserved: Set<number> | null = null
  private nextId = 1

  constructor(maxInflight: number) {
    this.maxInflight = maxInflight
  }

  get size(): number {
    return this.inflight.size
  }

  /** True when another QoS 1/2 PUBLISH may be sent now. */
  get hasRoom(): boolean {
    const size = this.inflight.size
    return size < this.maxInflight && size + (this.reserved === null ? 0 : this.reserved.size) < 65_535
  }

  /** True when an id is free for a packet that is not a PUBLISH (all 65535 may be taken). */
  get hasFreeId(): boolean {
    return this.inflight.size + (this.reserved === null ? 0 : this.reserved.size) < 65_535
  }

  /**
   * A free packet id: never one still in flight or reserved [MQTT-2.3.1-2];
   * wraps from 65535 to 1. The caller checks `hasRoom` or `hasFreeId` first.
   */
  allocateId(): number {
    const reserved = this.reserved
    let id = this.nextId
    while (this.inflight.has(id) || reserved?.has(id)) id = id === 65_535 ? 1 : id + 1
    this.nextId = id === 65_535 ? 1 : id + 1
    return id
  }

  /**
   * Takes an id for a packet outside the PUBLISH flows (SUBSCRIBE, UNSUBSCRIBE):
   * they share the id space with PUBLISH [MQTT-2.3.1-2]. Free it with `releaseId`.
   */
  reserveId(): number {
    const id = this.allocateId()
    this.reserved ??= new Set()
    this.reserved.add(id)
    return id
  }

  releaseId(packetId: number): void {
    this.reserved?.delete(packetId)
  }

  /** The flow using `packetId`, if any. */
  get(packetId: number): InflightEntry<T> | undefined {
    return this.inflight.get(packetId)
  }

  /** Records a PUBLISH whose bytes carry `packetId` (from allocateId). */
  track(packetId: number, qos: 1 | 2, bytes: Buffer, ctx: T): InflightEntry<T> {
    const entry: InflightEntry<T> = {
      packetId,
      qos,
      awaiting: qos === 1 ? Await.Puback : Await.Pubrec,
      bytes,
      ctx,
    }
    this.inflight = own(this.inflight)
    this.inflight.set(packetId, entry)
    return entry
  }

  /** Puts back an entry restored from a store (after a restart), keeping its state. */
  restore(entry: InflightEntry<T>): void {
    this.inflight = own(this.inflight)
    this.inflight.set(entry.packetId, entry)
  }

  /**
   * A PUBACK, PUBREC or PUBCOMP arrived. Returns the entry whose flow completed
   * (PUBACK, PUBCOMP) or null; after PUBREC, `onPubrel` gets the PUBREL to send.
   * An ack for an unknown id or in the wrong state changes nothing.
   */
  ack(type: AckType, packetId: number, onPubrel?: (pubrel: Buffer) => void): InflightEntry<T> | null {
    const e = this.inflight.get(packetId)
    if (e === undefined) {
      // A PUBREC for an id we no longer track still needs its PUBREL so the peer can finish.
      if (type === 'pubrec' && onPubrel) onPubrel(encodePubrel(packetId))
      return null
    }
    if (type === 'puback') {
      if (e.awaiting !== Await.Puback) return null
    } else if (type === 'pubrec') {
      if (e.awaiting === Await.Pubrec) {
        // [MQTT-4.3.3-1] after PUBREC the PUBLISH is discarded and a PUBREL sent
        e.awaiting = Await.Pubcomp
        e.bytes = encodePubrel(packetId)
      }
      if (e.awaiting === Await.Pubcomp && onPubrel) onPubrel(e.bytes)
      return null
    } else if (e.awaiting !== Await.Pubcomp) {
      return null
    }
    this.inflight.delete(packetId)
    return e
  }

  /**
   * MQTT 5: a PUBACK or PUBREC with a reason code of 0x80 or more ends the flow
   * there (no PUBREL follows) and frees its id [MQTT-4.3.3-4] [MQTT-4.9.0-2].
   * Returns the entry, or null for an id not awaiting that ack.
   */
  refuse(type: 'puback' | 'pubrec', packetId: number): InflightEntry<T> | null {
    const e = this.inflight.get(packetId)
    if (e === undefined || e.awaiting !== (type === 'puback' ? Await.Puback : Await.Pubrec)) return null
    this.inflight.delete(packetId)
    return e
  }

  /**
   * Bytes to re-send after a reconnect, in their original order: PUBLISH with
   * DUP set [MQTT-3.3.1-1] [MQTT-4.4.0-1], and PUBREL for flows past PUBREC.
   */
  resendAll(): Buffer[] {
    const out: Buffer[] = []
    for (const e of this.inflight.values()) {
      if (e.awaiting !== Await.Pubcomp) restampPublish(e.bytes, true)
      out.push(e.bytes)
    }
    return out
  }

  entries(): IterableIterator<InflightEntry<T>> {
    return this.inflight.values()
  }

  /** Drops every entry (clean session, or the client gave up) and returns them. */
  clear(): InflightEntry<T>[] {
    const all = [...this.inflight.values()]
    this.inflight.clear()
    return all
  }
}
