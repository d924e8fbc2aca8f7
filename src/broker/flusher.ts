import type { CommitHistogram } from './events.js'
import type { Notable } from './notable.js'
import type { Logger } from './options.js'

/** What the flusher writes: a connection's output of the turn. */
export interface Flushable {
  /** Writes what is queued. */
  flush(): void
  /** Sets what is queued aside, to be written by `release` once the commit it waits for is done. */
  seal(): void
  /** Writes the oldest sealed batch. */
  release(): void
  /** The commit its output waited for failed: nothing it acknowledged may leave. */
  commitFailed(): void
}

/** The store's commit, as the flusher sees it. */
export interface Committer {
  commit(): void | Promise<void>
}

/**
 * Group commit: once per event-loop turn, every store write of the turn is committed at
 * once, and only then does each connection's output of the turn leave (one write per
 * connection), so a PUBACK or PUBREC never leaves before the message it acknowledges is
 * durable. A store whose commit returns a Promise (a networked engine) gets the same
 * guarantee: the output of the turn is sealed and written when the commit resolves, in
 * commit order. A synchronous commit costs nothing more.
 */
export class Flusher {
  private dirty: Flushable[] = []
  private scheduled = false
  /** A store write happened since the last commit: the next one is timed. */
  private written = false
  /** The last asynchronous commit and the output waiting for it, or null. */
  private tail: Promise<void> | null = null
  private readonly store: Committer
  private readonly log: Logger
  private readonly stats: FlusherStats | null
  private readonly notable: Notable | null

  constructor(
    store: Committer,
    log: Logger,
    stats: FlusherStats | null = null,
    notable: Notable | null = null,
  ) {
    this.store = store
    this.log = log
    this.stats = stats
    this.notable = notable
  }

  /** A store write happened: commit (and time the commit) at the end of the turn. */
  readonly wrote = (): void => {
    this.written = true
    this.schedule()
  }

  /** `c` has output this turn: it leaves once, after every read of this turn. */
  markDirty(c: Flushable): void {
    this.dirty.push(c)
    this.schedule()
  }

  /** Commits and writes at the end of the turn. */
  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.run)
    }
  }

  /** Commits now, then writes `c`'s output and calls `then` (a connection closing). */
  flushNow(c: Flushable, then: () => void): void {
    this.after([c], then)
  }

  /** Resolves once every asynchronous commit so far is done and its output written. */
  async idle(): Promise<void> {
    while (this.tail !== null) await this.tail
  }

  private readonly run = (): void => {
    this.scheduled = false
    const dirty = this.dirty
    this.dirty = []
    this.after(dirty, null)
  }

  private after(batch: Flushable[], then: (() => void) | null): void {
    // only commits with writes are timed: an empty commit costs nothing and would hide the real ones
    const timed = this.written && this.stats !== null
    this.written = false
    const start = timed ? performance.now() : 0
    let r: void | Promise<void>
    try {
      r = this.store.commit()
    } catch (err) {
      this.failed(err)
      throw err
    }
    if (timed) {
      if (r instanceof Promise)
        r.then(
          () => this.observe(performance.now() - start),
          () => {},
        )
      else this.observe(performance.now() - start)
    }
    if (!(r instanceof Promise) && this.tail === null) {
      for (let i = 0; i < batch.length; i++) batch[i]!.flush()
      then?.()
      return
    }
    // (its failure is handled below, once the commits before it are done)
    if (r instanceof Promise) r.catch(() => {})
    for (const c of batch) c.seal()
    const previous = this.tail ?? Promise.resolve()
    const done = previous
      .then(() => r)
      .then(
        () => {
          for (const c of batch) c.release()
        },
        (err: unknown) => {
          this.failed(err)
          for (const c of batch) c.commitFailed()
        },
      )
    const tail: Promise<void> = done.then(() => {
      if (this.tail === tail) this.tail = null
      then?.()
    })
    this.tail = tail
  }

  /** A commit that took `ms` milliseconds, into the histogram (seconds). */
  private observe(ms: number): void {
    const h = this.stats!.commits
    const seconds = ms / 1000
    const bounds = h.bounds
    let i = 0
    while (i < bounds.length && seconds > bounds[i]!) i++
    h.counts[i]!++
    h.count++
    h.sum += seconds
  }

  private failed(err: unknown): void {
    if (this.stats !== null) this.stats.storeErrors++
    const detail = `store commit failed: ${err instanceof Error ? err.message : String(err)}; the connections waiting for it are closed`
    if (this.notable !== null) this.notable.report('store-error', 'error', detail, { err })
    else this.log.error({ err }, detail)
  }
}

/** The counters the Flusher keeps (BrokerStats). */
export interface FlusherStats {
  commits: CommitHistogram
  storeErrors: number
}
