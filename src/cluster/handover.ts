import type { NatsConnection } from '@nats-io/transport-node'
import type { ClusterHost } from '../broker/cluster-bridge.js'
import { SESSION_NEVER_EXPIRES } from '../protocol/constants.js'
import type { Feeds } from './feeds.js'
import type { SessionRecord, SessionRecords } from './session-records.js'

/** A node not heard from for this long is gone (no longer listed; its sessions are swept). */
export const NODE_GONE_MS = 10_000
/** Where a node is asked to hand a session over: `petrel-ctl.release.{origin}`, data the client id. */
const RELEASE_PREFIX = 'petrel-ctl.release.'
/** How long a node waits for another to hand a session over before it takes the bucket's record as it is. */
const RELEASE_TIMEOUT_MS = 3000
/** How long a CONNECT waits for its session to be looked up and handed over before it is refused. */
const CLAIM_TIMEOUT_MS = 8000
/** How often a node looks for sessions that expired while no node held them. */
const SWEEP_MS = 30_000

/**
 * Persistent sessions moving between nodes: a CONNECT here claims the session another node holds
 * (that node hands it over: closes the client's connection there, writes what it has), takes it
 * from the bucket, or ends it for a Clean Start; this node hands its own over when asked; and a
 * sweep ends the sessions whose node died before they expired.
 */
export class Handover {
  private readonly started = Date.now()
  private readonly sweeper: NodeJS.Timeout

  constructor(
    private readonly nc: NatsConnection,
    private readonly host: ClusterHost,
    private readonly records: SessionRecords,
    private readonly feeds: Feeds,
    private readonly node: string,
    private readonly origin: number,
    /** The origins of the other nodes heard from lately. */
    private readonly others: () => number[],
  ) {
    nc.subscribe(RELEASE_PREFIX + origin, {
      callback: (err, m) => {
        if (err === null) void this.handOver(m.string()).then(() => m.respond('ok'))
      },
    })
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS)
    this.sweeper.unref()
  }

  /** See ClusterBridge.claim; `up`: whether the NATS connection is up now. */
  claim(clientId: string, cleanStart: boolean, up: boolean): Promise<void> | null {
    if (this.records.held.has(clientId)) return null // this node has it: the broker's own rules apply
    if (!up) {
      // NATS is away: a clean session starts here (another node's record of the client is not ended
      // until it is back); a persistent one cannot be looked up: refused (Server unavailable), at once
      if (cleanStart) return null
      return Promise.reject(new Error('NATS is unreachable: the session cannot be looked up'))
    }
    return bounded(this.take(clientId, cleanStart), CLAIM_TIMEOUT_MS)
  }

  private async take(clientId: string, cleanStart: boolean): Promise<void> {
    let r = await this.records.read(clientId)
    if (r === null) return
    if (r.origin !== this.origin) {
      // its node hands it over (closing the connection there), or is gone: the bucket has what it wrote
      await this.nc
        .request(RELEASE_PREFIX + r.origin, clientId, { timeout: RELEASE_TIMEOUT_MS })
        .catch(() => undefined)
      r = await this.records.read(clientId)
      if (r === null) return
    }
    if (this.records.held.has(clientId)) return // another connection of it got here first
    if (cleanStart || expired(r, Date.now())) {
      await Promise.all([...this.feeds.deleteAll(clientId, r), this.records.deleteIf(clientId, r.id)])
      return
    }
    r.node = this.node
    r.origin = this.origin
    this.records.hold(clientId, r)
    const session = this.host.adopt(clientId, { ...r, inbound: r.inbound.map(([id]) => id) })
    session.fed = true
    for (let i = 0; i < r.released.length; i++) {
      const [, streamSeq, ackSubject] = r.released[i]!
      this.feeds.restored(clientId, r.id, i + 1, streamSeq)
      // the node that had it may have died before JetStream heard of the PUBREC: told again, or
      // JetStream would send the message again once the flow is complete and forgotten here
      if (ackSubject !== '')
        await this.nc.request(ackSubject, '+ACK', { timeout: 2000 }).catch(() => undefined)
    }
  }

  /** Another node takes the session of `clientId`: closed here, written, let go. */
  async handOver(clientId: string): Promise<void> {
    await this.host.release(clientId)
    this.feeds.stop(clientId, true)
    if (this.records.held.has(clientId)) {
      await Promise.all(this.records.flush().map((w) => w.p)).catch(() => undefined)
      this.records.release(clientId)
    }
  }

  /**
   * Ends the sessions no node holds whose expiry passed (their node died, or left while they
   * were away); a record still marked connected whose node is gone counts as left now.
   */
  private async sweep(): Promise<void> {
    if (Date.now() - this.started < NODE_GONE_MS) return // not heard every node yet
    const alive = new Set([this.origin, ...this.others()])
    try {
      for await (const [clientId, r] of this.records.all()) {
        if (this.records.held.has(clientId) || alive.has(r.origin)) continue
        if (r.disconnectedAt === 0) {
          // its node is gone: away from now on (the next sweep ends it when its expiry has passed)
          r.disconnectedAt = Date.now()
          r.origin = 0
          await this.records.replace(clientId, r)
        } else if (expired(r, Date.now())) {
          await Promise.all([...this.feeds.deleteAll(clientId, r), this.records.deleteIf(clientId, r.id)])
          this.host.log.info({ clientId }, 'cluster: a session expired while no node held it')
        }
      }
    } catch (err) {
      this.host.log.debug({ err }, 'cluster: the session sweep stopped')
    }
  }
  close(): void {
    clearInterval(this.sweeper)
  }
}

/** Whether a session's client has been away longer than its expiry interval at `now`. */
function expired(r: SessionRecord, now: number): boolean {
  return (
    r.disconnectedAt > 0 && r.expiry !== SESSION_NEVER_EXPIRES && now > r.disconnectedAt + r.expiry * 1000
  )
}

/** `p`, or a rejection after `ms` (NATS did not answer in time). */
function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`NATS did not answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, late]).finally(() => clearTimeout(timer))
}
