import { SESSION_NEVER_EXPIRES } from '../../protocol/constants.js'
import type {
  Store,
  StoredDelivery,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoreSnapshot,
} from '../store.js'

interface MemSession {
  disconnectedAt: number
  expiryInterval: number
  subscriptions: Map<string, StoredSubscription>
  deliveries: Map<number, StoredDelivery>
  inbound: Set<number>
}

/**
 * The memory engine: nothing survives the process, but a MemoryStore handed to
 * a new Broker in the same process gives it the old one's persistent sessions
 * and retained messages (handy in tests and for in-process restarts).
 * Writes apply at once; commit() has nothing to do.
 */
export class MemoryStore implements Store {
  private readonly sessions = new Map<string, MemSession>()
  private readonly retained = new Map<string, StoredMessage>()

  load(): StoreSnapshot {
    const sessions: StoredSession[] = []
    for (const [clientId, s] of this.sessions) {
      sessions.push({
        clientId,
        subscriptions: [...s.subscriptions].map(([f, sub]) => [f, copySub(sub)]),
        deliveries: [...s.deliveries.values()].sort((a, b) => a.seq - b.seq).map((d) => ({ ...d })),
        inboundQos2: [...s.inbound],
        disconnectedAt: s.disconnectedAt,
        expiryInterval: s.expiryInterval,
      })
    }
    return { sessions, retained: [...this.retained.values()] }
  }

  private session(clientId: string): MemSession {
    let s = this.sessions.get(clientId)
    if (s === undefined) {
      s = {
        disconnectedAt: 0,
        expiryInterval: SESSION_NEVER_EXPIRES,
        subscriptions: new Map(),
        deliveries: new Map(),
        inbound: new Set(),
      }
      this.sessions.set(clientId, s)
    }
    return s
  }

  saveSession(clientId: string, disconnectedAt: number, expiryInterval?: number): void {
    const s = this.session(clientId)
    s.disconnectedAt = disconnectedAt
    if (expiryInterval !== undefined) s.expiryInterval = expiryInterval
  }
  deleteSession(clientId: string): void {
    this.sessions.delete(clientId)
  }
  saveSubscription(clientId: string, filter: string, sub: StoredSubscription): void {
    // a copy: the broker's own object may change after this call
    this.session(clientId).subscriptions.set(filter, copySub(sub))
  }
  deleteSubscription(clientId: string, filter: string): void {
    this.sessions.get(clientId)?.subscriptions.delete(filter)
  }
  addDelivery(clientId: string, d: StoredDelivery): void {
    this.session(clientId).deliveries.set(d.seq, { ...d })
  }
  updateDelivery(clientId: string, seq: number, packetId: number, released: boolean): void {
    const d = this.sessions.get(clientId)?.deliveries.get(seq)
    if (d !== undefined) {
      d.packetId = packetId
      d.released = released
    }
  }
  deleteDelivery(clientId: string, seq: number): void {
    this.sessions.get(clientId)?.deliveries.delete(seq)
  }
  addInboundQos2(clientId: string, packetId: number): void {
    this.session(clientId).inbound.add(packetId)
  }
  deleteInboundQos2(clientId: string, packetId: number): void {
    this.sessions.get(clientId)?.inbound.delete(packetId)
  }
  setRetained(msg: StoredMessage): void {
    if (msg.payload.length === 0) this.retained.delete(msg.topic)
    // a copy of the fields stored, as a durable engine keeps them (not the broker's live object)
    else
      this.retained.set(msg.topic, {
        topic: msg.topic,
        payload: msg.payload,
        qos: msg.qos,
        retain: msg.retain,
        properties: msg.properties ?? null,
        expiresAt: msg.expiresAt ?? 0,
      })
  }
  commit(): void {}
  close(): void {}
  /** Nothing on disk: no size to tell. */
  sizeBytes(): null {
    return null
  }
}

function copySub(sub: StoredSubscription): StoredSubscription {
  if (typeof sub === 'number') return sub
  const { qos, noLocal, retainAsPublished, retainHandling, subscriptionId } = sub
  return { qos, noLocal, retainAsPublished, retainHandling, subscriptionId }
}
