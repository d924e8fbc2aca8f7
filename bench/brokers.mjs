// The brokers of bench/run.mjs: how each is started (command line, config file in the bench's
// work dir), on which ports, and how it is measured (CPU ticks, RSS) and stopped, by its PID.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fail } from './fail.mjs'
import { canConnect, sleep } from './port.mjs'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const SHARED = resolve(ROOT, '..', 'shared', 'tools', 'loadgen')

/** Config files, data dirs and nats-server's JetStream store; removed when the bench exits. */
const work = mkdtempSync(join(tmpdir(), 'petrel-bench-'))
process.on('exit', () => rmSync(work, { recursive: true, force: true }))

/**
 * Each broker's MQTT port as an offset from --port-base (default 18800, so mosquitto on 18830);
 * second listeners: petrel-http's HTTP endpoint at +71, nats-server's NATS client port at +81.
 */
const OFFSETS = {
  mosquitto: 30,
  aedes: 40,
  petrel: 50,
  'petrel-w': 51,
  'petrel-sqlite': 55,
  'petrel-sqlite-w': 56,
  'petrel-base': 60,
  'petrel-http': 70,
  nats: 80,
}
const HTTP_OFFSET = 71
const NATS_CLIENT_OFFSET = 81
export const BROKER_NAMES = Object.keys(OFFSETS)
let portBase = 18800
export function setPortBase(base) {
  portBase = base
}
const httpPort = () => portBase + HTTP_OFFSET
const natsClientPort = () => portBase + NATS_CLIENT_OFFSET

/** Listeners other than the MQTT one: they must be free too. */
function otherPorts(name) {
  if (name === 'petrel-http') return [httpPort()]
  if (name === 'nats') return [natsClientPort()]
  return []
}

/** An executable in the system folders (packages put mosquitto and nats-server in /usr/sbin) or on PATH. */
export function which(cmd) {
  const dirs = [
    '/usr/sbin',
    '/usr/bin',
    '/usr/local/sbin',
    '/usr/local/bin',
    ...(process.env.PATH ?? '').split(':'),
  ]
  for (const d of dirs) if (d && existsSync(join(d, cmd))) return join(d, cmd)
  return null
}

/** Why nats-server cannot be run here, or null when it can. */
export const natsMissing = () =>
  which('nats-server') === null ? 'nats-server is not installed (apt-get install nats-server)' : null

function petrel(main, port, store) {
  return [process.execPath, [main, 'broker', '--port', String(port), ...store, '--log-level', 'warn']]
}

/** A Petrel config file with the widest in-flight window (65,535 QoS 1/2 messages per client). */
function wideWindow() {
  const file = join(work, 'petrel-wide-window.yaml')
  writeFileSync(file, 'maxInflight: 65535\n')
  return file
}

function brokerCommand(name, port) {
  const main = join(ROOT, 'dist/cli/main.js')
  if (name === 'petrel') return petrel(main, port, ['--memory'])
  // petrel with its HTTP endpoint on (metrics, admin API, dashboard sampler), scraped every
  // second while it runs (see startBroker): the cost of observability, against 'petrel'.
  if (name === 'petrel-http') return petrel(main, port, ['--memory', '--http-port', String(httpPort())])
  if (name === 'petrel-sqlite') return petrel(main, port, ['--data-dir', mkdtempSync(join(work, 'data-'))])
  // -w: the in-flight window the benchmark's Mosquitto has (mosquitto-bench.conf: max_inflight_messages 0,
  // no limit), instead of Petrel's default of 100 (bench/run.mjs --modes window, durable-window)
  if (name === 'petrel-w') return petrel(main, port, ['--memory', '--config', wideWindow()])
  if (name === 'petrel-sqlite-w')
    return petrel(main, port, ['--data-dir', mkdtempSync(join(work, 'data-')), '--config', wideWindow()])
  if (name === 'petrel-base') {
    // Another checkout of Petrel, built, for a before/after comparison in the same run.
    const base = process.env.PETREL_BASE
    if (!base) fail('petrel-base needs PETREL_BASE=<path of another checkout, after npm run build>')
    return petrel(join(resolve(base), 'dist/cli/main.js'), port, ['--memory'])
  }
  if (name === 'aedes') return [process.execPath, [join(ROOT, 'bench/aedes-server.mjs'), String(port)]]
  if (name === 'mosquitto') {
    const bin = which('mosquitto')
    if (bin === null) fail('mosquitto is not installed (apt-get install mosquitto)')
    const conf = readFileSync(join(SHARED, 'mosquitto-bench.conf'), 'utf8').replace(
      /^listener \d+/m,
      `listener ${port}`,
    )
    const file = join(work, `mosquitto-${port}.conf`)
    writeFileSync(file, conf)
    return [bin, ['-c', file]]
  }
  if (name === 'nats') {
    const bin = which('nats-server')
    if (bin === null) fail(natsMissing())
    return [bin, ['-c', natsConfig(port)]]
  }
  fail(`unknown broker '${name}': ${BROKER_NAMES.join(', ')}`)
}

/**
 * nats-server's MQTT listener needs JetStream (sessions and QoS 1 messages live in streams);
 * a fresh store per start, like petrel-sqlite's data dir, so no run inherits the last one's
 * state. max_payload (default 1 MB, below a 1 MiB payload plus its topic) is raised to 8MB for
 * mode large: nats-server 2.9 does not apply it to MQTT (9 MB went through at the default), but
 * the MQTT messages are NATS messages inside, and a later version may.
 */
function natsConfig(port) {
  const store = mkdtempSync(join(work, 'nats-'))
  const file = join(store, 'nats.conf')
  writeFileSync(
    file,
    [
      'server_name: bench',
      `listen: 127.0.0.1:${natsClientPort()}`,
      'max_payload: 8MB',
      `jetstream { store_dir: ${JSON.stringify(store)} }`,
      `mqtt { listen: 127.0.0.1:${port} }`,
      '',
    ].join('\n'),
  )
  return file
}

/**
 * With --pin: the broker on CPU 1 and the loadgen on CPU 0 (taskset execs the command, so the
 * pid stays the process measured). Absolute rates drop (the broker has one core), but an A/B
 * comparison of two brokers varies far less from run to run.
 */
let PIN = false
export function setPin(on) {
  PIN = on
}
export function pinned(cpu, cmd, args) {
  return PIN ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]
}

/** 'petrel@5' is the broker 'petrel' (driven at MQTT 5). */
export const brokerOf = (name) => name.replace(/@5$/, '')

export async function startBroker(name) {
  const broker = brokerOf(name)
  if (!(broker in OFFSETS)) fail(`unknown broker '${broker}': ${BROKER_NAMES.join(', ')}`)
  const port = portBase + OFFSETS[broker]
  for (const p of [port, ...otherPorts(broker)])
    if (await canConnect(p)) fail(`port ${p} (for ${broker}) is already in use; --port-base moves all ports`)
  const [cmd, args] = brokerCommand(broker, port)
  const child = spawn(...pinned(1, cmd, args), { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => {
    stderr += d
  })
  for (let i = 0; i < 100; i++) {
    if (await canConnect(port)) return { child, port, stderr: () => stderr, scraper: scrape(name) }
    if (child.exitCode !== null)
      fail(`${name} exited at start: ${stderr.trim().split('\n').slice(-3).join(' | ')}`)
    await sleep(100)
  }
  child.kill('SIGKILL')
  fail(`${name} did not listen on ${port} within 10 s`)
}

/**
 * For petrel-http: GET /metrics once a second, as a Prometheus server would, for as long as
 * the broker runs; the bytes are read and thrown away. Null for other brokers.
 */
function scrape(name) {
  if (brokerOf(name) !== 'petrel-http') return null
  let scrapes = 0
  const t = setInterval(() => {
    fetch(`http://127.0.0.1:${httpPort()}/metrics`)
      .then((r) => r.text())
      .then(() => scrapes++)
      .catch(() => {})
  }, 1000)
  return {
    stop: () => {
      clearInterval(t)
      return scrapes
    },
  }
}

export async function stopBroker(b) {
  b.scraper?.stop()
  if (b.child.exitCode !== null) return
  const exited = new Promise((r) => b.child.once('exit', r))
  b.child.kill('SIGTERM')
  const t = setTimeout(() => b.child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(t)
}

export function cpuTicks(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12])
  } catch {
    return 0
  }
}

/** Resident set size in MB (10^6 bytes), from /proc/PID/status; NaN when it cannot be read. */
export function rssMB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? (Number(m[1]) * 1024) / 1e6 : Number.NaN
  } catch {
    return Number.NaN
  }
}
