import { randomBytes } from 'node:crypto'
import type { Store } from '../store/store.js'
import type { Logger, ResolvedOptions } from './options.js'
import type { Router } from './router.js'
import { Session, type SessionCounters } from './session.js'

/**
 * Every session the broker knows, connected or not, by client id: creating,
 * resuming and ending them, with the store kept in step for persistent ones.
 */
export class Sessions {
  private readonly map = new Map<string, Session>()
  private readonly options: ResolvedOptions
  private readonly counters: SessionCounters
  private readonly store: Store
  private readonly router: Router

  constructor(options: ResolvedOptions, counters: SessionCounters, store: Store, router: Router) {
    this.options = options
    this.counters = counters
    this.store = store
    this.router = router
  }

  get size(): number {
    return this.map.size
  }

  get(clientId: string): Session | undefined {
    return this.map.get(clientId)
  }

  /** A new session; a persistent one is recorded in the store unless it comes from it (`save` false). */
  create(clientId: string, clean: boolean, save = true): Session {
    const s = new Session(clientId, clean, this.options, this.counters, this.store)
    this.map.set(clientId, s)
    if (!clean && save) this.store.saveSession(clientId, 0)
    return s
  }

  /**
   * The session a CONNECT gets, once any previous connection with its id is gone:
   * clean session 1 always starts anew [MQTT-3.1.2-6]; clean session 0 resumes a
   * persistent session if there is one (session present [MQTT-3.2.2-2]) or starts
   * one [MQTT-3.2.2-3].
   */
  open(clientId: string, clean: boolean): { session: Session; present: boolean } {
    const old = this.map.get(clientId)
    if (!clean && old !== undefined && !old.clean) return { session: old, present: true }
    if (old !== undefined) this.drop(old)
    return { session: this.create(clientId, clean), present: false }
  }

  /** Ends a session: its subscriptions, flows and queue are gone, here and in the store. */
  drop(s: Session): void {
    this.router.removeAll(s)
    s.discard()
    if (s.store !== null) s.store.deleteSession(s.clientId)
    if (this.map.get(s.clientId) === s) this.map.delete(s.clientId)
  }

  /** A connection of `s` ended: a clean session ends with it [MQTT-3.1.2-6], a persistent one waits. */
  disconnected(s: Session): void {
    s.detach()
    if (s.clean) {
      this.drop(s)
      return
    }
    this.router.memberLeft(s) // its shared subscriptions' messages go to other members
    s.disconnectedAt = Date.now()
    s.store?.saveSession(s.clientId, s.disconnectedAt)
  }

  /** A client id for a CONNECT with an empty one [MQTT-3.1.3-6]: 23 characters, unused. */
  assignId(): string {
    let id: string
    do id = `petrel-${randomBytes(8).toString('hex')}`
    while (this.map.has(id))
    return id
  }

  /** Ends persistent sessions whose client has been away since before `before` (ms since epoch). */
  expire(before: number, log: Logger): void {
    for (const s of [...this.map.values()]) {
      if (s.link === null && s.disconnectedAt > 0 && s.disconnectedAt <= before) {
        log.debug({ clientId: s.clientId }, 'persistent session expired')
        this.drop(s)
      }
    }
  }
}
