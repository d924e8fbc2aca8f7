import { randomBytes } from 'node:crypto'
import { SESSION_NEVER_EXPIRES } from '../protocol/constants.js'
import type { Store } from '../store/store.js'
import type { Notable } from './notable.js'
import type { Logger, ResolvedOptions } from './options.js'
import type { Router } from './router.js'
import { Session, type SessionCounters, type SessionLimits } from './session.js'

/** The longest delay a Node timer takes (about 24.8 days); a longer one is armed again when it fires. */
const MAX_TIMER_MS = 2_147_483_647

/**
 * Every session the broker knows, connected or not, by client id: creating,
 * resuming and ending them, with the store kept in step for persistent ones.
 * A session whose client is away ends when its expiry interval has passed, each on
 * its own timer (MQTT 5 Session Expiry Interval; 3.1.1: the `sessionExpiry` option).
 */
export class Sessions {
  /** Called when a session ends (its delayed will, if any, is then due). */
  onEnded: ((s: Session) => void) | null = null
  private readonly map = new Map<string, Session>()
  private readonly timers = new Map<Session, NodeJS.Timeout>()
  private readonly options: ResolvedOptions
  /** What each session is limited by and where it tells of dropped messages. */
  private readonly limits: SessionLimits
  private readonly counters: SessionCounters
  private readonly store: Store
  private readonly router: Router

  constructor(
    options: ResolvedOptions,
    counters: SessionCounters,
    store: Store,
    router: Router,
    notable?: Notable,
  ) {
    this.options = options
    this.limits = notable === undefined ? options : { ...options, notable }
    this.counters = counters
    this.store = store
    this.router = router
  }

  get size(): number {
    return this.map.size
  }

  /** Every session, connected or not (for the admin view; do not change the set while iterating). */
  values(): IterableIterator<Session> {
    return this.map.values()
  }

  get(clientId: string): Session | undefined {
    return this.map.get(clientId)
  }

  /**
   * How long a 3.1.1 session outlives its connection, in seconds: a clean one not at all;
   * a persistent one `sessionExpiry` (0 there means never).
   */
  v3Expiry(clean: boolean): number {
    if (clean) return 0
    return this.options.sessionExpiry === 0 ? SESSION_NEVER_EXPIRES : this.options.sessionExpiry
  }

  /**
   * A new session; a persistent one is recorded in the store unless it comes from it (`save` false).
   * It gets the 3.1.1 expiry of its kind until told otherwise.
   */
  create(clientId: string, clean: boolean, save = true, expiry = this.v3Expiry(clean)): Session {
    const s = new Session(clientId, clean, this.limits, this.counters, this.store)
    s.expiryInterval = expiry
    this.map.set(clientId, s)
    if (!clean && save) this.store.saveSession(clientId, 0, expiry)
    return s
  }

  /**
   * The session a CONNECT gets, once any previous connection with its id is gone:
   * clean session / Clean Start 1 always starts anew [MQTT-3.1.2-4]; 0 resumes the
   * session there is (session present [MQTT-3.2.2-3]) or starts one [MQTT-3.1.2-6].
   * `expiry` is how long it is to outlive the connection, in seconds (0: not at all,
   * SESSION_NEVER_EXPIRES: forever); a session that may outlive it is kept in the store.
   */
  open(clientId: string, cleanStart: boolean, expiry: number): { session: Session; present: boolean } {
    const old = this.map.get(clientId)
    let session: Session
    let present = false
    if (!cleanStart && old !== undefined) {
      this.stopTimer(old)
      session = old
      present = true
    } else {
      if (old !== undefined) this.drop(old)
      session = this.create(clientId, expiry === 0, true, expiry)
    }
    if (present && session.expiryInterval !== expiry) {
      session.expiryInterval = expiry
      session.store?.saveSession(clientId, 0, expiry)
    }
    return { session, present }
  }

  /** Ends a session: its subscriptions, flows and queue are gone, here and in the store. */
  drop(s: Session): void {
    this.stopTimer(s)
    this.router.removeAll(s)
    s.discard()
    if (s.store !== null) s.store.deleteSession(s.clientId)
    if (this.map.get(s.clientId) === s) this.map.delete(s.clientId)
    this.onEnded?.(s)
  }

  /**
   * Another node of the cluster took the session: it leaves this node without ending (no
   * will, nothing deleted where the cluster keeps it). Its connection is already closed.
   */
  forget(s: Session): void {
    this.stopTimer(s)
    this.router.removeAll(s)
    s.discard()
    if (this.map.get(s.clientId) === s) this.map.delete(s.clientId)
  }

  /**
   * A connection of `s` ended: a session with no expiry interval ends with it [MQTT-3.1.2-23]
   * (3.1.1: a clean session [MQTT-3.1.2-6]); another waits for its client that long.
   */
  disconnected(s: Session): void {
    s.detach()
    if (s.expiryInterval === 0) {
      this.drop(s)
      return
    }
    this.router.memberLeft(s) // its shared subscriptions' messages go to other members
    s.disconnectedAt = Date.now()
    s.store?.saveSession(s.clientId, s.disconnectedAt, s.expiryInterval)
    this.arm(s)
  }

  /** Arms the expiry timers of the sessions read from the store at start (their clients are away). */
  restored(): void {
    for (const s of this.map.values()) if (s.link === null && s.disconnectedAt > 0) this.arm(s)
  }

  /** A client id for a CONNECT with an empty one [MQTT-3.1.3-6]: 23 characters, unused. */
  assignId(): string {
    let id: string
    do id = `petrel-${randomBytes(8).toString('hex')}`
    while (this.map.has(id))
    return id
  }

  /** Ends every session whose client has been away longer than its expiry interval at `now` (ms since epoch). */
  expire(now: number, log: Logger): void {
    for (const s of [...this.map.values()]) if (this.due(s, now)) this.expired(s, log)
  }

  /** Stops the expiry timers (the broker closes; the store keeps the sessions). */
  close(): void {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }

  private due(s: Session, now: number): boolean {
    return (
      s.link === null &&
      s.disconnectedAt > 0 &&
      s.expiryInterval !== SESSION_NEVER_EXPIRES &&
      s.disconnectedAt + s.expiryInterval * 1000 <= now
    )
  }

  private expired(s: Session, log: Logger): void {
    log.debug({ clientId: s.clientId, expiryInterval: s.expiryInterval }, 'session expired')
    this.counters.sessionsExpired++
    this.drop(s)
  }

  /** [MQTT-4.1.0-2] the session ends once its client has been away for its expiry interval. */
  private arm(s: Session): void {
    this.stopTimer(s)
    if (s.expiryInterval === SESSION_NEVER_EXPIRES) return
    const left = s.disconnectedAt + s.expiryInterval * 1000 - Date.now()
    const timer = setTimeout(
      () => {
        this.timers.delete(s)
        if (this.map.get(s.clientId) !== s || s.link !== null) return
        if (this.due(s, Date.now())) this.expired(s, this.options.logger)
        else this.arm(s)
      },
      Math.min(Math.max(left, 0), MAX_TIMER_MS),
    )
    timer.unref()
    this.timers.set(s, timer)
  }

  private stopTimer(s: Session): void {
    const t = this.timers.get(s)
    if (t === undefined) return
    clearTimeout(t)
    this.timers.delete(s)
  }
}
