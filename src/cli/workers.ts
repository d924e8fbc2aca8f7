import cluster, { type Worker } from 'node:cluster'
import { defaultNodeName } from '../broker/cluster-options.js'
import type { Logger } from '../broker/options.js'
import type { BrokerSettings } from './config.js'

/**
 * `petrel broker --workers N`: N processes of this host serving the same port(s), each a node
 * of the cluster. The primary (this file's runPrimary) opens no listener: it forks the workers
 * with the same command line, restarts one that dies, and forwards signals. node:cluster routes
 * a worker's listen() through the primary, so every worker accepts on the one port.
 */

/** The environment variable that tells a worker its index, 0 to N-1. */
export const WORKER_ENV = 'PETREL_WORKER'

/** A worker to its primary, over the IPC channel. */
type ToPrimary = { petrel: 'ready' } | { petrel: 'failed'; message: string; code: number }
/** The primary to a worker: stop as on that signal (sent as a message: see onPrimaryStop). */
type ToWorker = { petrel: 'stop'; signal: StopSignal }
type StopSignal = 'SIGINT' | 'SIGTERM'

/** Restarts of a crashed worker wait 1 s, then 1 s more per crash in the window, up to 5 s. */
const RESTART_STEP_MS = 1000
const RESTART_MAX_MS = 5000
/** This many crashes (of any workers) within CRASH_WINDOW_MS: the primary gives up, exit 1. */
const MAX_CRASHES = 5
const CRASH_WINDOW_MS = 30_000
/** How long the workers have to shut down gracefully before they are SIGKILLed. */
const STOP_TIMEOUT_MS = 10_000
const EXIT_RUNTIME = 1

/** This process's index when it is a worker of `petrel broker --workers`, else undefined. */
export function workerIndex(): number | undefined {
  if (!cluster.isWorker) return undefined
  const i = Number(process.env[WORKER_ENV])
  return Number.isSafeInteger(i) && i >= 0 ? i : undefined
}

/**
 * Worker i's settings: its node name suffixed `-w<i>` (the given one, or host-pid), its HTTP
 * endpoint on the HTTP port + i (0 stays 0: a free port each). See docs/decisions.md.
 */
export function workerSettings(s: BrokerSettings, i: number): BrokerSettings {
  const out: BrokerSettings = { ...s }
  if (s.cluster !== undefined)
    out.cluster = { ...s.cluster, node: `${s.cluster.node ?? defaultNodeName()}-w${i}` }
  if (s.http !== undefined && s.http.port !== 0) out.http = { ...s.http, port: s.http.port + i }
  return out
}

/** A logger whose every line also says which worker wrote it. */
export function workerLogger(log: Logger, i: number): Logger {
  return {
    debug: (obj, msg) => log.debug({ worker: i, ...obj }, msg),
    info: (obj, msg) => log.info({ worker: i, ...obj }, msg),
    warn: (obj, msg) => log.warn({ worker: i, ...obj }, msg),
    error: (obj, msg) => log.error({ worker: i, ...obj }, msg),
  }
}

/** Worker: tells the primary that it listens (after this, an exit is a crash, restarted). */
export function tellReady(): void {
  send({ petrel: 'ready' })
}

/**
 * Worker: hands the primary the one line of a start-up failure, instead of printing it, so
 * that N workers failing alike print it once.
 */
export function tellFailed(message: string, code: number): void {
  send({ petrel: 'failed', message, code })
}

/**
 * Worker: the last word to the primary. The IPC channel would keep the process alive:
 * disconnecting it (once the messages sent are out) lets the process end with its exit code.
 */
export function leavePrimary(): void {
  // node:cluster sends its own last message after ours, and disconnects once it is out
  cluster.worker?.disconnect()
}

/** Worker: calls `stop` when the primary asks this worker to stop; returns the unsubscriber. */
export function onPrimaryStop(stop: (signal: StopSignal) => void): () => void {
  const onMessage = (m: unknown): void => {
    if (isToWorker(m)) stop(m.signal)
  }
  process.on('message', onMessage)
  return () => process.off('message', onMessage)
}

function send(m: ToPrimary): void {
  process.send?.(m)
}

function isToWorker(m: unknown): m is ToWorker {
  return typeof m === 'object' && m !== null && (m as ToWorker).petrel === 'stop'
}

function isToPrimary(m: unknown): m is ToPrimary {
  const p = (m as ToPrimary | null)?.petrel
  return p === 'ready' || p === 'failed'
}

/** One worker index: its current process, whether any of its processes got ready, its failure. */
interface Slot {
  worker: Worker | null
  everReady: boolean
  failure: { message: string; code: number } | null
  restart: NodeJS.Timeout | null
}

/**
 * The primary of `petrel broker --workers N`: forks the N workers and runs until SIGINT or
 * SIGTERM (forwarded; exit 0 once all have exited), a worker failing to start (its line is
 * printed once; exit with its code), or too many crashes (exit 1).
 */
export function runPrimary(settings: BrokerSettings, log: Logger): Promise<number> {
  return new Primary(settings.workers, log).run()
}

class Primary {
  private readonly slots: Slot[]
  private crashes: number[] = []
  /** null while running; the exit code once stopping. */
  private exitCode: number | null = null
  private killTimer: NodeJS.Timeout | null = null
  private finish: (code: number) => void = () => {}

  constructor(
    private readonly n: number,
    private readonly log: Logger,
  ) {
    this.slots = Array.from({ length: n }, () => ({
      worker: null,
      everReady: false,
      failure: null,
      restart: null,
    }))
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve))
    let signalled = false
    const onStop = (signal: StopSignal): void => {
      if (signalled) {
        // the second signal: no more waiting
        this.killAll()
        process.exit(signal === 'SIGINT' ? 130 : 143)
      }
      signalled = true
      this.log.info({ signal }, `shutting down ${this.live().length} workers`)
      this.stop(0, signal)
    }
    const onHup = (): void => {
      this.log.info({ signal: 'SIGHUP' }, 'reloading: SIGHUP forwarded to the workers')
      for (const w of this.live()) w.process.kill('SIGHUP')
    }
    process.on('SIGINT', onStop).on('SIGTERM', onStop).on('SIGHUP', onHup)
    // the same command line: a worker sees --workers N and WORKER_ENV, and runs the broker
    cluster.setupPrimary({ exec: process.argv[1]!, args: process.argv.slice(2) })
    this.log.info({ workers: this.n }, `petrel broker: starting ${this.n} workers`)
    for (let i = 0; i < this.n; i++) this.fork(i)
    return done.then((code) => {
      process.off('SIGINT', onStop).off('SIGTERM', onStop).off('SIGHUP', onHup)
      if (this.killTimer !== null) clearTimeout(this.killTimer)
      this.log.info({ code }, 'stopped')
      return code
    })
  }

  private live(): Worker[] {
    return this.slots.flatMap((s) => (s.worker === null ? [] : [s.worker]))
  }

  private fork(i: number): void {
    const slot = this.slots[i]!
    slot.restart = null
    slot.failure = null
    const w = cluster.fork({ [WORKER_ENV]: String(i) })
    slot.worker = w
    const pid = w.process.pid
    this.log.info({ worker: i, workerPid: pid }, `worker ${i} started (pid ${pid})`)
    w.on('message', (m: unknown) => {
      if (!isToPrimary(m)) return
      if (m.petrel === 'ready') slot.everReady = true
      else slot.failure = { message: m.message, code: m.code }
    })
    w.once('exit', (code, signal) => this.exited(i, w, code, signal))
  }

  private exited(i: number, w: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots[i]!
    if (slot.worker === w) slot.worker = null
    const how = signal === null ? `code ${code}` : `signal ${signal}`
    const fields = { worker: i, workerPid: w.process.pid, code, signal }
    if (this.exitCode !== null) {
      this.log.info(fields, `worker ${i} exited (${how})`)
      if (this.live().length === 0) this.finish(this.exitCode)
      return
    }
    if (!slot.everReady) {
      // a start-up failure (NATS unreachable, a file unreadable ...): the others would fail alike
      this.log.error(fields, `worker ${i} exited during start-up (${how})`)
      const failure = slot.failure ?? {
        message: `worker ${i} exited during start-up (${how})`,
        code: EXIT_RUNTIME,
      }
      process.stderr.write(`petrel broker: ${failure.message}\n`)
      this.stop(failure.code === 0 ? EXIT_RUNTIME : failure.code, 'SIGTERM')
      return
    }
    const now = Date.now()
    this.crashes = this.crashes.filter((t) => t > now - CRASH_WINDOW_MS)
    this.crashes.push(now)
    if (this.crashes.length >= MAX_CRASHES) {
      this.log.error(
        { ...fields, crashes: this.crashes.length },
        `worker ${i} exited (${how}): ${this.crashes.length} worker exits within ${CRASH_WINDOW_MS / 1000} s, giving up`,
      )
      this.stop(EXIT_RUNTIME, 'SIGTERM')
      return
    }
    const delay = Math.min(RESTART_STEP_MS * this.crashes.length, RESTART_MAX_MS)
    this.log.warn(fields, `worker ${i} exited (${how}); restarting it in ${delay / 1000} s`)
    slot.restart = setTimeout(() => this.fork(i), delay)
  }

  /** Asks every worker to stop; SIGKILLs those still there after STOP_TIMEOUT_MS. */
  private stop(code: number, signal: StopSignal): void {
    if (this.exitCode !== null) return
    this.exitCode = code
    for (const s of this.slots) {
      if (s.restart !== null) clearTimeout(s.restart)
      s.restart = null
    }
    const live = this.live()
    if (live.length === 0) {
      this.finish(code)
      return
    }
    for (const w of live) {
      try {
        w.send({ petrel: 'stop', signal } satisfies ToWorker)
      } catch {
        // its channel is closed: it is exiting already
      }
    }
    this.killTimer = setTimeout(() => {
      const left = this.live()
      if (left.length === 0) return
      this.log.warn(
        { workers: left.map((w) => w.process.pid) },
        `${left.length} workers still running after ${STOP_TIMEOUT_MS / 1000} s: killed`,
      )
      this.killAll()
    }, STOP_TIMEOUT_MS)
  }

  private killAll(): void {
    for (const w of this.live()) {
      const pid = w.process.pid
      if (pid === undefined) continue
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone meanwhile
      }
    }
  }
}
