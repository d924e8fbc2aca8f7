import { EventEmitter } from 'node:events'
import { PetrelError } from '../errors.js'
import { PacketType, PROTOCOL_V5, type QoS, ReasonCode } from '../protocol/constants.js'
import { encode } from '../protocol/encoder.js'
import type { ConnackPacket, Packet, PublishPacket } from '../protocol/packets.js'
import { reasonError } from './aliases.js'
import type { ClientEvents, ConnackInfo, PublishOptions, SubscribeOptions } from './api.js'
import { AuthExchange } from './auth.js'
import { AuthError, ClientEndedError, ClientErrorCode, ServerDisconnectError } from './errors.js'
import { Inbox } from './inbox.js'
import { type Effect, Lifecycle, type LifecycleInput } from './lifecycle.js'
import { asError, Link } from './link.js'
import type { Payload, ResolvedClientOptions } from './options.js'
import { Pending, type PublishResult } from './pending.js'
import { isRedirect } from './reasons.js'
import { Requests } from './requests.js'
import { serverLimits } from './server-limits.js'
import { ClientSession, type SessionHost } from './session.js'
import { Writer } from './writer.js'

/**
 * The connection engine under Client: it carries out the Lifecycle machine's effects
 * (open, drop, retry timers, online, closed), takes the current Link's packets (the
 * CONNACK and MQTT 5 enhanced-authentication handshake, then DISCONNECT and AUTH), and
 * hands the rest to the ClientSession. The public API is Client (client.ts).
 */
export abstract class ClientCore extends EventEmitter<ClientEvents> {
  readonly options: ResolvedClientOptions
  /** Session present flag of the last CONNACK. */
  sessionPresent = false
  /** The last CONNACK that accepted a connection; null before the first. */
  connack: ConnackInfo | null = null
  protected readonly life: Lifecycle
  private readonly writer = new Writer()
  protected readonly session: ClientSession
  protected readonly inbox: Inbox
  protected readonly link: Link
  private retryTimer: NodeJS.Timeout | null = null
  private readonly firstConnect = new Pending<void>()
  private readonly firstConnected: Promise<void>
  /** `end()`'s promise, made by the first call. */
  protected ended: Promise<void> | null = null
  protected endedPending: Pending<void> | null = null
  protected readonly v5: boolean
  protected readonly auth: AuthExchange | null = null
  protected readonly requests: Requests | null = null
  /** Packets that came after a CONNACK while the auth handler checks it; null when not checking. */
  private held: Packet[] | null = null
  /** The DISCONNECT `end()` sends. */
  protected disconnectBytes: Buffer | undefined

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

  /** @internal opens the first connection; resolves on CONNACK 0. */
  start(): Promise<void> {
    this.run(this.life.start())
    return this.firstConnected
  }

  /** (Client) what request/response publishes and subscribes with. */
  abstract publish(topic: string, payload: Payload, options?: PublishOptions): Promise<PublishResult>
  abstract subscribe(
    filters: string | string[] | Record<string, QoS>,
    options?: SubscribeOptions,
  ): Promise<number[]>

  // --- lifecycle effects ------------------------------------------------------------------

  protected input(i: LifecycleInput): void {
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
