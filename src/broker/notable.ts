import type { NotableEvent, NotableKind } from './events.js'
import type { Logger } from './options.js'

/** Lines (and `notable` events) per kind per second at most; the rest are summed up in one line. */
export const NOTABLE_PER_SECOND = 10
const SECOND = 1000

export type NotableLevel = 'info' | 'warn' | 'error'

/** Who an event is about, and more structured fields for its log line. */
export interface NotableFields {
  clientId?: string | undefined
  remoteAddress?: string | undefined
  [field: string]: unknown
}

/** One kind's window: lines told in it, and those held back. */
interface Window {
  since: number
  told: number
  suppressed: number
  level: NotableLevel
  timer: NodeJS.Timeout | null
}

/**
 * What an operator wants to know (a connection refused, a slow consumer, a takeover, a run of
 * dropped messages, a store error, a limit), told twice: one structured log line
 * (`{event: kind, clientId, remoteAddress, ...}`) and a Broker `notable` event (the dashboard's
 * log). Never per message: callers report moments, and each kind is limited to
 * NOTABLE_PER_SECOND a second; past it, nothing is logged or emitted until the second is over,
 * when one line says how many were suppressed. A flood of refused connections therefore costs
 * at most 11 lines a second.
 */
export class Notable {
  private readonly log: Logger
  private readonly emit: (event: NotableEvent) => void
  private readonly now: () => number
  private readonly windows = new Map<NotableKind, Window>()
  private closed = false

  constructor(log: Logger, emit: (event: NotableEvent) => void, now: () => number = Date.now) {
    this.log = log
    this.emit = emit
    this.now = now
  }

  /** Logs `detail` at `level` and emits a `notable` event, unless this kind is over its limit. */
  report(kind: NotableKind, level: NotableLevel, detail: string, fields: NotableFields = {}): void {
    if (!this.admit(kind, level)) return
    this.log[level]({ event: kind, ...fields }, detail)
    this.tell(kind, detail, fields)
  }

  /** Emits a `notable` event only (its log line was written elsewhere, e.g. by LimitLog), within the same limit. */
  event(kind: NotableKind, detail: string, fields: NotableFields = {}): void {
    if (this.admit(kind, 'warn')) this.tell(kind, detail, fields)
  }

  /** Stops the timers that sum up suppressed lines (the broker closes). */
  close(): void {
    this.closed = true
    for (const w of this.windows.values()) if (w.timer !== null) clearTimeout(w.timer)
  }

  private tell(kind: NotableKind, detail: string, fields: NotableFields): void {
    const e: NotableEvent = { time: this.now(), kind, detail }
    if (fields.clientId !== undefined && fields.clientId !== '') e.clientId = fields.clientId
    if (fields.remoteAddress !== undefined) e.remoteAddress = fields.remoteAddress
    this.emit(e)
  }

  /** True when one more line of `kind` may go now. */
  private admit(kind: NotableKind, level: NotableLevel): boolean {
    const now = this.now()
    let w = this.windows.get(kind)
    if (w === undefined) {
      w = { since: now, told: 0, suppressed: 0, level, timer: null }
      this.windows.set(kind, w)
    }
    if (now - w.since >= SECOND) {
      this.summary(kind, w)
      w.since = now
      w.told = 0
    }
    if (w.told < NOTABLE_PER_SECOND) {
      w.told++
      return true
    }
    w.suppressed++
    w.level = level
    if (w.timer === null && !this.closed) {
      // the summary comes when the second is over, even if nothing more of this kind happens
      w.timer = setTimeout(() => this.summary(kind, w), Math.max(0, w.since + SECOND - now))
      w.timer.unref()
    }
    return false
  }

  private summary(kind: NotableKind, w: Window): void {
    if (w.timer !== null) clearTimeout(w.timer)
    w.timer = null
    if (w.suppressed === 0) return
    const n = w.suppressed
    w.suppressed = 0
    this.log[w.level](
      { event: kind, suppressed: n },
      `suppressed ${n} more '${kind}' events (at most ${NOTABLE_PER_SECOND} a second are logged)`,
    )
  }
}
