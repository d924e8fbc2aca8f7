import { randomBytes } from 'node:crypto'
import { PetrelError } from '../errors.js'
import type { QoS } from '../protocol/constants.js'
import type { PublishPacket, PublishProperties } from '../protocol/packets.js'
import { ClientErrorCode, RequestTimeoutError } from './errors.js'
import type { Message } from './inbox.js'
import type { Payload } from './options.js'
import { Pending, type PublishResult } from './pending.js'
import { isFailure } from './reasons.js'

export interface RequestOptions {
  /** Milliseconds to wait for the reply. Default 30000. */
  timeout?: number
  /** QoS of the request. Default 0. */
  qos?: QoS
  /** Further properties of the request (its Response Topic and Correlation Data are set by request()). */
  properties?: PublishProperties
}

/** What request/response needs from the client. */
export interface RequestHost {
  /** The CONNACK's Response Information, if the broker gave one. */
  responseInformation(): string | undefined
  subscribe(filter: string, qos: QoS): Promise<number[]>
  publish(topic: string, payload: Payload, qos: QoS, properties: PublishProperties): Promise<PublishResult>
}

const DEFAULT_TIMEOUT = 30_000

/**
 * MQTT 5 request/response (4.10): one response topic per client, subscribed at
 * the first request; each request carries it as Response Topic with a Correlation
 * Data of its own, and resolves with the first message on that topic carrying the
 * same Correlation Data. Replies go to request() only, never to 'message'; a
 * reply that comes after its request timed out is dropped.
 */
export class Requests {
  private readonly host: RequestHost
  private readonly waiting = new Map<string, Pending<Message>>()
  private readonly prefix = randomBytes(6)
  private counter = 0
  private topic: string | null = null
  private ready: Promise<string> | null = null

  constructor(host: RequestHost) {
    this.host = host
  }

  /** Requests waiting for their reply. */
  get size(): number {
    return this.waiting.size
  }

  async request(topic: string, payload: Payload, options: RequestOptions = {}): Promise<Message> {
    const responseTopic = await this.responseTopic()
    const correlationData = this.nextCorrelation()
    const key = correlationData.toString('hex')
    const pending = new Pending<Message>()
    const reply = pending.promise()
    const timeout = options.timeout ?? DEFAULT_TIMEOUT
    if (timeout > 0) {
      pending.timer = setTimeout(() => {
        pending.timer = null
        this.waiting.delete(key)
        pending.reject(new RequestTimeoutError(topic, timeout))
      }, timeout)
    }
    this.waiting.set(key, pending)
    const properties: PublishProperties = { ...options.properties, responseTopic, correlationData }
    try {
      await this.host.publish(topic, payload, options.qos ?? 0, properties)
    } catch (err) {
      this.waiting.delete(key)
      pending.reject(err as Error)
    }
    return reply
  }

  /** A message from the broker: true when it was a reply (taken here, not passed on). */
  take(p: PublishPacket): boolean {
    if (p.topic !== this.topic) return false
    const cd = p.properties?.correlationData
    if (cd === undefined) return true
    const key = cd.toString('hex')
    const pending = this.waiting.get(key)
    if (pending !== undefined) {
      this.waiting.delete(key)
      pending.resolve(p)
    }
    return true
  }

  /** The client closed: every request still waiting fails. */
  failAll(err: Error): void {
    for (const p of this.waiting.values()) p.reject(err)
    this.waiting.clear()
  }

  /** Subscribed once; a refusal is retried at the next request. */
  private responseTopic(): Promise<string> {
    this.ready ??= this.subscribeOnce().catch((err: unknown) => {
      this.ready = null
      throw err
    })
    return this.ready
  }

  private async subscribeOnce(): Promise<string> {
    const base = this.host.responseInformation()?.replace(/\/+$/, '') || 'petrel/response'
    const topic = `${base}/${randomBytes(8).toString('hex')}`
    const [code] = await this.host.subscribe(topic, 1)
    if (code === undefined || isFailure(code)) {
      throw new PetrelError(
        ClientErrorCode.RESPONSE_TOPIC_REFUSED,
        `the broker refused the response topic ${topic} (0x${(code ?? 0x80).toString(16)})`,
      )
    }
    this.topic = topic
    return topic
  }

  private nextCorrelation(): Buffer {
    const b = Buffer.allocUnsafe(this.prefix.length + 4)
    this.prefix.copy(b, 0)
    b.writeUInt32BE(++this.counter >>> 0, this.prefix.length)
    return b
  }
}
