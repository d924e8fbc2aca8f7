/**
 * Publisher and subscriber models for the crash tests, over WireClient. Their
 * state lives in the test process, so it outlives the connections a broker
 * kill cuts: the publisher knows which of its messages were acknowledged, the
 * subscriber which payloads its application was handed.
 */
import { type Packet, PacketType, type QoS } from '../../../src/protocol/index.js'
import { WireClient } from './wire-client.js'

export interface PublisherOptions {
  clientId: string
  /** Clean session 0 keeps the broker's record of QoS 2 ids across reconnects (exactly once). */
  clean: boolean
  qos: 1 | 2
  /** Message i goes to `topic`, or to `${topic}/${i % topics}` when `topics` is given. */
  topic: string
  topics?: number
  retain?: boolean
  /** Messages to publish, with payloads `${topic}#${i}` for i in 0 .. total - 1. */
  total: number
  /** QoS 1/2 flows in flight at once. */
  window: number
  /**
   * Called after each new acknowledgement (PUBACK, or PUBREC at QoS 2) with how many
   * there are. Returning true cuts the connection there: acknowledgements already
   * on their way are never seen, so the publisher re-sends those messages later.
   */
  onAck?: (acked: number) => boolean
}

interface Flow {
  index: number
  /** PUBREC received and PUBREL sent (QoS 2). */
  released: boolean
}

/**
 * Publishes `total` distinct messages with a window of flows in flight, like a
 * correct MQTT client: after a reconnect it re-sends unacknowledged PUBLISHes with
 * DUP 1 and their packet ids, and PUBRELs for flows past PUBREC, then goes on.
 */
export class WirePublisher {
  /** Indexes of messages whose PUBACK (QoS 1) or PUBREC (QoS 2) was received. */
  readonly acked = new Set<number>()
  /** Indexes whose flow completed (PUBACK, or PUBCOMP at QoS 2). */
  readonly completed = new Set<number>()
  /** Session present of each CONNACK, in order. */
  readonly sessionPresent: boolean[] = []
  /** Acknowledgements that match no flow, or of the wrong kind. */
  readonly violations: string[] = []
  private readonly o: PublisherOptions
  /** In-flight flows by packet id, in sending order. */
  private readonly inflight = new Map<number, Flow>()
  private nextIndex = 0

  constructor(options: PublisherOptions) {
    if (options.total > 65_535) throw new RangeError('one packet id per message: total must be at most 65535')
    this.o = options
  }

  payload(index: number): string {
    return `${this.o.topic}#${index}`
  }

  topicOf(index: number): string {
    return this.o.topics === undefined ? this.o.topic : `${this.o.topic}/${index % this.o.topics}`
  }

  /** The message index a payload of this publisher carries. */
  indexOf(payload: string): number {
    return Number(payload.slice(payload.lastIndexOf('#') + 1))
  }

  /** Every payload this publisher may have sent. */
  allPayloads(): Set<string> {
    const all = new Set<string>()
    for (let i = 0; i < this.o.total; i++) all.add(this.payload(i))
    return all
  }

  /**
   * Connects and publishes until every flow completes ('done', then DISCONNECT)
   * or the connection drops ('closed').
   */
  async run(port: number): Promise<'done' | 'closed'> {
    let finish: (r: 'done' | 'closed') => void = () => {}
    const result = new Promise<'done' | 'closed'>((resolve) => {
      finish = resolve
    })
    const client = await WireClient.connect(
      port,
      { clientId: this.o.clientId, clean: this.o.clean },
      (p, c) => {
        if (this.onPacket(p, c)) finish('done')
      },
    )
    this.sessionPresent.push(client.connack.sessionPresent)
    void client.closed.then(() => finish('closed'))
    for (const [packetId, flow] of this.inflight) {
      if (flow.released) client.send({ type: PacketType.PUBREL, packetId })
      else this.sendPublish(client, flow.index, true)
    }
    this.fill(client)
    if (this.completed.size === this.o.total) finish('done')
    const r = await result
    if (r === 'done') await client.disconnect()
    return r
  }

  /** Returns true once every flow has completed. */
  private onPacket(p: Packet, client: WireClient): boolean {
    const flow = 'packetId' in p ? this.inflight.get(p.packetId) : undefined
    switch (p.type) {
      case PacketType.PUBACK:
        if (flow === undefined || this.o.qos !== 1) return this.unexpected(p)
        this.inflight.delete(p.packetId)
        this.completed.add(flow.index)
        this.ack(flow.index, client)
        break
      case PacketType.PUBREC:
        if (flow === undefined || this.o.qos !== 2) return this.unexpected(p)
        flow.released = true
        client.send({ type: PacketType.PUBREL, packetId: p.packetId })
        this.ack(flow.index, client)
        break
      case PacketType.PUBCOMP:
        if (flow === undefined || !flow.released) return this.unexpected(p)
        this.inflight.delete(p.packetId)
        this.completed.add(flow.index)
        break
      default:
        return this.unexpected(p)
    }
    this.fill(client)
    return this.completed.size === this.o.total
  }

  private unexpected(p: Packet): false {
    this.violations.push(
      `publisher received packet type ${p.type}${'packetId' in p ? ` id ${p.packetId}` : ''}`,
    )
    return false
  }

  private ack(index: number, client: WireClient): void {
    if (this.acked.has(index)) return
    this.acked.add(index)
    if (this.o.onAck?.(this.acked.size) === true) client.destroy()
  }

  private fill(client: WireClient): void {
    while (this.inflight.size < this.o.window && this.nextIndex < this.o.total && !client.ended) {
      const index = this.nextIndex++
      this.inflight.set(index + 1, { index, released: false })
      this.sendPublish(client, index, false)
    }
  }

  private sendPublish(client: WireClient, index: number, dup: boolean): void {
    client.send({
      type: PacketType.PUBLISH,
      topic: this.topicOf(index),
      payload: Buffer.from(this.payload(index)),
      qos: this.o.qos,
      retain: this.o.retain ?? false,
      dup,
      packetId: index + 1,
    })
  }
}

export interface Delivery {
  topic: string
  payload: string
  qos: QoS
  retain: boolean
}

/**
 * A subscriber with a persistent session that behaves as a correct MQTT 3.1.1
 * receiver. QoS 1: hands each PUBLISH to the application and answers PUBACK
 * (duplicates are allowed). QoS 2 (the spec's method B, [MQTT-4.3.3-2]): hands a
 * PUBLISH to the application when its packet id is not awaiting PUBREL and keeps
 * the id until PUBREL; a PUBLISH with an id still awaiting PUBREL is a re-send of
 * the same message and is only answered with PUBREC. The ids awaiting PUBREL are
 * session state, kept across reconnects.
 */
export class WireSubscriber {
  /** What the application was handed, in order. */
  readonly deliveries: Delivery[] = []
  /** Protocol errors seen (an id re-used before PUBCOMP, a re-send without DUP). */
  readonly violations: string[] = []
  /** PUBLISH, PUBREL packets received, for idle detection. */
  packets = 0
  readonly clientId: string
  client: WireClient | null = null
  /** QoS 2 packet ids awaiting PUBREL, with the payload they carried. */
  private readonly awaitingPubrel = new Map<number, string>()
  private readonly waiters = new Map<number, (p: Packet) => void>()
  private nextId = 1
  private readonly ackDelayMs: number
  /** PUBACK/PUBREC held back by `ackDelayMs`. */
  private delayed: [WireClient, Packet][] = []

  /**
   * `ackDelayMs` > 0 makes a slow consumer: its PUBACKs and PUBRECs leave in batches
   * that late, so the broker's inflight window fills and later messages wait in its queue.
   */
  constructor(clientId: string, ackDelayMs = 0) {
    this.clientId = clientId
    this.ackDelayMs = ackDelayMs
  }

  get pendingQos2(): number {
    return this.awaitingPubrel.size
  }

  /** Connects with clean session 0 (unless told); returns session present. */
  async connect(port: number, clean = false): Promise<boolean> {
    this.client = await WireClient.connect(port, { clientId: this.clientId, clean }, (p, c) =>
      this.onPacket(p, c),
    )
    return this.client.connack.sessionPresent
  }

  get connected(): boolean {
    return this.client !== null && !this.client.ended
  }

  /** SUBSCRIBE; resolves with the granted QoS list of the SUBACK. */
  async subscribe(filter: string, qos: QoS): Promise<number[]> {
    const packetId = this.nextId++
    const suback = this.expect(packetId, PacketType.SUBACK)
    this.client!.send({ type: PacketType.SUBSCRIBE, packetId, subscriptions: [{ topic: filter, qos }] })
    const p = await suback
    return p.type === PacketType.SUBACK ? p.granted : []
  }

  /** UNSUBSCRIBE; resolves on UNSUBACK. */
  async unsubscribe(filter: string): Promise<void> {
    const packetId = this.nextId++
    const unsuback = this.expect(packetId, PacketType.UNSUBACK)
    this.client!.send({ type: PacketType.UNSUBSCRIBE, packetId, topics: [filter] })
    await unsuback
  }

  async disconnect(): Promise<void> {
    await this.client?.disconnect()
  }

  /** The payloads handed to the application, with how many times each. */
  counts(): Map<string, number> {
    const m = new Map<string, number>()
    for (const d of this.deliveries) m.set(d.payload, (m.get(d.payload) ?? 0) + 1)
    return m
  }

  private expect(packetId: number, type: PacketType): Promise<Packet> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(packetId)
        reject(new Error(`${this.clientId}: no ack of type ${type} for packet id ${packetId} within 5000 ms`))
      }, 5000)
      this.waiters.set(packetId, (p) => {
        clearTimeout(timer)
        if (p.type === type) resolve(p)
        else reject(new Error(`${this.clientId}: expected packet type ${type}, got ${p.type}`))
      })
    })
  }

  private ack(client: WireClient, packet: Packet): void {
    if (this.ackDelayMs === 0) {
      client.send(packet)
      return
    }
    if (this.delayed.length === 0) {
      setTimeout(() => {
        const batch = this.delayed
        this.delayed = []
        for (const [c, a] of batch) c.send(a) // to the connection it belongs to: a dead one sends nothing
      }, this.ackDelayMs)
    }
    this.delayed.push([client, packet])
  }

  private onPacket(p: Packet, client: WireClient): void {
    switch (p.type) {
      case PacketType.PUBLISH: {
        this.packets++
        const payload = p.payload.toString()
        const d: Delivery = { topic: p.topic, payload, qos: p.qos, retain: p.retain }
        if (p.qos === 0) {
          this.deliveries.push(d)
        } else if (p.qos === 1) {
          this.deliveries.push(d)
          this.ack(client, { type: PacketType.PUBACK, packetId: p.packetId })
        } else {
          const held = this.awaitingPubrel.get(p.packetId)
          if (held === undefined) {
            this.awaitingPubrel.set(p.packetId, payload)
            this.deliveries.push(d)
          } else {
            if (held !== payload) {
              this.violations.push(
                `packet id ${p.packetId} carried '${payload}' while '${held}' awaits PUBREL`,
              )
            }
            if (!p.dup) this.violations.push(`re-send of packet id ${p.packetId} without DUP [MQTT-3.3.1-1]`)
          }
          this.ack(client, { type: PacketType.PUBREC, packetId: p.packetId })
        }
        return
      }
      case PacketType.PUBREL:
        this.packets++
        this.awaitingPubrel.delete(p.packetId)
        client.send({ type: PacketType.PUBCOMP, packetId: p.packetId })
        return
      case PacketType.SUBACK:
      case PacketType.UNSUBACK: {
        const w = this.waiters.get(p.packetId)
        this.waiters.delete(p.packetId)
        w?.(p)
        return
      }
      default:
        this.violations.push(`subscriber received packet type ${p.type}`)
    }
  }
}
