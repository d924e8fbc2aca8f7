/**
 * Real Mosquitto peers for interop tests: a broker started per suite, and the
 * mosquitto_pub / mosquitto_sub command-line clients run as child processes.
 *
 *   const skip = mosquittoSkip()                    // false, or why the suite is skipped
 *   describe('...', { skip }, () => {
 *     let m: MosquittoBroker
 *     before(async () => { m = await startMosquitto() })
 *     after(() => m?.stop())
 *   })
 *
 * Locally a missing binary skips with the reason shown; in CI (CI=true) it
 * throws instead, so a machine without Mosquitto fails the run (.ci/run installs it).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants as fsConstants } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { freePort, LOOPBACK, waitForPort } from './net.js'

// --- finding the binaries ------------------------------------------------------

/** Debian installs the broker in /usr/sbin, which is not on every user's PATH. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin']

const found = new Map<string, string | null>()

/** Absolute path of an executable on PATH (or in the sbin directories), or null. */
export function findBinary(name: string): string | null {
  const cached = found.get(name)
  if (cached !== undefined) return cached
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...EXTRA_DIRS]
  let hit: string | null = null
  for (const dir of dirs) {
    const p = join(dir, name)
    try {
      accessSync(p, fsConstants.X_OK)
      hit = p
      break
    } catch {
      // not in this directory; try the next
    }
  }
  found.set(name, hit)
  return hit
}

export function hasMosquitto(): boolean {
  return findBinary('mosquitto') !== null
}

export function hasMosquittoClients(): boolean {
  return findBinary('mosquitto_pub') !== null && findBinary('mosquitto_sub') !== null
}

/** True when running in CI, where missing interop peers are an error rather than a reason to skip. */
export function inCI(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false'
}

function skipReason(ok: boolean, what: string, pkg: string): string | false {
  if (ok) return false
  const reason = `${what} not found on PATH or in /usr/sbin (Debian: apt-get install ${pkg})`
  if (inCI()) throw new Error(`${reason}; CI=true, so interop tests must not be skipped`)
  return reason
}

/** For node:test's `skip` option: false when the mosquitto broker is installed, else the reason. Throws in CI. */
export function mosquittoSkip(): string | false {
  return skipReason(hasMosquitto(), 'mosquitto (the broker)', 'mosquitto')
}

/** For node:test's `skip` option: false when mosquitto_pub and mosquitto_sub are installed, else the reason. Throws in CI. */
export function mosquittoClientsSkip(): string | false {
  return skipReason(hasMosquittoClients(), 'mosquitto_pub/mosquitto_sub', 'mosquitto-clients')
}

function requireBinary(name: string): string {
  const p = findBinary(name)
  if (p === null) throw new Error(`${name} is not installed (see mosquittoSkip / mosquittoClientsSkip)`)
  return p
}

// --- the broker --------------------------------------------------------------

export interface MosquittoOptions {
  /** Extra mosquitto.conf lines, appended after the generated ones (e.g. 'max_inflight_messages 1'). */
  config?: string[]
  /** Milliseconds to wait for the listener. Default 5000. */
  startTimeoutMs?: number
}

export interface MosquittoBroker {
  readonly host: string
  readonly port: number
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string
  /** The temporary directory holding mosquitto.conf (removed by stop()). */
  readonly dir: string
  /** What the broker has logged so far (stdout and stderr, capped), for failure messages. */
  log(): string
  /** Terminates the broker (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. Idempotent. */
  stop(): Promise<void>
}

const LOG_CAP = 64 * 1024
const PORT_ATTEMPTS = 3

/**
 * Starts `mosquitto -c <generated conf>` listening on a free loopback port with
 * anonymous access and no persistence, and resolves once it accepts connections.
 */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoBroker> {
  const bin = requireBinary('mosquitto')
  const dir = await mkdtemp(join(tmpdir(), 'petrel-mosquitto-'))
  let lastError: unknown
  try {
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      try {
        return await startOn(bin, dir, await freePort(), options)
      } catch (err) {
        lastError = err
        // Someone took the port between freePort() and mosquitto's bind: try another.
        if (!(err instanceof Error && /address already in use/i.test(err.message))) break
      }
    }
  } catch (err) {
    lastError = err
  }
  await rm(dir, { recursive: true, force: true })
  throw lastError
}

async function startOn(
  bin: string,
  dir: string,
  port: number,
  options: MosquittoOptions,
): Promise<MosquittoBroker> {
  const conf = join(dir, 'mosquitto.conf')
  const lines = [
    '# generated by test/helpers/mosquitto.ts',
    `listener ${port} ${LOOPBACK}`,
    'allow_anonymous true',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    ...(options.config ?? []),
  ]
  await writeFile(conf, `${lines.join('\n')}\n`)
  const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  const append = (chunk: Buffer): void => {
    if (log.length < LOG_CAP) log += chunk.toString('utf8')
  }
  child.stdout?.on('data', append)
  child.stderr?.on('data', append)
  const exited = exitOf(child)
  // A broker left running by a crashed test process would hold its port: kill it on exit.
  const killOnExit = (): void => {
    child.kill('SIGKILL')
  }
  process.once('exit', killOnExit)

  const early = new AbortController()
  const died = exited.then(() => {
    early.abort(new Error(`mosquitto exited during start-up (${describeExit(child)}):\n${log}`))
  })
  try {
    await waitForPort(port, options.startTimeoutMs ?? 5000, early.signal)
  } catch (err) {
    await died.catch(() => {})
    await stopChild(child, exited)
    process.off('exit', killOnExit)
    throw early.signal.aborted ? early.signal.reason : new Error(`${(err as Error).message}\n${log}`)
  }

  let stopping: Promise<void> | null = null
  return {
    host: LOOPBACK,
    port,
    url: `mqtt://${LOOPBACK}:${port}`,
    dir,
    log: () => log,
    stop: () => {
      stopping ??= (async () => {
        await stopChild(child, exited)
        process.off('exit', killOnExit)
        await rm(dir, { recursive: true, force: true })
      })()
      return stopping
    },
  }
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve()
    else child.once('exit', () => resolve())
  })
}

function describeExit(child: ChildProcess): string {
  return child.signalCode !== null ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  if (await within(exited, 3000)) return
  child.kill('SIGKILL')
  if (!(await within(exited, 3000)))
    throw new Error(`mosquitto (pid ${child.pid}) did not exit after SIGKILL`)
}

async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms)
  })
  try {
    return await Promise.race([p.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

// --- the command-line clients -----------------------------------------------------

export interface ToolResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export class ToolError extends Error {
  readonly result: ToolResult
  constructor(message: string, result: ToolResult) {
    super(`${message}\nstdout: ${JSON.stringify(result.stdout)}\nstderr: ${JSON.stringify(result.stderr)}`)
    this.name = 'ToolError'
    this.result = result
  }
}

export interface RunOptions {
  /** Written to stdin, which is then closed. Without it stdin is empty. */
  input?: string | Buffer
  /** Hard limit: the process is killed (SIGKILL) and the promise rejects. Default 10000. */
  timeoutMs?: number
  /** Resolve even when the exit code is not 0. Default false: a failure rejects with a ToolError. */
  allowFailure?: boolean
}

/** Runs a program to completion with a bounded time and collects its output. */
export function runTool(bin: string, args: readonly string[], options: RunOptions = {}): Promise<ToolResult> {
  const timeoutMs = options.timeoutMs ?? 10_000
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.stdin.on('error', () => {}) // EPIPE when the tool exits before reading all input
    child.stdin.end(options.input ?? '')
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      const result: ToolResult = { code, signal, stdout, stderr }
      const name = `${bin} ${args.join(' ')}`
      if (timedOut) reject(new ToolError(`${name}: killed after ${timeoutMs} ms`, result))
      else if (code !== 0 && options.allowFailure !== true)
        reject(new ToolError(`${name}: exited with ${signal ?? code}`, result))
      else resolve(result)
    })
  })
}

function endpoint(port: number, host: string): string[] {
  return ['-h', host, '-p', String(port)]
}

/**
 * Runs `mosquitto_pub -h 127.0.0.1 -p <port> ...args`. Give the message with
 * `-m`, `-n`, `-f`, or `-l`/`-s` and `options.input`.
 */
export function mosquittoPub(
  port: number,
  args: readonly string[],
  options: RunOptions & { host?: string } = {},
): Promise<ToolResult> {
  return runTool(
    requireBinary('mosquitto_pub'),
    [...endpoint(port, options.host ?? LOOPBACK), ...args],
    options,
  )
}

export interface SubOptions extends Omit<RunOptions, 'timeoutMs' | 'input'> {
  host?: string
  /** Filters to subscribe to (each as `-t`). */
  topics: readonly string[]
  /** Exit after this many messages (`-C`). */
  count: number
  /** Requested QoS (`-q`). Default 0. */
  qos?: 0 | 1 | 2
  /** mosquitto_sub's own timeout (`-W`), in seconds; it exits with code 27 when it expires. Default 5. */
  waitSeconds?: number
  /** Further arguments, e.g. ['-v'], ['-F', '%t %p'], ['-c', '-i', 'id']. */
  args?: readonly string[]
}

export interface SubResult extends ToolResult {
  /** stdout split into lines (without the final empty one). */
  lines: string[]
}

/**
 * Runs `mosquitto_sub` until it has printed `count` messages or `waitSeconds`
 * pass (then it rejects with a ToolError showing what arrived, unless
 * allowFailure). It gives no sign of having subscribed; against Petrel wait for
 * the broker's 'subscribed' event before publishing.
 */
export async function mosquittoSub(port: number, options: SubOptions): Promise<SubResult> {
  const wait = options.waitSeconds ?? 5
  const args = [
    ...endpoint(port, options.host ?? LOOPBACK),
    ...options.topics.flatMap((t) => ['-t', t]),
    '-C',
    String(options.count),
    '-W',
    String(wait),
    '-q',
    String(options.qos ?? 0),
    ...(options.args ?? []),
  ]
  const run: RunOptions = { timeoutMs: wait * 1000 + 3000 }
  if (options.allowFailure !== undefined) run.allowFailure = options.allowFailure
  const r = await runTool(requireBinary('mosquitto_sub'), args, run)
  const lines = r.stdout.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return { ...r, lines }
}

/**
 * Starts mosquitto_sub and returns once `subscribed()` (called first, so that it sees the SUBSCRIBE)
 * resolves, or mosquitto_sub has already exited. `done` settles when it exits; the caller awaits it
 * (wrapped: an async function would otherwise wait for `done` itself).
 */
export async function startMosquittoSub(
  port: number,
  options: SubOptions,
  subscribed: () => Promise<void>,
): Promise<{ done: Promise<SubResult> }> {
  const ready = subscribed()
  const done = mosquittoSub(port, options)
  done.catch(() => {}) // awaited by the caller; this keeps an early failure from going unhandled
  await Promise.race([ready, done])
  return { done }
}
