import type { QoS } from '../protocol/constants.js'
import type { PublishProperties } from '../protocol/packets.js'

/**
 * What a broker keeps across restarts, and the one interface every storage
 * engine implements (memory, SQLite; Redis later). The broker calls the write
 * methods as state changes during an event-loop turn and `commit()` once at the
 * end of the turn, before any acknowledgement of that turn reaches a socket:
 * group commit, so a PUBACK/PUBREC is only sent for a message that is durable.
 *
 * Only persistent sessions (clean session 0) and retained messages are stored;
 * clean sessions live and die with their connection.
 */

export interface StoredMessage {
  topic: string
  payload: Buffer
  /** QoS of this delivery (already min(published, granted)). */
  qos: QoS
  retain: boolean
  /**
   * MQTT 5 properties of the message, less Topic Alias, Message Expiry Interval and
   * Subscription Identifiers; null or absent when it has none.
   */
  properties?: PublishProperties | null | undefined
  /** Date.now() after which the message is expired [MQTT-3.3.2-5]; 0 or absent: never. */
  expiresAt?: number | undefined
}

/**
 * A message on its way to one client. `seq` orders a client's messages; it
 * increases and is never reused. `packetId` is 0 until the message is sent.
 */
export interface StoredDelivery extends StoredMessage {
  seq: number
  packetId: number
  /** 0: queued or PUBLISH sent (awaiting PUBACK/PUBREC); 1: PUBREL sent (awaiting PUBCOMP). */
  released: boolean
  /** MQTT 5 Subscription Identifiers sent with the message [MQTT-3.3.4-3]; null or absent: none. */
  subIds?: number[] | null | undefined
}

/**
 * MQTT 5 options of a subscription (a subscription with every option at its default is
 * stored as its QoS alone). `subscriptionId` 0 means none.
 */
export interface SubscriptionOptions {
  qos: QoS
  noLocal: boolean
  retainAsPublished: boolean
  retainHandling: 0 | 1 | 2
  subscriptionId: number
}

/** A subscription as kept: its maximum QoS (MQTT 3.1.1, or 5 with default options), or its options. */
export type StoredSubscription = QoS | SubscriptionOptions

export interface StoredSession {
  clientId: string
  /** Ordinary and shared (`$share/{group}/{filter}`) subscriptions, by their filter as subscribed. */
  subscriptions: [filter: string, sub: StoredSubscription][]
  /** Messages for the client, in seq order: those in flight first, then the queue. */
  deliveries: StoredDelivery[]
  /** QoS 2 packet ids received from the client and awaiting PUBREL. */
  inboundQos2: number[]
  /** When the client disconnected (ms since epoch); 0 while connected or unknown. */
  disconnectedAt: number
  /**
   * Session Expiry Interval in seconds (MQTT 5, 3.1.2.11.2): how long the session outlives
   * its connection. SESSION_NEVER_EXPIRES (0xFFFFFFFF) for a 3.1.1 persistent session and for
   * sessions stored before MQTT 5 (the broker's sessionExpiry option still applies).
   */
  expiryInterval: number
}

/**
 * Payloads up to this many bytes are kept by the broker's retained trie as latin1 strings (one
 * character per byte): a Buffer object costs more than a small payload.
 */
export const INLINE_PAYLOAD_MAX = 4096

/**
 * A retained message as the broker keeps it: a StoredMessage is one, and a store may give the
 * payload as a latin1 string of its bytes (the trie's own form, see INLINE_PAYLOAD_MAX) so that
 * loading a million of them makes no Buffer for each.
 */
export interface StoredRetained {
  topic: string
  payload: Buffer | string
  qos: QoS
  properties?: PublishProperties | null | undefined
  /** Date.now() after which the message is expired [MQTT-3.3.2-5]; 0 or absent: never. */
  expiresAt?: number | undefined
}

export interface StoreSnapshot {
  sessions: StoredSession[]
  /**
   * The retained messages: an array, or an iterable read as it is consumed (the SQLite store
   * streams its rows, so a million of them are never all held at once). It is consumed once,
   * before the broker writes anything to the store.
   */
  retained: Iterable<StoredRetained>
}

export interface Store {
  /** Reads everything back at start. */
  load(): StoreSnapshot | Promise<StoreSnapshot>

  /**
   * Records a persistent session, or when its client disconnected. `expiryInterval` (seconds)
   * replaces the stored one when given; a new session without one gets SESSION_NEVER_EXPIRES.
   */
  saveSession(clientId: string, disconnectedAt: number, expiryInterval?: number): void
  deleteSession(clientId: string): void
  /** Adds or replaces the subscription of `clientId` to `filter`. */
  saveSubscription(clientId: string, filter: string, sub: StoredSubscription): void
  deleteSubscription(clientId: string, filter: string): void

  /** A message for a client: queued (packetId 0) or sent. */
  addDelivery(clientId: string, d: StoredDelivery): void
  /** The message with `seq` was sent with `packetId`, or its PUBREL was (`released`). */
  updateDelivery(clientId: string, seq: number, packetId: number, released: boolean): void
  /** The flow of the message with `seq` completed, or the message was dropped. */
  deleteDelivery(clientId: string, seq: number): void

  addInboundQos2(clientId: string, packetId: number): void
  deleteInboundQos2(clientId: string, packetId: number): void

  /** Stores the retained message of its topic, or deletes the topic's (`payload` empty). */
  setRetained(msg: StoredMessage): void

  /**
   * Makes every write since the last commit durable, at once. A networked engine may
   * answer with a Promise: the broker then holds the acknowledgements of those writes
   * until it resolves, and commits of later turns wait in order behind it. A rejection
   * closes the connections whose output waited for it (nothing is acknowledged).
   */
  commit(): void | Promise<void>
  /** Commits and releases the engine. */
  close(): void
  /**
   * At a clean stop, just before `close()`: every retained message the broker holds (the same
   * as the store's), for a store that can load them faster from a copy of its own than from
   * its tables (SQLite: retained-snapshot.ts). The stored messages stay the truth.
   */
  saveRetainedSnapshot?(entries: Iterable<StoredRetained>): void
  /**
   * Bytes the engine's data takes where it keeps it (SQLite: the database file and its WAL), for
   * the store-size metric; null or absent when it cannot tell. Called at most once a second or so.
   */
  sizeBytes?(): number | null
}
