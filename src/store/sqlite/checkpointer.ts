import { statSync } from 'node:fs'
import { resolve } from 'node:path'
import { Worker } from 'node:worker_threads'
import type BetterSqlite3 from 'better-sqlite3'

/**
 * Moves the SQLite store's write-ahead log into its database from a worker thread
 * (checkpoint-worker.ts), so that no commit on the event loop runs a full checkpoint: SQLite's
 * automatic checkpoint ran inside the commit that crossed 1000 pages, the whole of a group
 * commit's tail latency. The main connection runs no automatic checkpoint while the worker runs;
 * after a commit it only finishes what the worker asks it to (see FINISH_BYTES) and bounds the log.
 */

/**
 * The log's size past which the main connection, after a commit, moves what the worker's last
 * pass left, so that the log restarts: a few milliseconds of commits and two fsyncs, once per
 * this many bytes of log (SQLite's automatic checkpoint moved 1000 pages, about 4 MiB, each time).
 */
export const FINISH_BYTES = 16 * 1024 * 1024
/**
 * The main connection's journal_size_limit: the size the log's file is cut back to when it
 * restarts. Above what it reaches in steady use, so that no commit pays for cutting it (an
 * ftruncate of 12 MiB took 5-10 ms here); only a log that overshot is cut.
 */
export const WAL_FILE_KEPT_BYTES = 2 * FINISH_BYTES
/**
 * The log's size past which a commit checkpoints (TRUNCATE) on the main connection: the bound on
 * the WAL when the worker falls behind (a reader holding an old snapshot, a starved thread).
 */
const WAL_LIMIT_BYTES = 64 * 1024 * 1024
/** How often, at most, a commit looks at the log's size. */
const WAL_CHECK_MS = 250
/** SQLite's own automatic checkpoint (pages), back when the worker cannot run. */
const AUTOCHECKPOINT_PAGES = 1000
/** How often the worker checkpoints. */
export const CHECKPOINT_POLL_MS = 100
/** How long the worker's connection waits for a lock another connection holds for an instant. */
const BUSY_TIMEOUT_MS = 1000
/** How long stop() waits for a checkpoint in progress to end and the worker's connection to close. */
const STOP_WAIT_MS = 5000

/** Slots of the Int32Array the two threads share. */
export const Slot = { Run: 0, State: 1, Checkpoints: 2, Finish: 3 } as const
/** Slot.Run while the worker should go on (anything else: stop). */
export const RUN = 0
const STOP = 1
/** Values of Slot.State, which the worker sets. */
export const State = { Starting: 0, Running: 1, Closed: 2 } as const

export interface CheckpointWorkerData {
  file: string
  synchronous: 'NORMAL' | 'FULL'
  finishBytes: number
  pollMs: number
  busyTimeoutMs: number
  shared: SharedArrayBuffer
}

export interface CheckpointerOptions {
  synchronous: 'NORMAL' | 'FULL'
  /** The worker's module (tests give one that cannot start). */
  workerUrl?: URL | undefined
  /** Says, once, that the worker cannot start or died (SQLite's automatic checkpoint is back). */
  warn: (msg: string, err: Error) => void
}

/** Where the store's WAL checkpoints ran, for tests and operators. */
export interface CheckpointStats {
  /** Whether the worker thread checkpoints (false: it could not start or died, SQLite's automatic checkpoint runs). */
  inWorker: boolean
  /** Checkpoints the worker ran. */
  byWorker: number
  /** Checkpoints a commit ran to move the few frames the worker's last pass left (so that the log restarts). */
  finishedOnMain: number
  /** Checkpoints a commit ran because the log had passed WAL_LIMIT_BYTES. */
  boundedOnMain: number
}

export class Checkpointer {
  private readonly shared = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT))
  private readonly worker: Worker | undefined
  private state: 'running' | 'failed' | 'stopped' = 'running'
  private finishedOnMain = 0
  private boundedOnMain = 0
  private nextWalCheck = 0

  /** `db` is the store's connection, in WAL mode. */
  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly options: CheckpointerOptions,
  ) {
    // once a checkpoint has moved every frame, the next commit restarts the log and cuts its file back
    db.pragma('wal_autocheckpoint = 0')
    db.pragma(`journal_size_limit = ${WAL_FILE_KEPT_BYTES}`)
    const workerData: CheckpointWorkerData = {
      file: resolve(db.name),
      synchronous: options.synchronous,
      finishBytes: FINISH_BYTES,
      pollMs: CHECKPOINT_POLL_MS,
      busyTimeoutMs: BUSY_TIMEOUT_MS,
      shared: this.shared.buffer as SharedArrayBuffer,
    }
    let worker: Worker
    try {
      worker = new Worker(options.workerUrl ?? new URL('./checkpoint-worker.js', import.meta.url), {
        workerData,
        // not the process's flags: `node --input-type=module -e` passes them to a worker, which then fails
        execArgv: [],
      })
    } catch (err) {
      this.fail(err)
      return
    }
    this.worker = worker
    worker.unref() // a checkpointer never keeps the process alive
    worker.on('error', (err) => this.fail(err))
    worker.on('exit', (code) => this.fail(new Error(`the checkpoint worker exited with code ${code}`)))
  }

  /** Called after each commit, outside any transaction. */
  afterCommit(): void {
    // The worker asks when its passes, racing the commits, left frames past FINISH_BYTES of log:
    // the log only restarts once a checkpoint moved every frame. Those of the last few milliseconds
    // are moved here, while no commit runs.
    if (Atomics.compareExchange(this.shared, Slot.Finish, 1, 0) === 1) {
      this.db.pragma('wal_checkpoint(PASSIVE)')
      this.finishedOnMain++
    }
    const now = Date.now()
    if (now < this.nextWalCheck) return
    this.nextWalCheck = now + WAL_CHECK_MS
    if (walBytes(this.db.name) > WAL_LIMIT_BYTES) {
      // completes (waiting for a worker's pass to end) and leaves an empty log
      this.db.pragma('wal_checkpoint(TRUNCATE)')
      this.boundedOnMain++
    }
  }

  stats(): CheckpointStats {
    return {
      inWorker: this.state === 'running',
      byWorker: Atomics.load(this.shared, Slot.Checkpoints),
      finishedOnMain: this.finishedOnMain,
      boundedOnMain: this.boundedOnMain,
    }
  }

  /**
   * Stops the worker and, if it had opened its connection, waits (synchronously: the store's
   * close() is) until a checkpoint in progress ended and the connection is closed.
   */
  stop(): void {
    if (this.state !== 'running') return
    this.state = 'stopped'
    Atomics.store(this.shared, Slot.Run, STOP)
    Atomics.notify(this.shared, Slot.Run)
    const until = Date.now() + STOP_WAIT_MS
    for (;;) {
      const state = Atomics.load(this.shared, Slot.State)
      // a worker still starting sees the stop before opening its connection, or is ended by terminate()
      if (state !== State.Running) break
      const left = until - Date.now()
      if (left <= 0) break
      Atomics.wait(this.shared, Slot.State, state, left)
    }
    void this.worker?.terminate()
  }

  private fail(err: unknown): void {
    if (this.state !== 'running') return
    this.state = 'failed'
    void this.worker?.terminate()
    if (!this.db.open) return
    this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`)
    const e = err instanceof Error ? err : new Error(String(err))
    this.options.warn(`WAL checkpoints run in the commits again, which they may stall: ${e.message}`, e)
  }
}

/** The size of the database's write-ahead log file; 0 when there is none (checkpointed and removed, or not yet made). */
export function walBytes(file: string): number {
  try {
    return statSync(`${file}-wal`).size
  } catch {
    return 0
  }
}
