/**
 * Real nats-server processes for the tests of Petrel's cluster mode: one server,
 * or a cluster of N joined by routes, each with JetStream and a monitoring port.
 *
 *   const skip = natsSkip()                         // false, or why the suite is skipped
 *   describe('...', { skip }, () => {
 *     let nats: NatsCluster
 *     before(async () => { nats = await startNats({ servers: 3 }) })
 *     after(() => nats?.stop())
 *   })
 *
 * Locally a missing nats-server skips with the reason shown; in CI (CI=true) it
 * throws instead, so a machine without it fails the run.
 *
 * Only the PIDs started here are ever signalled, and a process 'exit' handler
 * SIGKILLs any still running, so no server outlives the test process.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { findBinary, inCI } from './mosquitto.js'
import { freePort, LOOPBACK, waitForPort } from './net.js'

/** For node:test's `skip` option: false when nats-server is installed, else the reason. Throws in CI. */
export function natsSkip(): false | string {
  if (findBinary('nats-server') !== null) return false
  const reason = 'nats-server not found on PATH or in /usr/sbin (Debian: apt-get install nats-server)'
  if (inCI()) throw new Error(`${reason}; CI=true, so cluster tests must not be skipped`)
  return reason
}

export interface NatsOptions {
  /** How many servers; more than 1 forms a cluster (routes). Default 1. */
  servers?: number
  /** Enable JetStream on every server. Default true. */
  jetstream?: boolean
  /** Milliseconds to wait until every server is up (and JetStream is ready). Default 20000. */
  startTimeoutMs?: number
}

/** One nats-server of a NatsCluster. `pid` is that of the current process (it changes on restart). */
export interface NatsServerInfo {
  readonly name: string
  readonly port: number
  /** The route port; 0 for a single server. */
  readonly clusterPort: number
  /** The monitoring (HTTP) port. */
  readonly httpPort: number
  /** PID of the running process, or of the last one if it was killed. */
  readonly pid: number
  /** `nats://127.0.0.1:<port>` */
  readonly url: string
  /** What this server has logged (stdout and stderr, last 20 KiB), for failure messages. */
  log(): string
}

/** Servers started by startNats(). */
export interface NatsCluster {
  /** `nats://127.0.0.1:<port>` of each server, in order. */
  readonly urls: string[]
  readonly servers: readonly NatsServerInfo[]
  /** The temporary directory holding the configs and JetStream stores (removed by stop()). */
  readonly dir: string
  /** SIGKILLs server i (by PID) and waits for it to exit. */
  kill(i: number): Promise<void>
  /** Starts server i again with the same config, store and ports; resolves once it rejoined and JetStream is healthy. */
  restart(i: number): Promise<void>
  /** SIGTERM every running server, SIGKILL after 3 s, then removes the temp dir. Idempotent. */
  stop(): Promise<void>
}

const LOG_CAP = 20 * 1024
const PORT_ATTEMPTS = 3
const CLUSTER_NAME = 'petrel-test'

// Every server still running, SIGKILLed if the test process exits without stopping it,
// and every temp dir not yet removed by stop().
const live = new Set<ChildProcess>()
const dirs = new Set<string>()
let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const c of live) {
      try {
        if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
}
function track(child: ChildProcess): void {
  live.add(child)
  child.once('exit', () => live.delete(child))
  installExitHook()
}

interface Ports {
  port: number
  clusterPort: number
  httpPort: number
}

class Server implements NatsServerInfo {
  readonly name: string
  readonly port: number
  readonly clusterPort: number
  readonly httpPort: number
  readonly url: string
  readonly conf: string
  child: ChildProcess | null = null
  exited: Promise<void> = Promise.resolve()
  private logText = ''

  constructor(name: string, ports: Ports, conf: string) {
    this.name = name
    this.port = ports.port
    this.clusterPort = ports.clusterPort
    this.httpPort = ports.httpPort
    this.url = `nats://${LOOPBACK}:${ports.port}`
    this.conf = conf
  }

  get pid(): number {
    return this.child?.pid ?? 0
  }

  log(): string {
    return this.logText
  }

  running(): boolean {
    const c = this.child
    return c !== null && c.exitCode === null && c.signalCode === null
  }

  spawn(bin: string): void {
    const child = spawn(bin, ['-c', this.conf], { stdio: ['ignore', 'pipe', 'pipe'] })
    const append = (chunk: Buffer): void => {
      this.logText += chunk.toString('utf8')
      if (this.logText.length > LOG_CAP) this.logText = this.logText.slice(-LOG_CAP)
    }
    child.stdout?.on('data', append)
    child.stderr?.on('data', append)
    child.once('error', (err) => append(Buffer.from(`spawn error: ${err.message}\n`)))
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()))
    this.child = child
    if (child.pid !== undefined) track(child)
  }

  describeExit(): string {
    const c = this.child
    if (c === null) return 'not started'
    return c.signalCode !== null ? `signal ${c.signalCode}` : `exit code ${c.exitCode}`
  }

  failure(what: string): Error {
    return new Error(`nats-server ${this.name} (pid ${this.pid}): ${what}\n--- log ---\n${this.logText}`)
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.running()) return
    try {
      process.kill(this.pid, signal)
    } catch {
      // exited meanwhile
    }
  }

  async stop(): Promise<void> {
    if (!this.running()) return
    await this.kill('SIGTERM')
    if (await within(this.exited, 3000)) return
    await this.kill('SIGKILL')
    if (!(await within(this.exited, 3000))) throw this.failure('did not exit after SIGKILL')
  }
}

/**
 * Starts `servers` nats-server processes on loopback (free ports; routes between
 * them when more than one), and resolves once all accept clients and, with
 * JetStream, the meta group has a leader and an R=N stream can be created.
 */
export async function startNats(options: NatsOptions = {}): Promise<NatsCluster> {
  const bin = findBinary('nats-server')
  if (bin === null) throw new Error('nats-server is not installed (see natsSkip)')
  const n = options.servers ?? 1
  if (!Number.isInteger(n) || n < 1) throw new Error(`servers must be a positive integer, got ${n}`)
  const js = options.jetstream ?? true
  const timeoutMs = options.startTimeoutMs ?? 20_000
  const dir = await mkdtemp(join(tmpdir(), 'petrel-nats-'))
  dirs.add(dir)
  installExitHook()
  let lastError: unknown
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const servers = await configure(dir, n, js)
    try {
      for (const s of servers) s.spawn(bin)
      await Promise.all(servers.map((s) => ready(s, n, js, timeoutMs)))
      if (js) await probeStream(servers, n, timeoutMs)
      return cluster(bin, dir, servers, n, js, timeoutMs)
    } catch (err) {
      lastError = err
      await Promise.allSettled(servers.map((s) => s.stop()))
      // Someone took a port between freePort() and the bind: try other ports.
      if (!servers.some((s) => /address already in use/i.test(s.log()))) break
    }
  }
  await rm(dir, { recursive: true, force: true })
  dirs.delete(dir)
  throw lastError
}

async function configure(dir: string, n: number, js: boolean): Promise<Server[]> {
  const ports: Ports[] = []
  for (let i = 0; i < n; i++)
    ports.push({
      port: await freePort(),
      clusterPort: n > 1 ? await freePort() : 0,
      httpPort: await freePort(),
    })
  const routes = ports.map((p) => `nats-route://${LOOPBACK}:${p.clusterPort}`)
  const servers: Server[] = []
  for (let i = 0; i < n; i++) {
    const p = ports[i]!
    const name = `petrel-n${i}`
    const store = join(dir, name)
    await mkdir(store, { recursive: true })
    const lines = [
      '# generated by test/helpers/nats.ts',
      `server_name: ${name}`,
      `listen: ${LOOPBACK}:${p.port}`,
      `http: ${LOOPBACK}:${p.httpPort}`,
    ]
    if (js)
      lines.push(
        `jetstream { store_dir: ${JSON.stringify(store)}, max_memory_store: 256MB, max_file_store: 1GB }`,
      )
    if (n > 1)
      lines.push(
        'cluster {',
        `  name: ${CLUSTER_NAME}`,
        `  listen: ${LOOPBACK}:${p.clusterPort}`,
        `  routes: [${routes.map((r) => JSON.stringify(r)).join(', ')}]`,
        '}',
      )
    const conf = join(dir, `${name}.conf`)
    await writeFile(conf, `${lines.join('\n')}\n`)
    servers.push(new Server(name, p, conf))
  }
  return servers
}

function cluster(
  bin: string,
  dir: string,
  servers: Server[],
  n: number,
  js: boolean,
  timeoutMs: number,
): NatsCluster {
  const at = (i: number): Server => {
    const s = servers[i]
    if (s === undefined) throw new Error(`no server ${i} (there are ${servers.length})`)
    return s
  }
  let stopping: Promise<void> | null = null
  return {
    urls: servers.map((s) => s.url),
    servers,
    dir,
    kill: async (i) => {
      const s = at(i)
      await s.kill('SIGKILL')
      if (!(await within(s.exited, 5000))) throw s.failure('did not exit after SIGKILL')
    },
    restart: async (i) => {
      const s = at(i)
      if (stopping !== null) throw new Error('restart after stop()')
      if (s.running()) throw new Error(`server ${i} is still running; kill(${i}) first`)
      s.spawn(bin)
      try {
        await ready(s, n, js, timeoutMs)
        if (js) await probeStream([s], n, timeoutMs)
      } catch (err) {
        await s.stop()
        throw err
      }
    },
    stop: () => {
      stopping ??= (async () => {
        await Promise.all(servers.map((s) => s.stop()))
        await rm(dir, { recursive: true, force: true })
        dirs.delete(dir)
      })()
      return stopping
    },
  }
}

/**
 * Waits for one server: client port open, all routes up, and (with JetStream)
 * `/healthz` ok (which in 2.9 also requires a known meta leader and current
 * assets) and `/jsz` naming a meta leader. Rejects early if the process exits.
 */
async function ready(s: Server, n: number, js: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const early = new AbortController()
  void s.exited.then(() => early.abort(s.failure(`exited during start-up (${s.describeExit()})`)))
  try {
    await waitForPort(s.port, timeoutMs, early.signal)
    let last = ''
    for (;;) {
      if (early.signal.aborted) throw early.signal.reason
      last = await healthProblem(s, n, js)
      if (last === '') return
      if (Date.now() >= deadline) throw s.failure(`not ready within ${timeoutMs} ms: ${last}`)
      await sleep(100)
    }
  } catch (err) {
    if (early.signal.aborted) throw early.signal.reason
    if (err instanceof Error && !err.message.includes('--- log ---')) throw s.failure(err.message)
    throw err
  }
}

/** '' when healthy, else what is missing. */
async function healthProblem(s: Server, n: number, js: boolean): Promise<string> {
  try {
    if (n > 1) {
      const routez = (await getJson(s, '/routez')) as { num_routes?: number }
      // Each pair of servers may briefly hold two routes; at least n-1 means every peer is connected.
      if ((routez.num_routes ?? 0) < n - 1) return `routes ${routez.num_routes ?? 0}/${n - 1}`
    }
    const health = await fetch(`http://${LOOPBACK}:${s.httpPort}/healthz`, {
      signal: AbortSignal.timeout(2000),
    })
    const body = await health.text()
    if (health.status !== 200) return `/healthz ${health.status} ${body.trim()}`
    if (js && n > 1) {
      const jsz = (await getJson(s, '/jsz')) as { meta_cluster?: { leader?: string } }
      if (!jsz.meta_cluster?.leader) return 'no JetStream meta leader in /jsz'
    }
    return ''
  } catch (err) {
    return `monitoring: ${(err as Error).message}`
  }
}

async function getJson(s: Server, path: string): Promise<unknown> {
  const res = await fetch(`http://${LOOPBACK}:${s.httpPort}${path}`, { signal: AbortSignal.timeout(2000) })
  if (res.status !== 200) throw new Error(`${path} ${res.status}`)
  return res.json()
}

/**
 * Creates and deletes a tiny memory stream with `replicas` replicas through the
 * given servers, retrying with backoff: in a cluster the create fails until the
 * meta group (and enough peers) are ready.
 */
async function probeStream(via: Server[], replicas: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const name = `petrel_probe_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  let delay = 50
  let last: unknown
  while (Date.now() < deadline) {
    for (const s of via) if (!s.running()) throw s.failure(`exited during start-up (${s.describeExit()})`)
    const nc = await connect({
      servers: via.map((s) => s.url),
      timeout: 2000,
      reconnect: false,
    }).catch((err: unknown) => {
      last = err
      return null
    })
    if (nc !== null) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 3000 })
        await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: replicas, storage: 'memory' })
        await jsm.streams.delete(name)
        return
      } catch (err) {
        last = err
      } finally {
        await nc.close().catch(() => {})
      }
    }
    await sleep(delay)
    delay = Math.min(delay * 2, 1000)
  }
  throw via[0]!.failure(`JetStream probe stream (R${replicas}) failed for ${timeoutMs} ms: ${String(last)}`)
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
