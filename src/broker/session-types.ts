import type { ProtocolVersion, QoS } from '../protocol/constants.js'
import type { ConnectProperties } from '../protocol/packets.js'
import type { BrokerStats } from './events.js'
import type { Message } from './message.js'
import type { Notable } from './notable.js'
import type { Logger } from './options.js'
import type { SharedGroup } from './shared.js'

/** What a session needs from the connection currently attached to it. */
export interface SessionLink {
  /** The version its CONNECT asked for (absent: 3.1.1): PUBLISHes go out in that form. */
  readonly protocolVersion?: ProtocolVersion
  /** MQTT 5: its CONNECT's properties (Receive Maximum, Maximum Packet Size, Topic Alias Maximum). */
  readonly connectProperties?: ConnectProperties | undefined
  /** Queues bytes for the socket (flushed once per event-loop turn): `packets` packets (default 1). */
  send(bytes: Buffer, packets?: number): void
  /** Bytes written but not yet taken by the socket. */
  readonly outputBacklog: number
  /** Bytes the socket has taken so far: grows while the peer reads. */
  readonly flushed: number
  /** Stops reading this publisher until `resume()`. */
  pauseReading(): void
  resumeReading(): void
  /** Ends the connection as a slow consumer (abnormal: its will is published). */
  dropSlowConsumer(): void
  /** Ends the connection: another one with the same client id takes the session over. */
  takenOver(): void
  /**
   * What it published this turn was not stored (a cluster's JetStream did not take it): its
   * acknowledgements waiting for the turn's commit are dropped and the connection ends.
   */
  unstored(): void
}

/**
 * A message on its way to this client; `seq` is its key in the store (0 when not stored).
 * `Member` is the type of a shared group's members (Session; a parameter here so that this
 * file does not import session.ts).
 */
export interface Queued<Member = unknown> {
  msg: Message
  qos: QoS
  retain: boolean
  seq: number
  /** MQTT 5: identifiers of the subscriptions that matched, sent with the message; null when none. */
  subIds: number[] | null
  /** The shared subscription it came by: it goes to another member if this client leaves first. */
  group?: SharedGroup<Member> | null | undefined
}

export interface SessionLimits {
  maxInflight: number
  maxQueuedMessages: number
  maxOutputBuffer: number
  slowConsumerTimeout: number
  stuckConsumerWindow: number
  logger: Logger
  /** Where a run of dropped messages is told (rate-limited); absent: logged with `logger`. */
  notable?: Notable | undefined
  /** Milliseconds on a monotonic clock (performance.now(); a test may give its own). */
  now: () => number
}

/**
 * The broker's counters a session adds to (BrokerStats): drops by reason, expired messages,
 * PUBLISHes sent by version and QoS, deliveries refused by authorizeRead.
 */
export type SessionCounters = Pick<
  BrokerStats,
  | 'dropped'
  | 'drops'
  | 'expired'
  | 'publishOut'
  | 'publishOutBytes'
  | 'publishPayloadOut'
  | 'denied'
  | 'sessionsExpired'
>
