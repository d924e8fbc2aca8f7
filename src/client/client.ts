import { EventEmitter } from 'node:events'
import { PetrelError } from '../errors.js'
import { PacketType, PROTOCOL_V5, type QoS, ReasonCode } from '../protocol/constants.js'
import { encode } from '../protocol/encoder.js'
import type { ConnackPacket, Packet, PublishPacket, PublishProperties } from '../protocol/packets.js'
import { isValidTopicName } from '../protocol/topic.js'
import { reasonError } from './aliases.js'
import type {
  ClientEvents,
  ConnackInfo,
  EndOptions,
  PublishOptions,
  RespondOptions,
  SubscribeOptions,
  UnsubscribeOptions,
} from './api.js'
import { AuthExchange } from './auth.js'
import {
  checkPublishProperties,
  disconnectPacket,
  invalidQoS,
  isSendableFilter,
  needsV5,
  subscribeArgs,
} from './checks.js'
import {
  AuthError,
  ClientEndedError,
  ClientErrorCode,
  InvalidTopicError,
  PublishTimeoutError,
  ServerDisconnectError,
} from './errors.js'
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
import { Pending, PublishJob, type PublishResult } from './pending.js'
import { isRedirect } from './reasons.js'
import { type RequestOptions, Requests } from './requests.js'
import { serverLimits } from './server-limits.js'
import { ClientSession, type SessionHost } from './session.js'
import { Writer } from './writer.js'

export type {
  ClientEvents,
  ConnackInfo,
  DisconnectInfo,
  EndOptions,
  PublishOptions,
  RespondOptions,
  SubscribeOptions,
  UnsubscribeOptions,
} from './api.js'

/**
 * An MQTT 3.1.1 or 5.0 client. Made by `connect()`; it reconnects by itself until
 * `end()`. The connection lifecycle is the Lifecycle machine, the transport
 * connection of the moment is a Link, the MQTT session (QoS flows,
 * subscriptions, queue) is ClientSession; this class carries out the
 * lifecycle's effects and is the public API.
 */
export class Client extends EventEmitter<ClientEvents> {
  readonly options: ResolvedClientOptions
  /** Session present flag of the last CONNACK. */
  sessionPresent = false
  /** The last CONNACK that accepted a connection; null before the first. */
  connack: ConnackInfo | null = null
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
  private readonly v5: boolean
  private readonly auth: AuthExchange | null = null
  private readonly requests: Requests | null = null
  /** Packets that came after a CONNACK while the auth handler checks it; null when not checking. */
  private held: Packet[] | null = null
  /** The DISCONNECT `end()` sends. */
  private disconnectBytes: Buffer | undefined

  /** Use `connect()`. */
  constructor(options: ResolvedClientOptions) {
    super()
    this.options = options
    this.v5 = options.protocolVersion === PROTOCOL_V5
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
    this.session = new ClientSession(this.sessionHost(), this.writer, options.store, {
      ...options,
      topicAliasMaximum: options.connectProperties?.topicAliasMaximum ?? 0,
      receiveMaximum: options.connectProperties?.receiveMaximum ?? 65_535,
    })
    if (this.v5) {
      const link = this.link
      if (options.auth !== undefined) {
        this.auth = new AuthExchange(options.auth, {
          send: (bytes) => link.send(bytes),
          fail: (err, gen) => {
            if (gen === link.generation) this.dropWith(err)
          },
          get generation() {
            return link.generation
          },
        })
      }
      this.requests = new Requests({
        responseInformation: () => this.connack?.properties.responseInformation,
        subscribe: (filter, qos) => this.subscribe(filter, { qos }),
        publish: (topic, payload, qos, properties) => this.publish(topic, payload, { qos, properties }),
      })
    }
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

  /** The client id of the connection: the option's, or the one the broker assigned (MQTT 5). */
  get clientId(): string {
    return this.link.clientId
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

  /**
   * Settles when the QoS flow completes: written (QoS 0), PUBACK (1), PUBCOMP (2).
   * Resolves with the reason code (0, or MQTT 5's 0x10 No matching subscribers);
   * rejects with PublishRefusedError for an MQTT 5 refusal (0x80 and more), and
   * ServerLimitError for what the broker's CONNACK said it does not take.
   */
  publish(topic: string, payload: Payload, options: PublishOptions = {}): Promise<PublishResult> {
    const qos = options.qos ?? 0
    if (qos !== 0 && qos !== 1 && qos !== 2) {
      return Promise.reject(invalidQoS(qos))
    }
    if (!isValidTopicName(topic)) return Promise.reject(new InvalidTopicError(topic, 'topic name'))
    const properties = options.properties
    if (properties !== undefined) {
      const bad = checkPublishProperties(properties, this.v5)
      if (bad !== null) return Promise.reject(bad)
    }
    const job = new PublishJob(topic, toBuffer(payload), qos, options.retain ?? false, properties)
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

  /**
   * Resolves with the SUBACK return codes, in order: the granted QoS, or a failure
   * (0x80 in 3.1.1; MQTT 5's reason codes from 0x80, e.g. 0x87 Not authorized).
   */
  subscribe(
    filters: string | string[] | Record<string, QoS>,
    options: SubscribeOptions = {},
  ): Promise<number[]> {
    const args = subscribeArgs(filters, options, this.v5, this.session.server)
    if (args instanceof Error) return Promise.reject(args)
    const pending = new Pending<number[]>()
    const promise = pending.promise()
    if (this.isEnding()) pending.reject(new ClientEndedError())
    else this.session.subscribe(args.subs, pending, args.properties)
    return promise
  }

  /**
   * Resolves with a reason code per filter: MQTT 5's UNSUBACK codes (0x00, 0x11 No
   * subscription existed, 0x80 and more for a failure); 0x00 for each in 3.1.1.
   */
  unsubscribe(filters: string | string[], options: UnsubscribeOptions = {}): Promise<number[]> {
    const topics = typeof filters === 'string' ? [filters] : filters
    for (const t of topics) {
      if (!isSendableFilter(t, this.v5)) return Promise.reject(new InvalidTopicError(t, 'topic filter'))
    }
    if (topics.length === 0) return Promise.reject(new InvalidTopicError('', 'topic filter')) // [MQTT-3.10.3-2]
    if (options.userProperties !== undefined && !this.v5) return Promise.reject(needsV5('userProperties'))
    const pending = new Pending<number[]>()
    const promise = pending.promise()
    if (this.isEnding()) pending.reject(new ClientEndedError())
    else {
      const props =
        options.userProperties === undefined ? undefined : { userProperties: options.userProperties }
      this.session.unsubscribe([...topics], pending, props)
    }
    return promise
  }

  /**
   * MQTT 5 request/response: publishes `payload` to `topic` with this client's
   * response topic and a fresh Correlation Data, and resolves with the reply
   * (the first message on the response topic with that Correlation Data).
   * Rejects with RequestTimeoutError after `timeout` ms (default 30000).
   */
  request(topic: string, payload: Payload, options: RequestOptions = {}): Promise<Message> {
    if (this.requests === null) return Promise.reject(needsV5('request()'))
    if (this.isEnding()) return Promise.reject(new ClientEndedError())
    return this.requests.request(topic, payload, options)
  }

  /** MQTT 5: replies to a request: publishes to its Response Topic with its Correlation Data. */
  respond(request: Message, payload: Payload, options: RespondOptions = {}): Promise<PublishResult> {
    const rp = request.properties
    if (rp?.responseTopic === undefined) {
      return Promise.reject(
        new PetrelError(
          ClientErrorCode.INVALID_PROPERTY,
          `the message on ${request.topic} has no Response Topic`,
        ),
      )
    }
    const properties: PublishProperties = { ...options.properties }
    if (rp.correlationData !== undefined) properties.correlationData = rp.correlationData
    return this.publish(rp.responseTopic, payload, { qos: options.qos ?? request.qos, properties })
  }

  /**
   * MQTT 5: re-authenticates on the live connection (AUTH 0x19 [MQTT-4.12.1-1]) with
   * the `auth` handler; resolves once the broker's AUTH 0x00 verified. A refusal
   * comes as a DISCONNECT from the broker (this rejects, and the client reconnects).
   */
  reauthenticate(): Promise<void> {
    if (this.auth === null) {
      return Promise.reject(new AuthError('reauthenticate() needs protocolVersion: 5 and an auth handler'))
    }
    if (this.life.state !== 'connected') return Promise.reject(new AuthError('not connected'))
    return this.auth.reauthenticate()
  }

  /**
   * Every message from now on (the first consumer also gets those that arrived
   * before it), through a buffer of `bufferSize`; reading pauses while it is full.
   * Ends when the client closes.
   */
  messages(options: { bufferSize?: number } = {}): AsyncIterableIterator<Message, undefined> {
    return this.inbox.stream(options.bufferSize)
  }

  /**
   * Sends DISCONNECT and resolves once closed; `force` drops the connection at once.
   * MQTT 5: with a reason code (0x04 sends the will), Session Expiry Interval, reason string.
   */
  end(options: EndOptions = {}): Promise<void> {
    if (this.ended === null && options.force !== true) {
      const expiry = this.options.connectProperties?.sessionExpiryInterval ?? 0
      const bytes = disconnectPacket(options, this.v5, expiry, this.session.server.maximumPacketSize)
      if (bytes instanceof Error) return Promise.reject(bytes)
      this.disconnectBytes = bytes
    }
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
          this.held = null // packets held for an earlier connection's auth check are that connection's
          this.link.open()
          break
        case 'drop':
          this.link.drop()
          break
        case 'disconnect':
          this.link.end(this.disconnectBytes)
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
    const connack = this.connack!
    const props = connack.properties
    // [MQTT-3.2.2-16] an assigned id is this client's from now on, reconnects included
    if (props.assignedClientIdentifier !== undefined) this.link.clientId = props.assignedClientIdentifier
    // A session meant to outlive connections is resumed, not started anew, after a drop.
    if (this.v5 && (this.options.connectProperties?.sessionExpiryInterval ?? 0) > 0)
      this.link.cleanStart = false
    this.link.accepted(props.serverKeepAlive) // [MQTT-3.1.2-21]
    this.sessionPresent = sessionPresent
    this.session.resume(sessionPresent, this.v5 ? serverLimits(props) : undefined)
    if (first) this.firstConnect.resolve()
    this.emit('connect', this.v5 ? connack : { sessionPresent })
    const held = this.held
    this.held = null
    if (held !== null) for (const p of held) this.onPacket(p)
  }

  private closed(error: Error | undefined): void {
    this.cancelRetry()
    const ended = new ClientEndedError(error)
    this.session.failAll(ended)
    this.requests?.failAll(ended)
    this.auth?.abort(ended)
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
      if (this.v5 && p.type >= PacketType.DISCONNECT) this.v5Control(p)
      else this.session.handle(p)
    } else if (state === 'connecting') {
      if (this.held !== null) {
        this.held.push(p)
        return
      }
      if (p.type === PacketType.AUTH && this.auth !== null) {
        this.auth.receive(p)
        return
      }
      if (p.type !== PacketType.CONNACK) {
        // [MQTT-3.2.0-1] the first packet from the server is CONNACK
        throw new PetrelError(
          ClientErrorCode.UNEXPECTED_PACKET,
          `expected CONNACK, got packet type ${p.type}`,
        )
      }
      this.onConnack(p)
    }
  }

  private onConnack(p: ConnackPacket): void {
    const properties = p.properties ?? {}
    this.connack = { sessionPresent: p.sessionPresent, reasonCode: p.returnCode, properties }
    const input: LifecycleInput = {
      type: 'connack',
      returnCode: p.returnCode,
      sessionPresent: p.sessionPresent,
      v5: this.v5,
      properties: p.properties,
    }
    if (p.returnCode === 0 && p.sessionPresent && this.link.cleanStart) {
      // [MQTT-3.2.2-4] the client asked for a new session and holds no state for another
      throw reasonError(ReasonCode.PROTOCOL_ERROR, 'Session Present 1 after a Clean Start', 'MQTT-3.2.2-4')
    }
    if (this.v5 && p.returnCode !== 0) {
      if (isRedirect(p.returnCode) && properties.serverReference !== undefined) {
        this.emit('redirect', properties.serverReference, p.returnCode)
      }
    }
    if (p.returnCode !== 0 || this.auth === null) {
      this.input(input)
      return
    }
    if (properties.authenticationMethod !== this.auth.method) {
      // [MQTT-4.12.0-5] a successful CONNACK names the method of CONNECT
      throw reasonError(
        ReasonCode.PROTOCOL_ERROR,
        'CONNACK with another Authentication Method',
        'MQTT-4.12.0-5',
      )
    }
    // The broker's final data must verify before the client goes online; packets after it wait.
    const gen = this.link.generation
    this.held = []
    this.auth.connected(properties.authenticationData).then(
      () => {
        if (gen === this.link.generation) this.input(input)
        else this.held = null
      },
      (err: unknown) => {
        this.held = null
        if (gen === this.link.generation) {
          this.dropWith(
            new AuthError('the broker did not verify: the auth handler refused its data', undefined, err),
          )
        }
      },
    )
  }

  /** MQTT 5 DISCONNECT and AUTH on an accepted connection. */
  private v5Control(p: Packet): void {
    if (p.type === PacketType.AUTH) {
      if (this.auth === null) {
        // [MQTT-4.12.0-6] no AUTH to a client that did not ask for enhanced authentication
        throw reasonError(ReasonCode.PROTOCOL_ERROR, 'AUTH without enhanced authentication', 'MQTT-4.12.0-6')
      }
      this.auth.receive(p)
      return
    }
    if (p.type !== PacketType.DISCONNECT) {
      this.session.handle(p)
      return
    }
    const reasonCode = p.reasonCode ?? ReasonCode.SUCCESS
    const properties = p.properties ?? {}
    this.emit('disconnect', { reasonCode, properties })
    if (isRedirect(reasonCode) && properties.serverReference !== undefined) {
      this.emit('redirect', properties.serverReference, reasonCode)
    }
    const err = new ServerDisconnectError(reasonCode, p.properties)
    this.auth?.abort(err)
    this.input({ type: 'lost', error: err })
  }

  /** Ends the current connection for `err` (MQTT 5: with a DISCONNECT saying why). */
  private dropWith(err: Error): void {
    if (this.v5) {
      const reasonCode = err instanceof AuthError ? ReasonCode.NOT_AUTHORIZED : ReasonCode.UNSPECIFIED_ERROR
      this.link.send(encode({ type: PacketType.DISCONNECT, reasonCode }, PROTOCOL_V5))
      this.writer.flush()
    }
    this.input({ type: 'lost', error: err })
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
      deliver: (p) => {
        if (this.requests === null || !this.requests.take(p)) inbox.deliver(p)
      },
    }
  }
}

function publishTimedOut(job: PublishJob, timeout: number): void {
  job.timer = null
  job.reject(new PublishTimeoutError(timeout))
}

/**
 * Connects to an MQTT broker (3.1.1 by default, 5.0 with `protocolVersion: 5`) and
 * resolves once it accepted the connection. Rejects with ConnackRefusedError
 * (carrying the return or reason code), ConnectTimeoutError, ConnectFailedError or
 * AuthError; later losses are handled by reconnecting.
 */
export async function connect(url: string | URL, options: ClientOptions = {}): Promise<Client> {
  const client = new Client(resolveClientOptions(url, options))
  await client.start()
  return client
}
