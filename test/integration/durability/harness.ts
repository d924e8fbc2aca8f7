/**
 * Crash-test harness: the `petrel broker` command as a child process on a loopback
 * port with a temporary data dir, killed with SIGKILL and restarted on the same
 * port and data dir; a seeded random source so a failing run can be replayed.
 *
 *   const broker = await BrokerProcess.start(t)     // killed and its data dir removed after `t`
 *   ...; await broker.kill()                         // SIGKILL, waits for the exit
 *   await broker.restart()                           // same port, same data dir
 *
 * PETREL_CRASH_SEED replays a run; PETREL_CRASH_LOG=debug sets the broker's log level.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePort, LOOPBACK } from '../../helpers/net.js'

/** The built CLI (npm test builds dist/ before the tests run). */
const CLI = fileURLToPath(new URL('../../../../dist/cli/main.js', import.meta.url))
const START_TIMEOUT_MS = 10_000

/** Brokers not yet cleaned up: killed at exit even when a timed-out test skipped its `after` hook. */
const running = new Set<BrokerProcess>()
process.once('exit', () => {
  for (const b of running) {
    b.killNow()
    try {
      b.remove()
    } catch (err) {
      process.stderr.write(`could not remove ${b.dataDir}: ${(err as Error).message}\n`)
    }
  }
})

export class BrokerProcess {
  readonly dataDir: string
  port = 0
  /** Broker output (stdout and stderr) of every run, for failure messages. */
  log = ''
  private child: ChildProcess | null = null

  private constructor(dataDir: string) {
    this.dataDir = dataDir
  }

  /** Starts a broker on a free port with a fresh data dir, removed (and the broker killed) after `t`. */
  static async start(t: TestContext): Promise<BrokerProcess> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.build.json)`)
    const b = new BrokerProcess(mkdtempSync(join(tmpdir(), 'petrel-crash-')))
    running.add(b)
    t.after(async () => {
      await b.kill()
      b.remove()
    })
    // Another process may take the free port before the broker binds it: try a few.
    for (let attempt = 1; ; attempt++) {
      b.port = await freePort()
      try {
        await b.spawn()
        return b
      } catch (err) {
        if (attempt === 5 || !/address already in use/.test(b.log)) throw err
      }
    }
  }

  /** Starts the broker again on the same port and data dir (after `kill()`). */
  async restart(): Promise<void> {
    // The port was ours a moment ago; the kernel frees a killed listener at once.
    await this.spawn()
  }

  /** SIGKILL: no shutdown, no last commit. Resolves once the process has exited. */
  kill(): Promise<void> {
    const child = this.child
    this.child = null
    if (child === null || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill('SIGKILL')
    return exited
  }

  /** Deletes the data dir (the broker must be gone). */
  remove(): void {
    running.delete(this)
    rmSync(this.dataDir, { recursive: true, force: true })
  }

  /** Adds a line to `log`, between the broker's own. */
  note(line: string): void {
    this.log += `--- ${line}\n`
  }

  /** Sends SIGKILL now, without waiting (for use inside a packet handler). */
  killNow(): void {
    this.child?.kill('SIGKILL')
  }

  private spawn(): Promise<void> {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'broker',
        '--host',
        LOOPBACK,
        '--port',
        String(this.port),
        '--data-dir',
        this.dataDir,
        '--log-level',
        process.env.PETREL_CRASH_LOG ?? 'info',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    this.child = child
    this.log += `--- broker start (port ${this.port}, pid ${child.pid})\n`
    child.once('exit', (code, signal) => {
      this.log += `--- broker pid ${child.pid} exited (${code ?? signal})\n`
    })
    return new Promise<void>((resolve, reject) => {
      let out = ''
      let settled = false
      const done = (err: Error | null): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (err === null) {
          resolve()
          return
        }
        child.kill('SIGKILL')
        reject(new Error(`${err.message}\n${this.log}`))
      }
      const timer = setTimeout(
        () => done(new Error(`broker did not listen within ${START_TIMEOUT_MS} ms`)),
        START_TIMEOUT_MS,
      )
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        this.log += chunk.toString()
        if (out.includes(`listening on ${LOOPBACK}:${this.port}`)) done(null)
      })
      child.stderr!.on('data', (chunk: Buffer) => {
        this.log += chunk.toString()
      })
      child.once('error', done)
      child.once('exit', (code, signal) =>
        done(new Error(`broker exited (${code ?? signal}) before listening`)),
      )
    })
  }
}

/**
 * A seeded PRNG (mulberry32). The seed comes from PETREL_CRASH_SEED when set, so
 * a failing run (its seed is in the failure message) can be replayed.
 */
export class Random {
  readonly seed: number
  private state: number

  constructor(seed = Number(process.env.PETREL_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 32))) {
    this.seed = seed >>> 0
    this.state = this.seed
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let x = this.state
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Waits until `done()` holds and nothing new has arrived for `idleMs` (so late
 * duplicates are seen too). Gives up when nothing has arrived for `giveUpMs`
 * (what is missing is not coming) or at `deadline` (ms since epoch); the caller's
 * assertions then report what is missing. `count()` is the number of arrivals so far.
 */
export async function settle(
  count: () => number,
  done: () => boolean,
  idleMs: number,
  giveUpMs: number,
  deadline: number,
): Promise<void> {
  let last = count()
  let quietSince = Date.now()
  while (Date.now() < deadline) {
    await sleep(25)
    const n = count()
    const quiet = Date.now() - quietSince
    if (n !== last) {
      last = n
      quietSince = Date.now()
    } else if ((done() && quiet >= idleMs) || quiet >= giveUpMs) {
      return
    }
  }
}
