#!/usr/bin/env node
// Broker benchmark: the seed scenarios against Petrel, Mosquitto and Aedes in the same run,
// driven by ../shared/tools/loadgen (C, epoll). Brokers alternate; each measured run gets a
// freshly started broker and a 10 % warm-up; medians of --rounds rounds.
//
//   npm run bench                       # full matrix, both loadgen modes, 3 rounds
//   npm run bench -- --rounds 1 --modes default --only one2one:1,fanin:0
//   npm run bench -- --brokers petrel,mosquitto --json results.json
//   PETREL_BASE=../other-checkout npm run bench -- --brokers mosquitto,petrel-base,petrel   # before/after
//   npm run bench -- --no-v5            # without the MQTT 5 columns
//   npm run bench -- --brokers petrel,petrel-http --no-v5   # HTTP endpoint on and scraped each second, vs off
//   npm run bench -- --pin ...          # broker on CPU 1, loadgen on CPU 0
//   npm run bench -- --scale 5 ...      # 5x the messages per run: longer runs, less start-up in them
//
// MQTT 5: in the default and coalesce modes, petrel@5 and mosquitto@5 are the same brokers driven
// by the same loadgen built as an MQTT 5 client (bench/loadgen-v5.mjs), in the same run.
// Prints markdown tables (the ones in BENCHMARKS.md).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { v5LoadgenPath } from './loadgen-v5.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SHARED = resolve(ROOT, '..', 'shared', 'tools', 'loadgen')

// scenario:qos:count_per_publisher:target msg/s (the performance issue's targets)
const MATRIX = [
  ['one2one', 0, 300_000, 400_000],
  ['one2one', 1, 150_000, 150_000],
  ['fanin', 0, 15_000, 450_000],
  ['fanin', 1, 8_000, 63_000],
  ['fanout', 0, 25_000, 750_000],
  ['fanout', 1, 12_500, 170_000],
  ['mesh', 0, 1_250, 700_000],
  ['mesh', 1, 1_250, 190_000],
  ['one2one', 2, 60_000, 70_000],
]
// Durable store: QoS 1 with persistent sessions (clean session 0), SQLite vs memory vs Mosquitto (memory).
const DURABLE = [
  ['one2one', 1, 150_000],
  ['fanin', 1, 8_000],
]
const DURABLE_BROKERS = ['mosquitto', 'petrel', 'petrel-sqlite']
const LATENCY = [
  ['one2one', 0, 25_000],
  ['one2one', 1, 25_000],
]

function parseCli(argv) {
  const o = {
    rounds: 3,
    modes: ['default', 'coalesce', 'durable'],
    brokers: ['mosquitto', 'aedes', 'petrel'],
    only: null,
    json: null,
    latency: true,
    v5: true,
    pin: false,
    scale: 1,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      const x = argv[++i]
      if (x === undefined) fail(`${a} needs a value`)
      return x
    }
    if (a === '--rounds') o.rounds = Number(v())
    else if (a === '--modes') o.modes = v().split(',')
    else if (a === '--brokers') o.brokers = v().split(',')
    else if (a === '--only') o.only = v().split(',')
    else if (a === '--json') o.json = v()
    else if (a === '--no-latency') o.latency = false
    else if (a === '--no-v5') o.v5 = false
    else if (a === '--pin') o.pin = true
    else if (a === '--scale') o.scale = Number(v())
    else
      fail(
        `unknown option ${a}; options: --rounds N --modes default,coalesce --brokers petrel,mosquitto,aedes --only scenario:qos,... --json FILE --no-latency --no-v5 --pin --scale K`,
      )
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1) fail('--rounds must be a whole number >= 1')
  if (!(o.scale > 0)) fail("--scale must be a number > 0 (it multiplies each scenario's message count)")
  for (const m of o.modes) {
    if (m !== 'default' && m !== 'coalesce' && m !== 'durable')
      fail(`unknown mode '${m}': default, coalesce or durable`)
  }
  return o
}

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`)
  process.exit(2)
}

function loadgenPath() {
  const src = join(SHARED, 'loadgen.c')
  if (!existsSync(src)) fail(`loadgen source not found at ${src} (../shared must be beside the checkout)`)
  const bin = join(tmpdir(), 'mqtt-loadgen')
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, src], { stdio: 'inherit' })
  }
  return bin
}

/**
 * The same loadgen with clean session 0 in its CONNECT (the one byte of connect flags
 * patched at build time), for the persistent-session scenarios.
 */
function persistentLoadgenPath() {
  const src = join(SHARED, 'loadgen.c')
  const bin = join(tmpdir(), 'mqtt-loadgen-persistent')
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    const from = "'M', 'Q', 'T', 'T', 4, 0x02, 0, 60"
    const code = readFileSync(src, 'utf8')
    if (!code.includes(from))
      fail('cannot find the CONNECT flags in loadgen.c to build the persistent-session variant')
    const patched = join(tmpdir(), 'mqtt-loadgen-persistent.c')
    writeFileSync(patched, code.replace(from, "'M', 'Q', 'T', 'T', 4, 0x00, 0, 60"))
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, patched], { stdio: 'inherit' })
  }
  return bin
}

function which(cmd) {
  for (const d of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'])
    if (existsSync(join(d, cmd))) return join(d, cmd)
  return null
}

const work = mkdtempSync(join(tmpdir(), 'petrel-bench-'))

function brokerCommand(name, port) {
  if (name === 'petrel')
    return [
      process.execPath,
      [join(ROOT, 'dist/cli/main.js'), 'broker', '--port', String(port), '--memory', '--log-level', 'warn'],
    ]
  if (name === 'petrel-http') {
    // petrel with its HTTP endpoint on (metrics, admin API, dashboard sampler), scraped every
    // second while it runs (see startBroker): the cost of observability, against 'petrel'.
    const [node, args] = brokerCommand('petrel', port)
    return [node, [...args, '--http-port', String(HTTP_PORT)]]
  }
  if (name === 'petrel-sqlite') {
    const dataDir = mkdtempSync(join(work, 'data-'))
    return [
      process.execPath,
      [
        join(ROOT, 'dist/cli/main.js'),
        'broker',
        '--port',
        String(port),
        '--data-dir',
        dataDir,
        '--log-level',
        'warn',
      ],
    ]
  }
  if (name === 'petrel-base') {
    // Another checkout of Petrel, built, for a before/after comparison in the same run.
    const base = process.env.PETREL_BASE
    if (!base) fail('petrel-base needs PETREL_BASE=<path of another checkout, after npm run build>')
    return [
      process.execPath,
      [
        join(resolve(base), 'dist/cli/main.js'),
        'broker',
        '--port',
        String(port),
        '--memory',
        '--log-level',
        'warn',
      ],
    ]
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
  fail(`unknown broker '${name}'`)
}

/** Where petrel-http serves /metrics. */
const HTTP_PORT = 18871

const PORTS = {
  'petrel-http': 18870,
  petrel: 18850,
  mosquitto: 18830,
  aedes: 18840,
  'petrel-sqlite': 18855,
  'petrel-base': 18860,
}

function canConnect(port) {
  return new Promise((res) => {
    const s = createConnection({ port, host: '127.0.0.1' })
    s.once('connect', () => {
      s.destroy()
      res(true)
    })
    s.once('error', () => res(false))
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * With --pin: the broker on CPU 1 and the loadgen on CPU 0 (taskset execs the command, so the
 * pid stays the process measured). Absolute rates drop (the broker has one core), but an A/B
 * comparison of two brokers varies far less from run to run.
 */
let PIN = false
function pinned(cpu, cmd, args) {
  return PIN ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]
}

/** 'petrel@5' is the broker 'petrel' (driven at MQTT 5). */
const brokerOf = (name) => name.replace(/@5$/, '')
const V5_BROKERS = ['petrel', 'mosquitto']

async function startBroker(name) {
  const port = PORTS[brokerOf(name)]
  if (await canConnect(port)) fail(`port ${port} is already in use`)
  const [cmd, args] = brokerCommand(brokerOf(name), port)
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
    fetch(`http://127.0.0.1:${HTTP_PORT}/metrics`)
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

async function stopBroker(b) {
  b.scraper?.stop()
  if (b.child.exitCode !== null) return
  const exited = new Promise((r) => b.child.once('exit', r))
  b.child.kill('SIGTERM')
  const t = setTimeout(() => b.child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(t)
}

function cpuTicks(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return Number(f[11]) + Number(f[12])
  } catch {
    return 0
  }
}

function runLoadgen(lg, port, sc, qos, count, extra) {
  const args = [
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--scenario',
    sc,
    '--qos',
    String(qos),
    '--size',
    '64',
    '--idle',
    '5',
    '--count',
    String(count),
    '--timeout',
    '60',
    '--json',
    ...extra,
  ]
  return new Promise((res) => {
    const child = spawn(...pinned(0, lg, args), { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.on('exit', () => {
      try {
        res(JSON.parse(out))
      } catch {
        res(null)
      }
    })
  })
}

async function measure(lgs, name, sc, qos, count, extra) {
  const lg = name.endsWith('@5') ? lgs.v5 : lgs.v4
  const b = await startBroker(name)
  await runLoadgen(lg, b.port, sc, qos, Math.max(1, Math.floor(count / 10)), extra) // warm-up
  const c0 = cpuTicks(b.child.pid)
  const t0 = process.hrtime.bigint()
  const r = await runLoadgen(lg, b.port, sc, qos, count, extra)
  const ns = Number(process.hrtime.bigint() - t0)
  const c1 = cpuTicks(b.child.pid)
  await stopBroker(b)
  const cpu = ns > 0 ? (100 * (c1 - c0)) / 100 / (ns / 1e9) : 0
  return r === null
    ? null
    : {
        rate: r.deliver_rate,
        lost: r.lost,
        dup: r.duplicates,
        p50: r.lat_us.p50,
        p99: r.lat_us.p99,
        end: r.end,
        cpu,
      }
}

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const k = (n) =>
  Number.isFinite(n)
    ? n >= 1e6
      ? `${(n / 1e6).toFixed(2)}M`
      : n >= 1e4
        ? `${Math.round(n / 1e3)}k`
        : `${(n / 1e3).toFixed(1)}k`
    : 'n/a'
const ms = (us) => (Number.isFinite(us) ? (us / 1000).toFixed(us < 1000 ? 2 : 1) : 'n/a')
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a')

function plan(o, mode, lg, lgPersistent, lgV5) {
  if (mode === 'durable') {
    const brokers = DURABLE_BROKERS.filter((b) => b === 'petrel-sqlite' || o.brokers.includes(b))
    const matrix = DURABLE.filter(([sc, q]) => o.only === null || o.only.includes(`${sc}:${q}`))
    return { matrix, brokers, lgs: { v4: lgPersistent }, extra: [], subject: 'petrel-sqlite' }
  }
  const matrix = MATRIX.filter(([sc, q]) => o.only === null || o.only.includes(`${sc}:${q}`))
  const v5 = o.v5 ? V5_BROKERS.filter((b) => o.brokers.includes(b)).map((b) => `${b}@5`) : []
  return {
    matrix,
    brokers: [...o.brokers, ...v5],
    lgs: { v4: lg, v5: lgV5 },
    extra: mode === 'coalesce' ? ['--coalesce-us', '200'] : [],
    subject: 'petrel',
  }
}

const TITLES = {
  default: 'Loadgen default mode (clean sessions, in memory)',
  coalesce: 'Loadgen --coalesce-us 200 (clean sessions, in memory)',
  durable:
    'Durable: QoS 1, persistent sessions (clean session 0), default loadgen mode; petrel-sqlite = SQLite store, synchronous=NORMAL',
}

function label(sc) {
  return sc === 'fanin'
    ? 'fanin (20:1)'
    : sc === 'fanout'
      ? 'fanout (1:20)'
      : sc === 'mesh'
        ? 'mesh (20)'
        : sc
}

async function main() {
  const o = parseCli(process.argv.slice(2))
  PIN = o.pin
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) fail('dist/ is missing: run npm run build first')
  const lg = loadgenPath()
  const lgPersistent = o.modes.includes('durable') ? persistentLoadgenPath() : lg
  const lgV5 = o.v5 ? v5LoadgenPath(join(SHARED, 'loadgen.c'), tmpdir(), fail) : null
  const results = []
  const started = Date.now()
  for (const mode of o.modes) {
    const p = plan(o, mode, lg, lgPersistent, lgV5)
    for (let round = 1; round <= o.rounds; round++) {
      for (const [sc, qos, count] of p.matrix) {
        // alternate the order of brokers from round to round
        const order = round % 2 ? p.brokers : [...p.brokers].reverse()
        for (const name of order) {
          const r = await measure(p.lgs, name, sc, qos, Math.round(count * o.scale), p.extra)
          results.push({ mode, round, sc, qos, name, ...(r ?? { rate: Number.NaN, lost: -1 }) })
          const t = Math.round((Date.now() - started) / 1000)
          const what = r
            ? `${Math.round(r.rate)} msg/s lost=${r.lost} p99=${ms(r.p99)}ms cpu=${Math.round(r.cpu)}% ${r.end}`
            : 'FAILED'
          process.stderr.write(`[${t}s] ${mode} r${round} ${sc} q${qos} ${name}: ${what}\n`)
        }
      }
    }
  }
  const lat = []
  if (o.latency) {
    for (let round = 1; round <= o.rounds; round++) {
      for (const [sc, qos, count] of LATENCY) {
        for (const name of o.brokers) {
          const r = await measure({ v4: lg }, name, sc, qos, count, ['--rate', '5000'])
          lat.push({ round, sc, qos, name, ...(r ?? { p50: Number.NaN, p99: Number.NaN }) })
          process.stderr.write(`latency r${round} q${qos} ${name}: p50=${ms(r?.p50)} p99=${ms(r?.p99)} ms\n`)
        }
      }
    }
  }
  if (o.json) writeFileSync(o.json, JSON.stringify({ results, lat }, null, 2))

  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim()
  } catch {}
  console.log(
    `\nMachine: ${cpus().length} cores, ${cpu}; Node ${process.version}; commit ${commit}; 64-byte payloads; medians of ${o.rounds} rounds;${o.scale !== 1 ? ` ${o.scale}x the messages per run;` : ''}${o.pin ? ' brokers pinned to CPU 1, loadgen to CPU 0;' : ''} msg/s = messages delivered per second\n`,
  )
  for (const mode of o.modes) {
    const p = plan(o, mode, lg, lgPersistent, lgV5)
    const names = p.brokers
    const hasSubject = names.includes(p.subject)
    // Ratios: the subject against each 3.1.1 broker; at MQTT 5, petrel@5 against petrel (the
    // "within 10 %" check) and against mosquitto@5.
    const pairs = names
      .filter((n) => n !== p.subject && !n.endsWith('@5') && n !== 'petrel-http')
      .map((n) => [p.subject, n])
    // the HTTP endpoint's cost: petrel-http against petrel (the "within 2 %" check)
    if (names.includes('petrel-http') && names.includes('petrel')) pairs.push(['petrel-http', 'petrel'])
    if (names.includes('petrel@5')) {
      pairs.push(['petrel@5', 'petrel'])
      if (names.includes('mosquitto@5')) pairs.push(['petrel@5', 'mosquitto@5'])
    }
    const others = pairs.filter(([a]) => hasSubject || a !== p.subject)
    const targetCol = mode !== 'durable'
    console.log(`### ${TITLES[mode]}\n`)
    const ratioHeads = others.map(([a, b]) => ` ${a}/${b} |`).join('')
    console.log(
      `| scenario | QoS | ${names.join(' | ')} |${ratioHeads}${targetCol ? ' target |' : ''} lost (sum) |`,
    )
    console.log(
      `|---|---|${names.map(() => '---|').join('')}${others.map(() => '---|').join('')}${targetCol ? '---|' : ''}---|`,
    )
    for (const [sc, qos, , target] of p.matrix) {
      const med = {}
      const lost = {}
      for (const n of names) {
        const rs = results.filter((r) => r.mode === mode && r.sc === sc && r.qos === qos && r.name === n)
        med[n] = median(rs.map((r) => r.rate))
        lost[n] = rs.reduce((a, r) => a + (r.lost > 0 ? r.lost : 0), 0)
      }
      const ratios = others.map(([a, b]) => ` ${ratio(med[a], med[b])} |`).join('')
      const cells = names.map((n) => k(med[n])).join(' | ')
      console.log(
        `| ${label(sc)} | ${qos} | ${cells} |${ratios}${targetCol ? ` ${k(target)} |` : ''} ${names.map((n) => lost[n]).join(' / ')} |`,
      )
    }
    console.log('')
  }
  if (o.latency) {
    console.log('### Latency at a fixed 5,000 msg/s (one2one), p50 / p99 ms\n')
    console.log(`| QoS | ${o.brokers.join(' | ')} |`)
    console.log(`|---|${o.brokers.map(() => '---|').join('')}`)
    for (const [, qos] of LATENCY) {
      const cells = o.brokers.map((n) => {
        const rs = lat.filter((r) => r.qos === qos && r.name === n)
        return `${ms(median(rs.map((r) => r.p50)))} / ${ms(median(rs.map((r) => r.p99)))}`
      })
      console.log(`| ${qos} | ${cells.join(' | ')} |`)
    }
  }
}

await main()
