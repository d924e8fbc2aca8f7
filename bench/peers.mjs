// The brokers the scale benchmarks (retained-scale, subs-scale, connections) compare, started and
// stopped by PID: Petrel (in memory or on its SQLite store), Mosquitto (with or without persistence),
// nats-server's MQTT listener (JetStream on a file store) and Aedes. Also the loadgen, the broker's
// RSS from /proc and the header every table starts with.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { canConnect, sleep } from './port.mjs'

export { canConnect, sleep }

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SHARED = resolve(ROOT, '..', 'shared', 'tools', 'loadgen')
const NATS = '/usr/sbin/nats-server'
/** SIGTERM, then SIGKILL when the broker has not exited within this time. */
const STOP_GRACE_MS = 5000

export const work = mkdtempSync(join(tmpdir(), 'petrel-scale-'))

export function fail(script, msg) {
  process.stderr.write(`${script}: ${msg}\n`)
  process.exit(2)
}

/**
 * The options of a script: `spec` maps a name to [default, help]; numbers are checked to be
 * whole and >= 0, lists are split on commas. One clear line on bad input.
 */
export function options(script, spec, argv = process.argv.slice(2)) {
  const usage = Object.entries(spec)
    .map(
      ([k, [d, h]]) =>
        `  --${k}${typeof d === 'boolean' ? '' : ` <${Array.isArray(d) ? d.join(',') : d}>`}  ${h}`,
    )
    .join('\n')
  if (argv.includes('--help')) {
    process.stdout.write(`${script} options:\n${usage}\n`)
    process.exit(0)
  }
  const parsed = (() => {
    try {
      const o = {}
      for (const [k, [d]] of Object.entries(spec))
        o[k] = { type: typeof d === 'boolean' ? 'boolean' : 'string' }
      return parseArgs({ args: argv, options: o, strict: true }).values
    } catch (e) {
      return fail(script, `${e.message.split('\n')[0]} (see --help)`)
    }
  })()
  const out = {}
  for (const [k, [d]] of Object.entries(spec)) {
    const v = parsed[k]
    if (v === undefined) out[k] = d
    else if (typeof d === 'number') {
      const n = Number(v.replaceAll('_', ''))
      if (!Number.isInteger(n) || n < 0) fail(script, `--${k} must be a whole number >= 0, not '${v}'`)
      out[k] = n
    } else if (Array.isArray(d)) out[k] = v.split(',').filter((x) => x !== '')
    else out[k] = v
  }
  return out
}

/**
 * Each broker's listening port from a base: two apart, nats-server's client port the one after its
 * MQTT port. The persistent variants have ports of their own.
 */
export function portsFrom(base) {
  return {
    petrel: base,
    mosquitto: base + 2,
    aedes: base + 4,
    nats: base + 6,
    'petrel-sqlite': base + 8,
    'mosquitto-persist': base + 10,
  }
}

/** Extra options for every Petrel broker, e.g. PETREL_ARGS='--max-output-buffer 67108864'. */
const PETREL_ARGS = (process.env.PETREL_ARGS ?? '').split(/\s+/).filter((x) => x !== '')

export const KNOWN = ['petrel', 'mosquitto', 'nats', 'aedes', 'petrel-sqlite', 'mosquitto-persist']

function which(cmd) {
  for (const d of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'])
    if (existsSync(join(d, cmd))) return join(d, cmd)
  return null
}

/** Why a broker cannot run here, or null. */
function missing(name) {
  if (name.startsWith('petrel') && !existsSync(join(ROOT, 'dist/cli/main.js')))
    return 'dist/cli/main.js is missing (npm run build)'
  if (name.startsWith('mosquitto') && which('mosquitto') === null) return 'mosquitto is not installed'
  if (name === 'nats' && !existsSync(NATS)) return `${NATS} is missing`
  if (name === 'aedes' && !existsSync(join(ROOT, 'node_modules', 'aedes')))
    return 'node_modules/aedes is missing'
  return null
}

/** The brokers asked for that can run here; each one left out gets a line on stderr saying why. */
export function available(script, names) {
  const out = []
  for (const n of names) {
    if (!KNOWN.includes(n)) fail(script, `unknown broker '${n}': ${KNOWN.join(', ')}`)
    const why = missing(n)
    if (why === null) out.push(n)
    else process.stderr.write(`${script}: skipping ${n}: ${why}\n`)
  }
  return out
}

/** A fresh, empty directory for a broker's store; pass it again to restart on the same data. */
export const dataDir = (name) => mkdtempSync(join(work, `${name}-`))

function command(name, port, dir) {
  const petrel = [
    join(ROOT, 'dist/cli/main.js'),
    'broker',
    '--port',
    String(port),
    '--log-level',
    'warn',
    ...PETREL_ARGS,
  ]
  if (name === 'petrel') return [process.execPath, [...petrel, '--memory']]
  if (name === 'petrel-sqlite') return [process.execPath, [...petrel, '--data-dir', dir]]
  if (name === 'aedes') return [process.execPath, [join(ROOT, 'bench/aedes-server.mjs'), String(port)]]
  if (name === 'mosquitto' || name === 'mosquitto-persist') {
    let conf = readFileSync(join(SHARED, 'mosquitto-bench.conf'), 'utf8').replace(
      /^listener \d+/m,
      `listener ${port}`,
    )
    // saved to mosquitto.db at shutdown (SIGTERM) and loaded at start; no autosave in between.
    // 'user root': run as root, Mosquitto would otherwise switch to its own user, which cannot
    // write into our 0700 temporary folder (ignored when not root).
    if (name === 'mosquitto-persist')
      conf = conf.replace(/^persistence false$/m, `persistence true\npersistence_location ${dir}/\nuser root`)
    const file = join(dir, 'mosquitto.conf')
    writeFileSync(file, conf)
    return [which('mosquitto'), ['-c', file]]
  }
  if (name === 'nats') {
    const file = join(dir, 'nats.conf')
    writeFileSync(
      file,
      `server_name: bench\nlisten: 127.0.0.1:${port + 1}\njetstream { store_dir: "${join(dir, 'js')}" }\nmqtt { listen: 127.0.0.1:${port} }\n`,
    )
    return [NATS, ['-c', file]]
  }
  throw new Error(`no command for broker '${name}'`)
}

const running = new Set()
function killAll() {
  for (const c of running) c.kill('SIGKILL')
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM'])
  process.once(sig, () => {
    killAll()
    process.exit(130)
  })

/**
 * Starts a broker and resolves once its MQTT port accepts a connection; `spawnedAt` and
 * `listeningAt` are process.hrtime.bigint() readings (the port is polled every 10 ms).
 * `dir` holds its configuration and store: give the same one to restart on the same data.
 */
export async function startBroker(script, name, port, dir = dataDir(name)) {
  for (const p of name === 'nats' ? [port, port + 1] : [port])
    if (await canConnect(p)) fail(script, `port ${p} is already in use (choose another --port-base)`)
  const [cmd, args] = command(name, port, dir)
  const spawnedAt = process.hrtime.bigint()
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  running.add(child)
  child.once('exit', () => running.delete(child))
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000)
  })
  const b = { name, port, dir, child, pid: child.pid, spawnedAt, listeningAt: 0n }
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      fail(script, `${name} exited at start: ${stderr.trim().split('\n').slice(-3).join(' | ')}`)
    if (await canConnect(port)) {
      b.listeningAt = process.hrtime.bigint()
      return b
    }
    await sleep(10)
  }
  await stopBroker(b, 'SIGKILL')
  fail(script, `${name} did not listen on ${port} within 60 s`)
}

/**
 * Stops a broker we started: `signal` (SIGTERM by default), then SIGKILL if it is still there
 * after 5 s. Resolves with the milliseconds it took and whether it exited by itself.
 */
export async function stopBroker(b, signal = 'SIGTERM') {
  const c = b.child
  if (c.exitCode !== null || c.signalCode !== null) return { ms: 0, graceful: true }
  const t0 = performance.now()
  const exited = new Promise((r) => c.once('exit', r))
  c.kill(signal)
  let graceful = true
  const t = setTimeout(() => {
    graceful = false
    c.kill('SIGKILL')
  }, STOP_GRACE_MS)
  await exited
  clearTimeout(t)
  return { ms: performance.now() - t0, graceful: graceful || signal === 'SIGKILL' }
}

/** The resident set of a process, KiB (VmRSS). */
export function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : Number.NaN
}

/**
 * The resident set of a process once it has sat idle for `ms` (default 40 s): the lowest VmRSS
 * seen, sampled each second. A garbage-collected broker gives memory back to the system only
 * after V8's memory reducer runs, some 20-30 s into an idle spell; a C broker's RSS is the same
 * at once. Every broker gets the same wait, so the figure is what a broker that has settled holds.
 */
export async function settledRssKiB(pid, ms = 40_000) {
  let low = rssKiB(pid)
  for (let t = 0; t < ms; t += 1000) {
    await sleep(1000)
    low = Math.min(low, rssKiB(pid))
  }
  return low
}

/** Stops with one line when `n` connections (and their broker's side) would not fit in `ulimit -n`. */
export function needOpenFiles(script, flag, n, spare) {
  const limit = openFilesLimit()
  if (n + spare > limit)
    fail(script, `${flag} ${n} needs ${n + spare} open files here and in the broker; ulimit -n is ${limit}`)
}

/** CPU seconds (user + system) a process has used, from /proc (clock ticks of 10 ms). */
export function cpuSeconds(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** The soft limit on open files of this process (the brokers inherit it). */
export function openFilesLimit() {
  const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'))
  return m === null || m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1])
}

/** The loadgen, built from ../shared into the temporary folder when missing or older than its source. */
export function loadgenPath(script) {
  const src = join(SHARED, 'loadgen.c')
  if (!existsSync(src))
    fail(script, `loadgen source not found at ${src} (../shared must be beside the checkout)`)
  const bin = join(tmpdir(), 'mqtt-loadgen')
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs)
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, src], { stdio: 'inherit' })
  return bin
}

/** Runs the loadgen with --json against a port; resolves with its parsed output (null if none) and exit code. */
export function runLoadgen(lg, port, args) {
  const all = ['--host', '127.0.0.1', '--port', String(port), '--size', '64', '--json', ...args]
  return new Promise((res) => {
    const child = spawn(lg, all, { stdio: ['ignore', 'pipe', 'pipe'] })
    running.add(child)
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-2000)
    })
    child.on('exit', (code) => {
      running.delete(child)
      let json = null
      try {
        json = JSON.parse(out)
      } catch {}
      res({ json, code, stderr: err.trim() })
    })
  })
}

/** The lines above each table: machine, Node, commit. */
export function header() {
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT })
    if (dirty.length > 0) commit += ' (with uncommitted changes)'
  } catch {}
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  return `Machine: ${cpus().length} cores, ${cpu}; Node ${process.version}; commit ${commit}`
}

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** 1234567 → '1.23M', 45678 → '46k', 950 → '950'. */
export const fmtRate = (n) =>
  !Number.isFinite(n)
    ? 'n/a'
    : n >= 1e6
      ? `${(n / 1e6).toFixed(2)}M`
      : n >= 1e4
        ? `${Math.round(n / 1e3)}k`
        : n >= 1e3
          ? `${(n / 1e3).toFixed(1)}k`
          : String(Math.round(n))
export const mib = (kib) => (Number.isFinite(kib) ? `${(kib / 1024).toFixed(1)} MiB` : 'n/a')
