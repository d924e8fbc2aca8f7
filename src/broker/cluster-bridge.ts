import type { Store, StoredSubscription } from '../store/store.js'
import type { Message } from './message.js'
import type { Logger } from './options.js'
import type { Session } from './session.js'

/**
 * The seam between a broker and the cluster it belongs to (src/cluster/, loaded only when
 * `cluster` is configured). The broker calls the bridge as messages, subscriptions and
 * clients come and go on this node; the cluster calls the ClusterHost with what other nodes
 * sent. Nothing here blocks: what must be durable before an acknowledgement is awaited by
 * the end-of-turn commit (`commit`).
 */
export interface ClusterBridge {
  /** This node's name in the cluster. */
  readonly node: string
  /** The largest MQTT packet whose message fits in one NATS message (max_payload less the envelope's room). */
  readonly maxPacketSize: number
  /**
   * A message accepted on this node, already delivered to its local subscribers: to the
   * nodes with a matching subscription (QoS 0 over core NATS; QoS 1/2 into JetStream,
   * durable once the turn's `commit` resolves).
   */
  forward(msg: Message): void
  /**
   * A QoS 2 PUBLISH sent again (DUP) for a packet id already awaiting PUBREL: when the session
   * came from a node that died before its PUBREC, the message is stored once, whatever that
   * node did (the turn's commit waits for it).
   */
  resent(msg: Message, packetId: number): void
  /** The first local subscription to `filter` (`$share/…` included): this node wants its messages. */
  subscribed(filter: string): void
  /** The last local subscription to `filter` is gone. */
  unsubscribed(filter: string): void
  /** A retained message set (or deleted: empty payload) on this node: kept cluster-wide. */
  retain(msg: Message): void
  /**
   * The broker's store while it is a node: persistent sessions are kept cluster-wide (their
   * records in a bucket, their QoS 1/2 messages in JetStream), so a client resumes on any node.
   */
  readonly store: Store
  /**
   * A client is about to connect here: a session another node holds is handed over first (that
   * node closes the client's connection there and writes what it has), then taken from the
   * bucket (`host.adopt`), or deleted when the client starts clean. Null when there is nothing
   * to wait for.
   */
  claim(clientId: string, cleanStart: boolean): Promise<void> | null
  /** A client connected here: a connection of the same client id on another node is taken over. */
  connected(clientId: string, at: number): void
  /** What this turn sent to JetStream, settled (acknowledged by it); null when nothing was sent. */
  commit(): Promise<void> | null
  /** What the cluster looks like from this node, for operators. */
  status(): ClusterStatus
  /** Leaves the cluster: drains the NATS connection. */
  close(): Promise<void>
}

/** What the cluster asks of the broker it serves. */
export interface ClusterHost {
  readonly log: Logger
  /**
   * A message from another node (or, for a shared subscription, possibly this one): to the
   * local subscribers, or to one member of the local shared subscription `shared`.
   */
  deliverRemote(msg: Message, shared: string | null): void
  /** The cluster's retained message of `topic` changed (null: deleted). */
  setRetained(topic: string, msg: Message | null): void
  /** A client connected on another node at `at`: its connection here, older, is taken over. */
  takenOver(clientId: string, at: number): void
  /** Something was sent to JetStream this turn: the end-of-turn commit must wait for it. */
  wrote(): void
  /**
   * What `clientId` published this turn was not stored by the cluster: its acknowledgements of
   * the turn must not leave, and its connection ends (MQTT 5: DISCONNECT 0x89 Server busy), for
   * it to send them again.
   */
  unstored(clientId: string): void
  /** The session of `clientId` on this node, if any. */
  session(clientId: string): Session | undefined
  /**
   * Another node takes the session of `clientId`: its connection here is closed (taken over,
   * MQTT 5 0x8E) and the session leaves this node, its state written; resolves when done.
   */
  release(clientId: string): Promise<void>
  /** A session held by another node until now is this node's: made from its record. */
  adopt(clientId: string, r: AdoptedSession): Session
}

/** A session as another node left it (see SessionRecord). */
export interface AdoptedSession {
  expiry: number
  disconnectedAt: number
  subs: [filter: string, sub: StoredSubscription][]
  inbound: number[]
  /** QoS 2 flows past PUBREC: their PUBREL is sent again when the client is back [MQTT-4.4.0-1]. */
  released: [packetId: number, streamSeq: number, ackSubject: string][]
}

/** The cluster as one node sees it. */
export interface ClusterStatus {
  node: string
  /** Whether the NATS connection is up now. */
  connected: boolean
  /** The NATS server this node is connected to, when connected. */
  server: string | null
  /** Other nodes heard from in the last minute, with when they were last heard (ms since epoch). */
  nodes: { node: string; lastSeen: number; connections: number }[]
  /** Messages sent to and received from other nodes since start. */
  forwarded: number
  received: number
  /** QoS 1/2 messages sent to JetStream and not yet acknowledged by it. */
  pendingAcks: number
  /** NATS subscriptions this node holds for its local subscriptions' interest. */
  interest: number
  /** Persistent sessions this node holds (their records). */
  sessions: number
  /**
   * The JetStream stream of QoS 1/2 messages, as last read (every few seconds): the messages it
   * holds are those some session's consumer has not acknowledged yet (the cluster's lag).
   */
  stream: { messages: number; bytes: number; consumers: number; at: number } | null
}
