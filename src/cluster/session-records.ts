import { randomBytes } from 'node:crypto'
import { type KV, Kvm } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import type { StoredSubscription } from '../store/store.js'
import { fromToken, tokenOf } from './subject.js'

/** The key-value bucket of the cluster's persistent sessions (key: the client id's token). */
export const SESSIONS_BUCKET = 'petrel_sessions'

/**
 * A persistent session as the cluster keeps it, whichever node its client is on. Its QoS 1/2
 * messages are not here: they wait in JetStream, in the session's consumers (see Feeds).
 */
export interface SessionRecord {
  /** This incarnation of the session (a new one after Clean Start): its consumers' names derive from it. */
  id: string
  /** The node that holds it now: its name, and its process's origin number. */
  node: string
  origin: number
  /** Session Expiry Interval, seconds. */
  expiry: number
  /** When its client left (ms since epoch); 0 while connected. */
  disconnectedAt: number
  subs: [filter: string, sub: StoredSubscription][]
  /**
   * QoS 2 packet ids received from the client, awaiting PUBREL, each with the nonce of its
   * JetStream message id (so a PUBLISH sent again to another node is stored once).
   */
  inbound: [packetId: number, nonce: string][]
  /**
   * QoS 2 deliveries past PUBREC, awaiting PUBCOMP: packet id, stream sequence, and the subject
   * that acknowledges the message to JetStream (a node taking the session over acknowledges it
   * again: the node that had it may have died before JetStream heard).
   */
  released: [packetId: number, streamSeq: number, ackSubject: string][]
}

export function newRecord(node: string, origin: number, expiry: number): SessionRecord {
  return {
    id: randomBytes(8).toString('hex'),
    node,
    origin,
    expiry,
    disconnectedAt: 0,
    subs: [],
    inbound: [],
    released: [],
  }
}

/**
 * The records of the sessions this node holds, written to the bucket once per turn (the
 * turn's commit waits for them), and read when a client resumes its session on this node.
 */
export class SessionRecords {
  private kv: KV | null = null
  /** Sessions held by this node, by client id. */
  readonly held = new Map<string, SessionRecord>()
  private readonly dirty = new Set<string>()
  /** Records to delete at the next flush: client id -> the incarnation deleted. */
  private readonly deleted = new Map<string, string>()

  constructor(private readonly nc: NatsConnection) {}

  async start(replicas: number): Promise<void> {
    this.kv = await new Kvm(this.nc).create(SESSIONS_BUCKET, { history: 1, replicas })
  }

  /** The record as the bucket has it now, or null. */
  async read(clientId: string): Promise<SessionRecord | null> {
    return (await this.entry(tokenOf(clientId)))?.record ?? null
  }

  /** The record under `key` and its revision, or null (none, deleted, or not a record of ours). */
  private async entry(key: string): Promise<{ record: SessionRecord; revision: number } | null> {
    const e = await this.kv!.get(key)
    if (e === null || e.operation !== 'PUT') return null
    try {
      return { record: e.json<SessionRecord>(), revision: e.revision }
    } catch {
      return null
    }
  }

  /** Writes the held record of `clientId` now (before what must follow it). */
  writeNow(clientId: string): Promise<unknown> {
    const r = this.held.get(clientId)
    if (r === undefined || this.kv === null) return Promise.resolve()
    return this.kv.put(tokenOf(clientId), JSON.stringify(r))
  }

  /** Holds `r` on this node and writes it at the next flush. */
  hold(clientId: string, r: SessionRecord): void {
    this.held.set(clientId, r)
    this.deleted.delete(clientId)
    this.changed(clientId)
  }

  /** The held record changed: written at the next flush. */
  changed(clientId: string): void {
    this.dirty.add(clientId)
  }

  /** No longer held here (another node took it): nothing more is written for it. */
  release(clientId: string): void {
    this.held.delete(clientId)
    this.dirty.delete(clientId)
  }

  /** The session ended: its record is deleted at the next flush, if it is still this incarnation. */
  remove(clientId: string): void {
    const r = this.held.get(clientId)
    if (r === undefined) return
    this.held.delete(clientId)
    this.dirty.delete(clientId)
    this.deleted.set(clientId, r.id)
  }

  get pending(): boolean {
    return this.dirty.size > 0 || this.deleted.size > 0
  }

  /**
   * Writes what changed since the last flush; each write settles when the bucket has it. One that
   * fails is written again at the next flush if the record is still held here.
   */
  flush(): { p: Promise<unknown>; clientId: string }[] {
    const kv = this.kv
    if (kv === null) return []
    const out: { p: Promise<unknown>; clientId: string }[] = []
    for (const id of this.dirty) {
      const r = this.held.get(id)
      if (r === undefined) continue
      const p = kv.put(tokenOf(id), JSON.stringify(r))
      p.catch(() => {
        if (this.held.get(id) === r) this.dirty.add(id)
      })
      out.push({ p, clientId: id })
    }
    this.dirty.clear()
    for (const [id, incarnation] of this.deleted)
      out.push({ p: this.deleteIf(id, incarnation), clientId: id })
    this.deleted.clear()
    return out
  }

  /** Writes a record this node does not hold, if it is still incarnation `r.id` (the sweep). */
  async replace(clientId: string, r: SessionRecord): Promise<void> {
    const key = tokenOf(clientId)
    const e = await this.entry(key)
    if (e === null || e.record.id !== r.id) return
    await this.kv!.update(key, JSON.stringify(r), e.revision).catch(() => undefined) // changed meanwhile
  }

  /** Deletes the record of `clientId` if it is still incarnation `id` (a newer one stays). */
  async deleteIf(clientId: string, id: string): Promise<void> {
    const key = tokenOf(clientId)
    const e = await this.entry(key)
    if (e === null || e.record.id !== id) return
    await this.kv!.delete(key, { previousSeq: e.revision }).catch(() => undefined) // changed meanwhile: it stays
  }

  /** Every record in the bucket (for the expiry sweep). */
  async *all(): AsyncGenerator<[clientId: string, r: SessionRecord]> {
    const keys: string[] = []
    for await (const k of await this.kv!.keys()) keys.push(k)
    for (const k of keys) {
      const e = await this.entry(k)
      if (e === null) continue
      let clientId: string
      try {
        clientId = fromToken(k)
      } catch {
        continue // not a key of ours
      }
      yield [clientId, e.record]
    }
  }
}
