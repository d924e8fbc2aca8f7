import type { InflightEntry } from '../session/outbound.js'

/**
 * An unfinished outgoing QoS 1/2 flow, as OutboundFlow tracks it without what the
 * client attached: the PUBLISH bytes while waiting for PUBACK or PUBREC, the
 * PUBREL bytes once PUBREC arrived.
 */
export type StoredFlow = Readonly<Omit<InflightEntry<unknown>, 'ctx'>>

/**
 * Where the client keeps unacknowledged QoS 1/2 messages. The memory store is
 * the default; a durable store (a file, SQLite) keeps them across a process
 * restart: a new client given the same store re-sends them at its first
 * connection, with their packet ids, before anything else [MQTT-4.4.0-1].
 *
 * Calls are synchronous and on the publish path: a durable store should buffer
 * them and commit once per event-loop turn. `put` is called before the bytes are
 * written; the same packet id is put again when its state changes (PUBREC).
 */
export interface OutboundStore {
  put(flow: StoredFlow): void
  delete(packetId: number): void
  /** The flows to resume, in the order they were first sent. */
  load(): Iterable<StoredFlow>
}

/** Keeps flows in memory: they survive reconnects and a new client given the same store, not a restart. */
export class MemoryOutboundStore implements OutboundStore {
  private readonly flows = new Map<number, StoredFlow>()

  put(flow: StoredFlow): void {
    // A Map keeps first-insertion order, which is the re-send order.
    this.flows.set(flow.packetId, flow)
  }

  delete(packetId: number): void {
    this.flows.delete(packetId)
  }

  load(): Iterable<StoredFlow> {
    return [...this.flows.values()]
  }

  get size(): number {
    return this.flows.size
  }
}
