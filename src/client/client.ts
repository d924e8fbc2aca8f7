import { PetrelError } from '../errors.js'
import type { QoS } from '../protocol/constants.js'
import type { PublishProperties } from '../protocol/packets.js'
import { isValidTopicName } from '../protocol/topic.js'
import type {
  EndOptions,
  PublishOptions,
  RespondOptions,
  SubscribeOptions,
  UnsubscribeOptions,
} from './api.js'
import {
  checkPublishProperties,
  disconnectPacket,
  invalidQoS,
  isSendableFilter,
  needsV5,
  subscribeArgs,
} from './checks.js'
import { ClientCore } from './client-core.js'
import {
  AuthError,
  ClientEndedError,
  ClientErrorCode,
  InvalidTopicError,
  PublishTimeoutError,
} from './errors.js'
import type { Message } from './inbox.js'
import type { LifecycleState } from './lifecycle.js'
import {
  type ClientOptions,
  type Payload,
  type ResolvedClientOptions,
  resolveClientOptions,
  toBuffer,
} from './options.js'
import { Pending, PublishJob, type PublishResult } from './pending.js'
import type { RequestOptions } from './requests.js'

/** The client's public option, event and result types. */
export type * from './api.js'

/**
 * An MQTT 3.1.1 or 5.0 client. Made by `connect()`; it reconnects by itself until
 * `end()`. The connection lifecycle is the Lifecycle machine, the transport
 * connection of the moment is a Link, the MQTT session (QoS flows,
 * subscriptions, queue) is ClientSession; ClientCore (client-core.ts) carries out
 * the lifecycle's effects, this class is the public API.
 */
export class Client extends ClientCore {
  /** Use `connect()`. */
  constructor(options: ResolvedClientOptions) {
    super(options)
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
