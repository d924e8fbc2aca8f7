import { EventEmitter } from 'node:events'
import { PetrelError } from '../errors.js'
import { PacketType, type QoS } from '../protocol/constants.js'
import type { Packet, PublishPacket, Subscription } from '../protocol/packets.js'
import { isValidTopicFilter, isValidTopicName } from '../protocol/topic.js'
import { ClientEndedError, ClientErrorCode, InvalidTopicError, PublishTimeoutError } from './errors.js'
import { Inbox, type Message } from './inbox.js'
import { type Effect, Lifecycle, type LifecycleInput, type LifecycleState } from './lifecycle.js'
import { asError, Link } from './link.js'
import {
  type ClientOptions,
  type Payload,
  type ResolvedClientOptions,
  resolveClientOptions,
  toBuffer,
} from './options.js'
import { Pending, PublishJob } from './pending.js'
import { ClientSession, type SessionHost } from './session.js'
import { Writer } from './writer.js'

/** Typed client events. */
export interface ClientEvents {
  /** The broker accepted a connection (the first one too, before `connect()` resolves). */
  connect: [connack: { sessionPresent: boolean }]
  /** A reconnect attempt starts. */
  reconnect: [attempt: number]
  /** A live connection was lost; reconnecting follows when enabled. */
  offline: [error: Error]
  /** The client stopped for good: `end()`, or `error` when it gave up. */
  close: [error: Error | undefined]
  /** Emitted only while listened to: failed reconnect attempts, errors thrown by 'message' listeners. */
  error: [error: Error]
  message: [topic: string, payload: Buffer, packet: PublishPacket]
}

export interface PublishOptions {
  qos?: QoS
  retain?: boolean
  /** Milliseconds; overrides the client's `publishTimeout`. */
  timeout?: number
}

export interface SubscribeOptions {
  /** QoS asked for each filter given as a string. Default 0. */
  qos?: QoS
}

export interface EndOptions {
  /** Drop the connection at once, without DISCONNECT (the broker then publishes the will). */
  force?: boolean
}

/**
 * An MQTT 3.1.1 client. Made by `connect()`; it reconnects by itself until
 * `end()`. The connection lifecycle is the Lifecycle machine, the transport
 * connection of the moment is a Link, the MQTT session (QoS flows,
 * subscriptions, queue) is ClientSession; this class carries out the
 * lifecycle's effects and is the public API.
 */
export class Client extends EventEmitter<ClientEvents> {
  readonly options: ResolvedClientOptions
  /** Session present flag of the last CONNACK. */
  sessionPresent = false
  private readonly life: Lifecycle
  private readonly writer = new Writer()
  private readonly session: ClientSession
  private readonly inbox: Inbox
  private readonly link: Link
  private retryTimer: NodeJS.Timeout | null = null
  private readonly firstConnect = new Pending<void>()
  private readonly firstConnected: Promise<void>
  /** `end()`'s promise, made by the first call. */
  private ended: Promise<void> | null = null
  private endedPending: Pending<void> | null = null

  /** Use `connect()`. */
  constructor(options: ResolvedClientOptions) {
    super()
    this.options = options
    this.life = new Lifecycle(options.reconnect)
    this.link = new Link(options, this.writer, {
      packet: (p) => this.onPacket(p),
      input: (i) => this.input(i),
    })
    this.inbox = new Inbox(
      {
        hasListeners: () => this.listenerCount('message') > 0,
        emitMessage: (p) => this.emitMessage(p),
        pressure: (paused) => this.link.pause(paused),
      },
      options.maxBufferedMessages,
    )
    this.session = new ClientSession(this.sessionHost(), this.writer, options.store, options)
    // The first 'message' listener gets the messages held until now.
    ;(this as EventEmitter).on('newListener', (event: string | symbol) => {
      if (event === 'message') this.inbox.listenerAdded()
    })
    this.firstConnected = this.firstConnect.promise()
  }

  get state(): LifecycleState {
    return this.life.state
  }

  get connected(): boolean {
    return this.life.state === 'connected'
  }

  /** Publishes waiting for a connection or for room in the inflight window. */
  get queued(): number {
    return this.session.queued
  }

  /** QoS 1/2 publishes sent and not yet acknowledged. */
  get inflight(): number {
    return this.session.outbound.size
  }

  /** Filters granted by the broker (re-subscribed after a reconnect that found no session). */
  get subscriptions(): ReadonlyMap<string, QoS> {
    return this.session.subscriptions
  }

  /** @internal opens the first connection; resolves on CONNACK 0. */
  start(): Promise<void> {
    this.run(this.life.start())
    return this.firstConnected
  }

  // --- API ---------------------------------------------------------------------------

  /** Settles when the QoS flow completes: written (QoS 0), PUBACK (1), PUBCOMP (2). */
  publish(topic: string, payload: Payload, options: PublishOptions = {}): Promise<void> {
    const qos = options.qos ?? 0
    if (qos !== 0 && qos !== 1 && qos !== 2) {
      return Promise.reject(new PetrelError(ClientErrorCode.INVALID_QOS, `qos must be 0, 1 or 2; got ${qos}`))
    }
    if (!isValidTopicName(topic)) return Promise.reject(new InvalidTopicError(topic, 'topic name'))
    const job = new PublishJob(topic, toBuffer(payload), qos, options.retain ?? false)
    const promise = job.promise()
    const state = this.life.state
    if (state === 'ending' || state === 'closed') {
      job.reject(new ClientEndedError())
      return promise
    }
    const timeout = options.timeout ?? this.options.publishTimeout
    if (timeout > 0) job.timer = setTimeout(publishTimedOut, timeout, job, timeout)
    this.session.submit(job)
    return promise
  }

  /** Resolves with the SUBACK return codes, in order: the granted QoS, or 0x80 for a refusal. */
  subscribe(
    filters: string | string[] | Record<string, QoS>,
    options: SubscribeOptions = {},
  ): Promise<number[]> {
    const qos = options.qos ?? 0
    const subs: Subscription[] =
      typeof filters === 'string'
        ? [{ topic: filters, qos }]
        : Array.isArray(filters)
          ? filters.map((topic) => ({ topic, qos }))
          : Object.entries(filters).map(([topic, q]) => ({ topic, qos: q }))
    for (const s of subs) {
      if (!isValidTopicFilter(s.topic)) return Promise.reject(new InvalidTopicError(s.topic, 'topic filter'))
      if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) {
        return Promise.reject(
          new PetrelError(ClientErrorCode.INVALID_QOS, `qos must be 0, 1 or 2; got ${s.qos}`),
        )
      }
    }
    if (subs.length === 0) return Promise.reject(new InvalidTopicError('', 'topic filter')) // [MQTT-3.8.3-3]
    const pending = new Pending<number[]>()
    const promise = pending.promise()
    if (this.isEnding()) pending.reject(new ClientEndedError())
    else this.session.subscribe(subs, pending)
    return promise
  }

  unsubscribe(filters: string | string[]): Promise<void> {
    const topics = typeof filters === 'string' ? [filters] : filters
    for (const t of topics) {
      if (!isValidTopicFilter(t)) return Promise.reject(new InvalidTopicError(t, 'topic filter'))
    }
    if (topics.length === 0) return Promise.reject(new InvalidTopicError('', 'topic filter')) // [MQTT-3.10.3-2]
    const pending = new Pending<void>()
    const promise = pending.promise()
    if (this.isEnding()) pending.reject(new ClientEndedError())
    else this.session.unsubscribe([...topics], pending)
    return promise
  }

  /**
   * Every message from now on (the first consumer also gets those that arrived
   * before it), through a buffer of `bufferSize`; reading pauses while it is full.
   * Ends when the client closes.
   */
  messages(options: { bufferSize?: number } = {}): AsyncIterableIterator<Message, undefined> {
    return this.inbox.stream(options.bufferSize)
  }

  /** Sends DISCONNECT and resolves once closed; `force` drops the connection at once. */
  end(options: EndOptions = {}): Promise<void> {
    if (this.ended === null) {
      if (this.life.state === 'closed') return Promise.resolve()
      this.endedPending = new Pending<void>()
      this.ended = this.endedPending.promise()
    }
    this.input({ type: 'end', force: options.force === true })
    return this.ended
  }

  private isEnding(): boolean {
    return this.life.state === 'ending' || this.life.state === 'closed'
  }

  // --- lifecycle effects ------------------------------------------------------------------

  private input(i: LifecycleInput): void {
    this.run(this.life.handle(i))
  }

  private run(effects: readonly Effect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'open':
          this.link.open()
          break
        case 'drop':
          this.link.drop()
          break
        case 'disconnect':
          this.link.end()
          break
        case 'schedule-retry':
          if (this.life.state === 'reconnect-wait') {
            this.retryTimer = setTimeout(() => {
              this.retryTimer = null
              this.input({ type: 'retry' })
            }, e.delay)
          }
          break
        case 'cancel-retry':
          this.cancelRetry()
          break
        case 'online':
          this.online(e.sessionPresent, e.first)
          break
        case 'offline':
          this.emit('offline', e.error)
          break
        case 'reconnecting':
          this.emit('reconnect', e.attempt)
          break
        case 'attempt-failed':
          this.reportError(e.error)
          break
        case 'closed':
          this.closed(e.error)
          break
      }
    }
  }

  private online(sessionPresent: boolean, first: boolean): void {
    this.link.accepted()
    this.sessionPresent = sessionPresent
    this.session.resume(sessionPresent)
    if (first) this.firstConnect.resolve()
    this.emit('connect', { sessionPresent })
  }

  private closed(error: Error | undefined): void {
    this.cancelRetry()
    const ended = new ClientEndedError(error)
    this.session.failAll(ended)
    this.inbox.close()
    if (!this.firstConnect.settled) this.firstConnect.reject(error ?? ended)
    else if (error !== undefined) this.reportError(error)
    this.emit('close', error)
    this.endedPending?.resolve()
  }

  private cancelRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
  }

  /** A decoded packet of the current link. */
  private onPacket(p: Packet): void {
    const state = this.life.state
    if (state === 'connected' || state === 'ending') {
      this.session.handle(p)
    } else if (state === 'connecting') {
      if (p.type !== PacketType.CONNACK) {
        // [MQTT-3.2.0-1] the first packet from the server is CONNACK
        throw new PetrelError(
          ClientErrorCode.UNEXPECTED_PACKET,
          `expected CONNACK, got packet type ${p.type}`,
        )
      }
      this.input({ type: 'connack', returnCode: p.returnCode, sessionPresent: p.sessionPresent })
    }
  }

  private emitMessage(p: PublishPacket): void {
    try {
      this.emit('message', p.topic, p.payload, p)
    } catch (err) {
      // A listener's bug must not be taken for a protocol error of the connection.
      this.reportError(asError(err), true)
    }
  }

  /** 'error' when listened to; else thrown from a microtask when `mustSurface`, else left to 'close'/'offline'. */
  private reportError(err: Error, mustSurface = false): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
    else if (mustSurface)
      queueMicrotask(() => {
        throw err
      })
  }

  /** The session may send while the lifecycle is 'connected'. */
  private sessionHost(): SessionHost {
    const life = this.life
    const inbox = this.inbox
    return {
      get online() {
        return life.state === 'connected'
      },
      deliver: (p) => inbox.deliver(p),
    }
  }
}

function publishTimedOut(job: PublishJob, timeout: number): void {
  job.timer = null
  job.reject(new PublishTimeoutError(timeout))
}

/**
 * Connects to an MQTT 3.1.1 broker and resolves once it accepted the connection.
 * Rejects with ConnackRefusedError (carrying the return code), ConnectTimeoutError
 * or ConnectFailedError; later losses are handled by reconnecting.
 */
export async function connect(url: string | URL, options: ClientOptions = {}): Promise<Client> {
  const client = new Client(resolveClientOptions(url, options))
  await client.start()
  return client
}
