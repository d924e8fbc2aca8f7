#!/usr/bin/env node
// Broker benchmark: the seed scenarios against Petrel, nats-server (its MQTT listener), Mosquitto
// and Aedes in the same run, driven by ../shared/tools/loadgen (C, epoll). Brokers alternate;
// each measured run gets a freshly started broker and a 10 % warm-up; medians of --rounds rounds.
//
//   npm run bench                       # every mode, 3 rounds
//   npm run bench -- --rounds 1 --modes default --only one2one:1,fanin:0
//   npm run bench -- --brokers petrel,mosquitto --json results.json
//   PETREL_BASE=../other-checkout npm run bench -- --brokers mosquitto,petrel-base,petrel   # before/after
//   npm run bench -- --no-v5            # without the MQTT 5 columns
//   npm run bench -- --brokers petrel,petrel-http --no-v5   # HTTP endpoint on and scraped each second, vs off
//   npm run bench -- --pin ...          # broker on CPU 1, loadgen on CPU 0
//   npm run bench -- --scale 5 ...      # 5x the messages per run: longer runs, less start-up in them
//   npm run bench -- --modes default --topics 1000 --retain   # the matrix over 1000 topics, retained
//   npm run bench -- --modes topics     # one2one, fanin (QoS 0) at --topics 1 and 100000, with RSS
//   npm run bench -- --modes tail       # p50/p99 of one2one at a fixed 5,000 and 50,000 msg/s
//   npm run bench -- --modes large      # 1 MiB payloads, one2one QoS 1, MB/s
//   npm run bench -- --modes window,durable-window   # QoS 1/2 with Petrel at Mosquitto's in-flight window
//   npm run bench -- --port-base 19000 ...   # every broker's ports moved (mosquitto on 19030, ...)
//   npm run bench -- --modes retained,subs,conns   # the scale benchmarks only (bench:retained, bench:subs, bench:conns)
//
// Modes: default, coalesce (loadgen --coalesce-us 200), durable (persistent sessions, SQLite),
// topics, tail, large; --only scenario:qos filters the rows of every mode. --no-latency drops tail.
// Then the scale benchmarks (retained, subs, conns: their own scripts, with their own options).
// nats is left out, with one line saying why, when nats-server is not installed; it has no QoS 2
// (n/a in those rows). MQTT 5: in the default and coalesce modes, petrel@5 and mosquitto@5 are the
// same brokers driven by the same loadgen built as an MQTT 5 client (bench/loadgen-v5.mjs).
// Prints markdown tables (the ones in BENCHMARKS.md).
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BROKER_NAMES, brokerOf, natsMissing, ROOT, SHARED, setPin, setPortBase } from './brokers.mjs'
import { fail } from './fail.mjs'
import { v5LoadgenPath } from './loadgen-v5.mjs'
import { loadgenPath, measure, persistentLoadgenPath } from './measure.mjs'
import { printHeader, printMode, rowLabel } from './tables.mjs'

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
// window, durable-window: the QoS 1/2 rows again with Petrel given the in-flight window the
// benchmark's Mosquitto has (no limit; Petrel's default is 100): what the window costs each scenario.
const WINDOW_BROKERS = ['mosquitto', 'petrel', 'petrel-w']
const DURABLE_WINDOW_BROKERS = ['mosquitto', 'petrel-w', 'petrel-sqlite-w']
// topics: QoS 0, scenario and count per publisher, each over TOPIC_COUNTS topics per publisher.
const TOPICS = [
  ['one2one', 300_000],
  ['fanin', 15_000],
]
const TOPIC_COUNTS = [1, 100_000]
// tail: one2one (one publisher) at a fixed msg/s, with the count that makes a run last ~5 s.
const TAIL = [
  [5_000, 25_000],
  [50_000, 250_000],
]
const LARGE = { size: 1_048_576, count: 300 }
const MODES = ['default', 'coalesce', 'durable', 'topics', 'tail', 'large', 'window', 'durable-window']
/**
 * The scale benchmarks, each its own script with its own brokers and tables (bench/peers.mjs):
 * run after the loadgen modes, with their defaults (1M retained, 10k x 10 subscriptions, 9,000
 * connections), when asked for by --modes or when no --modes is given.
 */
const SCALE = {
  retained: 'retained-scale.mjs',
  subs: 'subs-scale.mjs',
  conns: 'connections.mjs',
}
const V5_BROKERS = ['petrel', 'mosquitto']
const USAGE =
  'options: --rounds N --modes default,coalesce,durable,topics,tail,large,window,durable-window,retained,subs,conns --brokers mosquitto,aedes,nats,petrel --only scenario:qos,... --json FILE --no-latency --no-v5 --pin --scale K --topics K --retain --port-base N'

function parseCli(argv) {
  const o = {
    rounds: 3,
    modes: [...MODES, ...Object.keys(SCALE)],
    brokers: ['mosquitto', 'aedes', 'nats', 'petrel'],
    only: null,
    json: null,
    latency: true,
    v5: true,
    pin: false,
    scale: 1,
    lgArgs: [],
    portBase: 18800,
  }
  let brokersGiven = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      const x = argv[++i]
      if (x === undefined) fail(`${a} needs a value`)
      return x
    }
    if (a === '--rounds') o.rounds = Number(v())
    else if (a === '--modes') o.modes = v().split(',')
    else if (a === '--brokers') {
      o.brokers = v().split(',')
      brokersGiven = true
    } else if (a === '--only') o.only = v().split(',')
    else if (a === '--json') o.json = v()
    else if (a === '--no-latency') o.latency = false
    else if (a === '--no-v5') o.v5 = false
    else if (a === '--pin') o.pin = true
    else if (a === '--scale') o.scale = Number(v())
    else if (a === '--topics') {
      const t = v()
      if (!/^[1-9]\d*$/.test(t)) fail('--topics must be a whole number >= 1 (topics per publisher)')
      o.lgArgs.push('--topics', t)
    } else if (a === '--retain') o.lgArgs.push('--retain')
    else if (a === '--port-base') o.portBase = Number(v())
    else fail(`unknown option ${a}; ${USAGE}`)
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1) fail('--rounds must be a whole number >= 1')
  if (!(o.scale > 0)) fail("--scale must be a number > 0 (it multiplies each scenario's message count)")
  if (!Number.isInteger(o.portBase) || o.portBase < 1024 || o.portBase > 65_435)
    fail('--port-base must be a whole number from 1024 to 65435 (brokers listen at base+30 to base+81)')
  const known = [...MODES, ...Object.keys(SCALE)]
  for (const m of o.modes) if (!known.includes(m)) fail(`unknown mode '${m}': ${known.join(', ')}`)
  if (!o.latency) o.modes = o.modes.filter((m) => m !== 'tail')
  for (const b of o.brokers)
    if (!BROKER_NAMES.includes(brokerOf(b))) fail(`unknown broker '${b}': ${BROKER_NAMES.join(', ')}`)
  const why = o.brokers.includes('nats') ? natsMissing() : null
  if (why !== null && brokersGiven) fail(`--brokers asks for nats, but ${why}`)
  if (why !== null) {
    process.stderr.write(`bench: leaving nats out: ${why}\n`)
    o.brokers = o.brokers.filter((b) => b !== 'nats')
  }
  return o
}

/**
 * A mode's table: its columns (brokers) and rows. Each row is one loadgen scenario
 * { sc, qos, count, size, extra } plus what its table shows (target, topics, rate); skip names
 * the brokers not run in it (nats has no MQTT QoS 2).
 */
function plan(o, mode, lgs) {
  const wanted = (sc, qos) => o.only === null || o.only.includes(`${sc}:${qos}`)
  const row = (sc, qos, count, more) => ({
    sc,
    qos,
    count: Math.max(1, Math.round(count * o.scale)),
    size: 64,
    extra: [],
    skip: qos === 2 ? ['nats'] : [],
    ...more,
  })
  const base = { mode, brokers: o.brokers, lgs: { v4: lgs.v4 }, subject: 'petrel' }
  if (mode === 'durable') {
    const brokers = DURABLE_BROKERS.filter((b) => b === 'petrel-sqlite' || o.brokers.includes(b))
    const rows = DURABLE.filter(([sc, q]) => wanted(sc, q)).map(([sc, q, n]) => row(sc, q, n))
    return { ...base, brokers, lgs: { v4: lgs.persistent }, rows, subject: 'petrel-sqlite' }
  }
  if (mode === 'durable-window') {
    const rows = DURABLE.filter(([sc, q]) => wanted(sc, q)).map(([sc, q, n]) => row(sc, q, n))
    const brokers = DURABLE_WINDOW_BROKERS
    return { ...base, brokers, lgs: { v4: lgs.persistent }, rows, subject: 'petrel-sqlite-w' }
  }
  if (mode === 'window') {
    const rows = MATRIX.filter(([sc, q]) => q > 0 && wanted(sc, q)).map(([sc, q, n, target]) =>
      row(sc, q, n, { target, skip: [] }),
    )
    return { ...base, brokers: WINDOW_BROKERS, rows, subject: 'petrel-w' }
  }
  if (mode === 'topics') {
    const rows = TOPICS.filter(([sc]) => wanted(sc, 0)).flatMap(([sc, n]) =>
      TOPIC_COUNTS.map((topics) => row(sc, 0, n, { topics, extra: ['--topics', String(topics)] })),
    )
    return { ...base, rows }
  }
  if (mode === 'tail') {
    const rows = TAIL.flatMap(([rate, n]) =>
      [0, 1]
        .filter((q) => wanted('one2one', q))
        .map((q) => row('one2one', q, n, { rate, extra: ['--rate', String(rate)] })),
    )
    return { ...base, rows }
  }
  if (mode === 'large') {
    const rows = wanted('one2one', 1) ? [row('one2one', 1, LARGE.count, { size: LARGE.size })] : []
    return { ...base, rows }
  }
  const v5 = o.v5 ? V5_BROKERS.filter((b) => o.brokers.includes(b)).map((b) => `${b}@5`) : []
  const extra = [...(mode === 'coalesce' ? ['--coalesce-us', '200'] : []), ...o.lgArgs]
  const rows = MATRIX.filter(([sc, q]) => wanted(sc, q)).map(([sc, q, n, target]) =>
    row(sc, q, n, { target, extra }),
  )
  return { ...base, brokers: [...o.brokers, ...v5], lgs: { v4: lgs.v4, v5: lgs.v5 }, rows }
}

async function main() {
  const o = parseCli(process.argv.slice(2))
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) fail('dist/ is missing: run npm run build first')
  setPin(o.pin)
  setPortBase(o.portBase)
  const v4 = loadgenPath()
  const lgs = {
    v4,
    persistent: o.modes.some((m) => m.startsWith('durable')) ? persistentLoadgenPath() : v4,
    v5: o.v5 ? v5LoadgenPath(join(SHARED, 'loadgen.c'), tmpdir(), fail) : null,
  }
  const plans = o.modes.filter((m) => MODES.includes(m)).map((mode) => plan(o, mode, lgs))
  const results = []
  const started = Date.now()
  for (const p of plans) {
    for (let round = 1; round <= o.rounds; round++) {
      for (const [i, r] of p.rows.entries()) {
        // alternate the order of brokers from round to round
        const order = round % 2 ? p.brokers : [...p.brokers].reverse()
        for (const name of order.filter((n) => !r.skip.includes(n))) {
          const lg = name.endsWith('@5') ? p.lgs.v5 : p.lgs.v4
          const m = await measure(lg, name, r)
          results.push({ mode: p.mode, round, row: i, name, ...(m ?? { rate: Number.NaN, lost: -1 }) })
          const t = Math.round((Date.now() - started) / 1000)
          const what = m
            ? `${Math.round(m.rate)} msg/s lost=${m.lost} p50=${(m.p50 / 1000).toFixed(2)}ms p99=${(m.p99 / 1000).toFixed(2)}ms cpu=${Math.round(m.cpu)}% rss=${Math.round(m.rss)}MB ${m.end}`
            : 'FAILED'
          process.stderr.write(`[${t}s] ${p.mode} r${round} ${rowLabel(r)} ${name}: ${what}\n`)
        }
      }
    }
  }
  if (o.json) writeFileSync(o.json, JSON.stringify({ plans, results }, null, 2))
  if (plans.length > 0) {
    printHeader(o, ROOT)
    for (const p of plans) printMode(p, results)
  }
  for (const m of o.modes.filter((x) => x in SCALE)) {
    console.log('')
    await runScale(SCALE[m])
  }
}

/** Runs a scale benchmark script to its end, its tables on this stdout. */
function runScale(script) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bench', script)], { stdio: 'inherit' })
    child.on('exit', (code) => {
      if (code !== 0) process.stderr.write(`bench: ${script} exited with ${code}\n`)
      resolve()
    })
  })
}

await main()
