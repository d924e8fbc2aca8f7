import { randomBytes } from 'node:crypto'
import type { JsMsg } from '@nats-io/jetstream'
import { qosOf } from '../broker/subscription.js'
import { SESSION_NEVER_EXPIRES } from '../protocol/constants.js'
import type { Store, StoredDelivery, StoredSubscription, StoreSnapshot } from '../store/store.js'
import { Feeds } from './feeds.js'
import { newRecord, type SessionRecord, type SessionRecords } from './session-records.js'

/**
 * The broker's Store when it is a node of a cluster: persistent sessions are kept cluster-wide,
 * not on this machine. A session's subscriptions, QoS 2 ids and flows past PUBREC go to its
 * record in the sessions bucket (SessionRecords), its QoS 1/2 subscriptions become JetStream
 * consumers (Feeds), and its deliveries are JetStream's messages: acknowledged to JetStream
 * when their flow ends. Everything a turn wrote is in NATS when its commit resolves, before the
 * turn's acknowledgements (SUBACK, PUBREC, PUBCOMP ...) leave. Retained messages are the
 * cluster's own (RetainedSync), not written here.
 */
export class ClusterStore implements Store {
  /** What the turn asked of JetStream besides the records (consumers made or deleted), by client. */
  private pending: { p: Promise<unknown>; clientId: string }[] = []
  /** JetStream messages to acknowledge once the records written this turn are in the bucket. */
  private ackAfter: { js: JsMsg; clientId: string }[] = []
  /** The QoS 2 PUBLISH just received from a persistent session's client, and its message id's nonce. */
  lastInbound: { clientId: string; packetId: number; nonce: string } | null = null

  constructor(
    private readonly records: SessionRecords,
    private readonly feeds: Feeds,
    private readonly node: string,
    private readonly origin: number,
    /** A session that became the cluster's: its QoS 1/2 messages now come from its consumers. */
    private readonly madeDurable: (clientId: string) => void,
    /** What the turn wrote for `clientId` is not in NATS: its acknowledgements must not leave. */
    private readonly refuse: (clientId: string, err: unknown) => void,
  ) {}

  private push(clientId: string, ps: Promise<unknown>[]): void {
    for (const p of ps) this.pending.push({ p, clientId })
  }

  load(): StoreSnapshot {
    return { sessions: [], retained: [] } // sessions are read when their clients come back
  }

  private record(clientId: string): SessionRecord | undefined {
    return this.records.held.get(clientId)
  }

  saveSession(clientId: string, disconnectedAt: number, expiryInterval?: number): void {
    let r = this.record(clientId)
    if (r === undefined) {
      r = newRecord(this.node, this.origin, expiryInterval ?? SESSION_NEVER_EXPIRES)
      this.records.hold(clientId, r)
      this.madeDurable(clientId)
    }
    r.disconnectedAt = disconnectedAt
    if (expiryInterval !== undefined) r.expiry = expiryInterval
    this.records.changed(clientId)
    if (disconnectedAt > 0) this.feeds.stop(clientId, false)
  }

  deleteSession(clientId: string): void {
    const r = this.record(clientId)
    if (r === undefined) return
    this.push(clientId, this.feeds.deleteAll(clientId, r))
    this.records.remove(clientId)
  }

  saveSubscription(clientId: string, filter: string, sub: StoredSubscription): void {
    const r = this.record(clientId)
    if (r === undefined) return
    const i = r.subs.findIndex(([f]) => f === filter)
    if (i >= 0) r.subs[i] = [filter, sub]
    else r.subs.push([filter, sub])
    this.records.changed(clientId)
    const qos = qosOf(sub)
    if (Feeds.durable(filter, qos)) this.push(clientId, this.feeds.ensure(clientId, r, filter))
    else if (Feeds.durable(filter, 1)) this.push(clientId, this.feeds.drop(clientId, r, filter))
  }

  deleteSubscription(clientId: string, filter: string): void {
    const r = this.record(clientId)
    if (r === undefined) return
    const i = r.subs.findIndex(([f]) => f === filter)
    if (i < 0) return
    const [, sub] = r.subs[i]!
    r.subs.splice(i, 1)
    this.records.changed(clientId)
    const qos = qosOf(sub)
    if (Feeds.durable(filter, qos)) this.push(clientId, this.feeds.drop(clientId, r, filter))
  }

  addDelivery(clientId: string, d: StoredDelivery): void {
    this.feeds.added(clientId, d.seq)
  }

  updateDelivery(clientId: string, seq: number, packetId: number, released: boolean): void {
    if (!released) return // its packet id: a new node sends it again under another (see docs/cluster.md)
    const f = this.feeds.get(clientId, seq)
    const r = this.record(clientId)
    if (f === undefined || r === undefined || f.released) return
    this.feeds.release(f)
    const js = f.held.js
    r.released.push([packetId, f.held.streamSeq, ackSubject(js)])
    this.records.changed(clientId)
    if (js !== null) this.ackAfter.push({ js, clientId })
  }

  deleteDelivery(clientId: string, seq: number): void {
    const f = this.feeds.take(clientId, seq) // a QoS 1 delivery's JetStream message is acknowledged there
    if (f === undefined || !f.released) return
    const r = this.record(clientId)
    if (r === undefined) return
    const i = r.released.findIndex(([, s]) => s === f.held.streamSeq)
    if (i >= 0) {
      r.released.splice(i, 1)
      this.records.changed(clientId)
    }
  }

  addInboundQos2(clientId: string, packetId: number): void {
    const r = this.record(clientId)
    if (r === undefined || r.inbound.some(([id]) => id === packetId)) return
    const nonce = randomBytes(6).toString('hex')
    r.inbound.push([packetId, nonce])
    this.records.changed(clientId)
    this.lastInbound = { clientId, packetId, nonce }
  }

  /** The nonce of a QoS 2 packet id awaiting PUBREL, if the session's record has one. */
  nonceOf(clientId: string, packetId: number): string | null {
    const e = this.record(clientId)?.inbound.find(([id]) => id === packetId)
    return e === undefined ? null : e[1]
  }

  deleteInboundQos2(clientId: string, packetId: number): void {
    const r = this.record(clientId)
    if (r === undefined) return
    const i = r.inbound.findIndex(([id]) => id === packetId)
    if (i < 0) return
    r.inbound.splice(i, 1)
    this.records.changed(clientId)
  }

  setRetained(): void {
    // the cluster's retained messages are kept by RetainedSync
  }

  /**
   * Settles when NATS has what the turn wrote. It never fails the turn: a client whose record or
   * consumers were not written loses the turn's acknowledgements (its connection ends, see
   * ClusterHost.unstored) and its record is written again at the next commit.
   */
  commit(): void | Promise<void> {
    const acks = this.ackAfter
    this.ackAfter = []
    const parts = this.records.flush()
    if (this.pending.length > 0) {
      parts.push(...this.pending)
      this.pending = []
    }
    if (parts.length === 0 && acks.length === 0) return
    return Promise.all(
      parts.map(({ p, clientId }) =>
        p.then(
          () => null,
          (err: unknown) => ({ clientId, err }),
        ),
      ),
    ).then((outcomes) => {
      const failed = new Set<string>()
      for (const o of outcomes) {
        if (o === null || failed.has(o.clientId)) continue
        failed.add(o.clientId)
        this.refuse(o.clientId, o.err)
      }
      // Past PUBREC: JetStream is told once the record keeps it, and the PUBREL waits until JetStream
      // confirms. Its record entry goes at PUBCOMP: a node that dies then must not leave a message
      // JetStream would send again to a client that has it.
      const told = acks.filter((a) => !failed.has(a.clientId))
      if (told.length === 0) return
      return Promise.all(
        told.map((a) =>
          a.js.ackAck().then(
            (ok) => {
              if (!ok) this.refuse(a.clientId, new Error('JetStream did not confirm an acknowledgement'))
            },
            (err: unknown) => this.refuse(a.clientId, err),
          ),
        ),
      ).then(() => undefined)
    })
  }

  close(): void {}
}

/**
 * The subject that acknowledges a JetStream message (its reply subject: the client's message has
 * it, its type does not say so); '' when there is none.
 */
function ackSubject(m: JsMsg | null): string {
  const reply = (m as { reply?: unknown } | null)?.reply
  return typeof reply === 'string' ? reply : ''
}
