import type { EventEmitter } from 'node:events'
import type { BrokerEvents, BrokerStats } from './events.js'
import type { Hooks } from './hooks.js'
import { LimitLog } from './limits.js'
import { Notable } from './notable.js'
import type { ResolvedOptions } from './options.js'
import type { Peer } from './peer.js'
import type { Router } from './router.js'
import type { Sessions } from './sessions.js'
import type { Wills } from './wills.js'

/**
 * What the protocol handlers share, made once by the Broker: the options, the sessions,
 * the router, the hooks, the delayed wills, the counters, and where events go. Handlers read and change
 * these; they never reach back into the Broker or a socket.
 */
export class Core {
  readonly options: ResolvedOptions
  readonly stats: BrokerStats
  readonly sessions: Sessions
  readonly router: Router
  readonly hooks: Hooks
  /** Wills waiting for their MQTT 5 Will Delay Interval. */
  readonly wills: Wills
  /** The broker's typed events (one-way: handlers emit, embedders listen). */
  readonly events: EventEmitter<BrokerEvents>
  /** Every open connection, connected or not. */
  readonly peers = new Set<Peer>()
  /** Connections with an accepted CONNECT. */
  connected = 0
  /** Counts and logs (once per offender) what the limits against abuse refuse. */
  readonly limits: LimitLog
  /** Rate-limited log lines and `notable` events for what an operator wants to know. */
  readonly notable: Notable

  constructor(
    options: ResolvedOptions,
    stats: BrokerStats,
    sessions: Sessions,
    router: Router,
    hooks: Hooks,
    wills: Wills,
    events: EventEmitter<BrokerEvents>,
    notable: Notable = new Notable(options.logger, (e) => events.emit('notable', e)),
  ) {
    this.options = options
    this.stats = stats
    this.sessions = sessions
    this.router = router
    this.hooks = hooks
    this.wills = wills
    this.events = events
    this.notable = notable
    this.limits = new LimitLog(stats.limits, options.logger, Date.now, notable)
  }
}
