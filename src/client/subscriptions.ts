import { PetrelError } from '../errors.js'
import { PacketType, PROTOCOL_V5, type ProtocolVersion, type QoS, ReasonCode } from '../protocol/constants.js'
import { encode } from '../protocol/encoder.js'
import type { SubscribeProperties, Subscription, UnsubscribeProperties } from '../protocol/packets.js'
import type { OutboundFlow } from '../session/outbound.js'
import { ClientErrorCode } from './errors.js'
import type { Pending, PublishJob } from './pending.js'
import { isFailure } from './reasons.js'

/** A SUBSCRIBE or UNSUBSCRIBE waiting for its SUBACK or UNSUBACK. */
interface Request {
  readonly packetId: number
  readonly bytes: Buffer
  /** SUBSCRIBE: the filters asked for; null for UNSUBSCRIBE. */
  readonly subscriptions: Subscription[] | null
  /** SUBSCRIBE (MQTT 5): its Subscription Identifier, kept for re-subscribing. */
  readonly subscriptionIdentifier: number | undefined
  readonly topics: string[] | null
  /** The caller's promise; null for the client's own re-subscribe. */
  readonly sub: Pending<number[]> | null
  readonly unsub: Pending<number[]> | null
}

/** A granted subscription as asked for (MQTT 5 options and identifier), for re-subscribing. */
interface Granted {
  readonly subscription: Subscription
  readonly subscriptionIdentifier: number | undefined
}

/** Filters per SUBSCRIBE when re-subscribing after the broker lost the session. */
const RESUBSCRIBE_BATCH = 128

/**
 * The client's SUBSCRIBE/UNSUBSCRIBE requests waiting for their acks and the
 * subscriptions the broker granted, kept to subscribe again (with the same MQTT 5
 * options and identifier) when a reconnect finds no session. Packet ids come from
 * the session's OutboundFlow: they share the id space with PUBLISH [MQTT-2.3.1-2].
 * It returns bytes and does no I/O.
 */
export class Subscriptions {
  /** Granted subscriptions: filter → QoS asked for. */
  readonly granted = new Map<string, QoS>()
  /** MQTT 5: what each granted subscription asked for. */
  private readonly asked = new Map<string, Granted>()
  private readonly requests = new Map<number, Request>()
  private readonly outbound: OutboundFlow<PublishJob | null>
  private readonly version: ProtocolVersion

  constructor(outbound: OutboundFlow<PublishJob | null>, version: ProtocolVersion) {
    this.outbound = outbound
    this.version = version
  }

  /** A SUBSCRIBE to write now or at the next connection; null when no packet id was free (`sub` rejected). */
  subscribe(
    subscriptions: Subscription[],
    sub: Pending<number[]> | null,
    properties?: SubscribeProperties,
  ): Buffer | null {
    const id = this.takeId(sub)
    if (id === 0) return null
    return this.add({
      packetId: id,
      bytes: this.encodeSubscribe(id, subscriptions, properties),
      subscriptions,
      subscriptionIdentifier: properties?.subscriptionIdentifier,
      topics: null,
      sub,
      unsub: null,
    })
  }

  unsubscribe(topics: string[], unsub: Pending<number[]>, properties?: UnsubscribeProperties): Buffer | null {
    const id = this.takeId(unsub)
    if (id === 0) return null
    const v5 = this.version === PROTOCOL_V5
    const bytes = encode(
      { type: PacketType.UNSUBSCRIBE, packetId: id, topics, properties: v5 ? properties : undefined },
      this.version,
    )
    return this.add({
      packetId: id,
      bytes,
      subscriptions: null,
      subscriptionIdentifier: undefined,
      topics,
      sub: null,
      unsub,
    })
  }

  /** SUBACK: granted filters are recorded; failures (0x80 in 3.1.1, any code from 0x80 in MQTT 5) are not. */
  suback(packetId: number, codes: number[]): void {
    const r = this.requests.get(packetId)
    if (r === undefined || r.subscriptions === null) return
    this.requests.delete(packetId)
    this.outbound.releaseId(packetId)
    const subs = r.subscriptions
    for (let i = 0; i < subs.length; i++) {
      const g = codes[i]
      if (g !== undefined && !isFailure(g)) {
        const s = subs[i]!
        this.granted.set(s.topic, s.qos)
        if (this.version === PROTOCOL_V5) {
          this.asked.set(s.topic, { subscription: s, subscriptionIdentifier: r.subscriptionIdentifier })
        }
      }
    }
    r.sub?.resolve(codes)
  }

  /** UNSUBACK: resolves with a reason code per filter, the broker's (MQTT 5) or 0x00 for each (3.1.1 has none). */
  unsuback(packetId: number, reasonCodes: number[] | undefined): void {
    const r = this.requests.get(packetId)
    if (r === undefined || r.topics === null) return
    this.requests.delete(packetId)
    this.outbound.releaseId(packetId)
    const topics = r.topics
    for (let i = 0; i < topics.length; i++) {
      if (!isFailure(reasonCodes?.[i] ?? 0)) {
        this.granted.delete(topics[i]!)
        this.asked.delete(topics[i]!)
      }
    }
    r.unsub?.resolve(reasonCodes ?? topics.map(() => ReasonCode.SUCCESS))
  }

  /**
   * The packets to write after CONNACK, in order: without a session, SUBSCRIBEs for
   * every granted filter (when `resubscribe`) before the caller's requests still
   * unanswered (an UNSUBSCRIBE must come after them); with one, every request again.
   */
  resume(sessionPresent: boolean, resubscribe: boolean): Buffer[] {
    const out: Buffer[] = []
    if (!sessionPresent) {
      for (const [id, r] of this.requests) {
        if (r.sub === null && r.unsub === null) {
          this.requests.delete(id)
          this.outbound.releaseId(id)
        }
      }
      if (resubscribe && this.granted.size > 0) for (const r of this.resubscribe()) out.push(r.bytes)
    }
    for (const r of this.requests.values()) {
      if (r.sub !== null || r.unsub !== null || sessionPresent) out.push(r.bytes)
    }
    return out
  }

  /** The client is done: every request still open is rejected with `err`. */
  failAll(err: Error): void {
    for (const r of this.requests.values()) {
      r.sub?.reject(err)
      r.unsub?.reject(err)
    }
    this.requests.clear()
  }

  private add(r: Request): Buffer {
    this.requests.set(r.packetId, r)
    return r.bytes
  }

  private takeId(p: Pending<number[]> | null): number {
    if (this.outbound.hasFreeId) return this.outbound.reserveId()
    p?.reject(
      new PetrelError(ClientErrorCode.NO_PACKET_ID, 'all 65535 packet ids are in flight; retry later'),
    )
    return 0
  }

  private encodeSubscribe(
    packetId: number,
    subscriptions: Subscription[],
    properties?: SubscribeProperties,
  ): Buffer {
    const v5 = this.version === PROTOCOL_V5
    return encode(
      { type: PacketType.SUBSCRIBE, packetId, subscriptions, properties: v5 ? properties : undefined },
      this.version,
    )
  }

  /** Records SUBSCRIBEs for every granted filter, one batch per Subscription Identifier (a property of the whole packet). */
  private resubscribe(): Request[] {
    const made: Request[] = []
    const add = (batch: Subscription[], subscriptionIdentifier: number | undefined): void => {
      const id = this.takeId(null)
      if (id === 0) return
      const properties = subscriptionIdentifier === undefined ? undefined : { subscriptionIdentifier }
      const bytes = this.encodeSubscribe(id, batch, properties)
      made.push({
        packetId: id,
        bytes,
        subscriptions: batch,
        subscriptionIdentifier,
        topics: null,
        sub: null,
        unsub: null,
      })
      this.requests.set(id, made[made.length - 1]!)
    }
    const batches = new Map<number | undefined, Subscription[]>()
    for (const [topic, qos] of this.granted) {
      const g = this.asked.get(topic)
      const key = g?.subscriptionIdentifier
      let batch = batches.get(key)
      if (batch === undefined) batches.set(key, (batch = []))
      batch.push(g === undefined ? { topic, qos } : g.subscription)
      if (batch.length === RESUBSCRIBE_BATCH) {
        add(batch, key)
        batches.delete(key)
      }
    }
    for (const [key, batch] of batches) add(batch, key)
    return made
  }
}
