import type { Message } from './message.js'
import type { Logger } from './options.js'

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
  /**
   * A message accepted on this node, already delivered to its local subscribers: to the
   * nodes with a matching subscription (QoS 0 over core NATS; QoS 1/2 into JetStream,
   * durable once the turn's `commit` resolves).
   */
  forward(msg: Message): void
  /** The first local subscription to `filter` (`$share/…` included): this node wants its messages. */
  subscribed(filter: string): void
  /** The last local subscription to `filter` is gone. */
  unsubscribed(filter: string): void
  /** A retained message set (or deleted: empty payload) on this node: kept cluster-wide. */
  retain(msg: Message): void
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
}
