#!/usr/bin/env node
// Petrel's cluster mode against Aedes clustered on Redis, on this machine, in the same run:
//
//   Petrel: 3 nats-server processes (a NATS cluster with JetStream, bench/nats-cluster.mjs) and
//           3 Petrel nodes (bench/petrel-cluster-node.mjs, replicas 3, each preferring its own
//           NATS server);
//   Aedes:  1 redis-server (no persistence to disk) and 3 Aedes nodes with mqemitter-redis and
//           aedes-persistence-redis (bench/aedes-cluster-node.mjs).
//
// Every figure comes from the shared loadgen built with per-role ports (bench/loadgen-cluster.mjs),
// so publishers and subscribers sit on different nodes:
//   one2one: publisher on node 0, subscriber on node 1
//   fanin:   20 publishers on nodes 0 and 2 (round-robin), the subscriber on node 1
//   fanout:  the publisher on node 0, 20 subscribers on nodes 1 and 2
//   mesh:    20 clients round-robin over the 3 nodes (7/7/6), so 134 of the 400 publisher ->
//            subscriber pairs share a node: 66.5 % of the deliveries cross nodes
//
// The Petrel nodes join one after the other, as the cluster tests do (three joining at once on a
// fresh NATS cluster timed out creating the R3 stream: "cannot join the cluster: JetStream is not
// ready (timeout)"). The loadgen waits --settle-ms (default 500) after the last SUBACK before
// publishing, so that every node has heard of the subscriptions (NATS interest, Redis SUBSCRIBE).
//
// Each measurement starts its cluster fresh (all its processes, new stores), runs a warm-up of
// --warmup-pct % of the messages, then the measured run, then stops everything it started (by
// PID). The brokers alternate (A B, then B A in the next round); --rounds N gives medians.
//
// CPU per message: user+sys CPU ticks (/proc/<pid>/stat, getconf CLK_TCK) of the 3 broker nodes
// and, separately, of the 3 nats-server processes (Petrel) or of redis-server (Aedes), from just
// before the measured loadgen run to just after it, divided by the messages delivered: µs per
// delivered message (the loadgen's own CPU is not in it). The window holds the connects, the
// --settle-ms wait and the idle tail too, which cost little next to the messages at these counts.
// "10x8 est." is what 10 machines of 8 cores would carry from these costs, on paper:
// 80 cores * 1e6 / (broker µs + NATS/Redis µs), assuming the work spreads evenly and the cores
// do nothing else (no loadgen, no clients' network stack beyond what is measured here).
//
// Usage: npm run bench:cluster -- [--rounds 3] [--count N] [--scale F] [--scenarios one2one,fanin,fanout,mesh]
//        [--qos 0,1] [--brokers petrel,aedes] [--settle-ms 500] [--size 64] [--warmup-pct 10]
//        [--timeout 60] [--verbose]
// (npm run bench:cluster builds dist/ first; `node bench/cluster.mjs` needs it built.)
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { cpuTicks, ROOT, SHARED, which } from './brokers.mjs'
import { fail } from './fail.mjs'
import { clusterLoadgenPath } from './loadgen-cluster.mjs'
import { freePort, startNatsCluster } from './nats-cluster.mjs'
import { canConnect, sleep } from './port.mjs'

// messages per publisher for each scenario (run.mjs's counts, scaled down: a cluster is slower)
const COUNTS = {
  one2one: { 0: 100_000, 1: 50_000 },
  fanin: { 0: 5_000, 1: 2_500 },
  fanout: { 0: 5_000, 1: 2_500 },
  mesh: { 0: 500, 1: 250 },
}
const SCENARIOS = Object.keys(COUNTS)
/** The share of deliveries whose publisher and subscriber are on different nodes. */
const CROSS = { one2one: 1, fanin: 1, fanout: 1, mesh: 266 / 400 }

const { values: o } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    count: { type: 'string' },
    scale: { type: 'string', default: '1' },
    scenarios: { type: 'string', default: SCENARIOS.join(',') },
    qos: { type: 'string', default: '0,1' },
    brokers: { type: 'string', default: 'petrel,aedes' },
    'settle-ms': { type: 'string', default: '500' },
    size: { type: 'string', default: '64' },
    'warmup-pct': { type: 'string', default: '10' },
    timeout: { type: 'string', default: '60' },
    verbose: { type: 'boolean', default: false },
  },
})
const rounds = Number(o.rounds)
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) fail('--rounds must be an integer from 1 to 50')
const scale = Number(o.scale)
if (!(scale > 0)) fail('--scale must be a number > 0')
const fixedCount = o.count === undefined ? null : Number(o.count)
if (fixedCount !== null && !(Number.isInteger(fixedCount) && fixedCount >= 1))
  fail('--count must be an integer >= 1')
const scenarios = o.scenarios.split(',')
for (const s of scenarios) if (!(s in COUNTS)) fail(`unknown scenario '${s}': ${SCENARIOS.join(', ')}`)
const qoss = o.qos.split(',').map(Number)
for (const q of qoss) if (q !== 0 && q !== 1 && q !== 2) fail('--qos takes 0, 1 and 2')
const brokers = o.brokers.split(',')
for (const b of brokers) if (b !== 'petrel' && b !== 'aedes') fail(`unknown broker '${b}': petrel, aedes`)
const settleMs = Number(o['settle-ms'])
const warmupPct = Number(o['warmup-pct'])
const timeoutS = Number(o.timeout)
if (!(settleMs >= 0 && warmupPct >= 0 && timeoutS > 0)) fail('--settle-ms, --warmup-pct >= 0, --timeout > 0')

if (brokers.includes('petrel') && !existsSync(join(ROOT, 'dist/index.js')))
  fail('dist/ is missing: npx tsc -p tsconfig.build.json (npm run bench:cluster does it)')
if (brokers.includes('petrel') && which('nats-server') === null) fail('nats-server is not installed')
const redisBin = which('redis-server')
if (brokers.includes('aedes') && redisBin === null)
  fail('redis-server is not installed (apt-get install redis-server)')
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
const lg = clusterLoadgenPath(join(SHARED, 'loadgen.c'), '/tmp', fail)

// ---------- processes: every one started here, killed by PID on any exit ----------
const live = new Set()
const cleanups = new Set()
process.on('exit', () => {
  for (const c of live) {
    try {
      process.kill(c.pid, 'SIGKILL')
    } catch {}
  }
  for (const f of cleanups) f()
})
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    process.stderr.write(`\nbench: ${sig}, stopping what was started\n`)
    process.exit(130)
  })

/** Problems the broker processes reported (warn/error log lines, stderr), for the summary. */
const problems = []

function start(name, cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  live.add(child)
  const p = { name, child, log: '', exited: new Promise((r) => child.once('exit', r)) }
  child.once('exit', () => live.delete(child))
  const take = (d) => {
    const text = String(d)
    p.log = (p.log + text).slice(-20_000)
    for (const line of text.split('\n'))
      if (/"level":"(warn|error|fatal)"|error|Error|ECONN|lost/.test(line))
        problems.push(`${name}: ${line.trim()}`)
  }
  child.stdout.on('data', take)
  child.stderr.on('data', take)
  return p
}

async function stop(p) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill('SIGTERM')
  const t = setTimeout(() => p.child.kill('SIGKILL'), 5000)
  await p.exited
  clearTimeout(t)
}

async function waitListening(p, port, ms = 20_000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await canConnect(port)) return
    if (p.child.exitCode !== null) throw new Error(`${p.name} exited at start:\n${p.log}`)
    await sleep(50)
  }
  throw new Error(`${p.name} did not listen on ${port} within ${ms} ms:\n${p.log}`)
}

/** A started cluster: { ports, nodes (broker pids), side (NATS or Redis pids), stop() }. */
async function startPetrel() {
  const nats = await startNatsCluster(3)
  cleanups.add(nats.killNow)
  const nodes = []
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      const urls = [...nats.urls.slice(i), ...nats.urls.slice(0, i)].join(',')
      const p = start(`petrel n${i}`, process.execPath, [
        join(ROOT, 'bench/petrel-cluster-node.mjs'),
        String(port),
        `n${i}`,
        urls,
        '3',
      ])
      p.port = port
      nodes.push(p)
      // one at a time, as the cluster tests do: the first creates the streams and the bucket
      await waitListening(p, port, 60_000)
    }
  } catch (err) {
    await Promise.all(nodes.map(stop))
    await nats.stop()
    cleanups.delete(nats.killNow)
    throw err
  }
  return {
    ports: nodes.map((n) => n.port),
    nodes,
    side: nats.pids,
    alive: () => nodes.every((n) => n.child.exitCode === null),
    stop: async () => {
      await Promise.all(nodes.map(stop))
      await nats.stop()
      cleanups.delete(nats.killNow)
    },
  }
}

async function startAedes() {
  const redisPort = await freePort()
  const redis = start('redis', redisBin, [
    '--port',
    String(redisPort),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--loglevel',
    'warning',
  ])
  const nodes = []
  try {
    await waitListening(redis, redisPort)
    for (let i = 0; i < 3; i++) {
      const port = await freePort()
      const p = start(`aedes n${i}`, process.execPath, [
        join(ROOT, 'bench/aedes-cluster-node.mjs'),
        String(port),
        String(redisPort),
      ])
      p.port = port
      nodes.push(p)
    }
    for (const n of nodes) await waitListening(n, n.port)
  } catch (err) {
    await Promise.all(nodes.map(stop))
    await stop(redis)
    throw err
  }
  return {
    ports: nodes.map((n) => n.port),
    nodes,
    side: [redis.child.pid],
    alive: () => nodes.every((n) => n.child.exitCode === null) && redis.child.exitCode === null,
    stop: async () => {
      await Promise.all(nodes.map(stop))
      await stop(redis)
    },
  }
}

/** Where each role connects: publishers and subscribers on different nodes. */
function layout(sc, [a, b, c]) {
  if (sc === 'one2one') return ['--ports', `${a}`, '--sub-ports', `${b}`]
  if (sc === 'fanin') return ['--ports', `${a},${c}`, '--sub-ports', `${b}`]
  if (sc === 'fanout') return ['--ports', `${a}`, '--sub-ports', `${b},${c}`]
  return ['--ports', `${a},${b},${c}`]
}

/** The loadgen's JSON result, or { error } when it printed none. Killed past its own timeout + 30 s. */
function runLoadgen(ports, sc, qos, count) {
  const args = [...layout(sc, ports), '--scenario', sc, '--qos', String(qos), '--size', o.size]
  args.push(
    '--count',
    String(count),
    '--idle',
    '5',
    '--timeout',
    String(timeoutS),
    '--settle-ms',
    String(settleMs),
  )
  args.push('--json')
  return new Promise((res) => {
    const child = spawn(lg, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    live.add(child)
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      err += d
    })
    const guard = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 30 + settleMs / 1000) * 1000)
    child.on('exit', (code) => {
      clearTimeout(guard)
      live.delete(child)
      try {
        res(JSON.parse(out))
      } catch {
        res({ error: `loadgen exit ${code}: ${err.trim() || out.trim()}`.slice(0, 500) })
      }
    })
  })
}

const ticksOf = (pids) => pids.reduce((s, pid) => s + cpuTicks(pid), 0)

async function measure(broker, sc, qos) {
  const count = Math.max(1, Math.round((fixedCount ?? COUNTS[sc][qos] ?? COUNTS[sc][1]) * scale))
  const cl = broker === 'petrel' ? await startPetrel() : await startAedes()
  try {
    const nodePids = cl.nodes.map((n) => n.child.pid)
    if (warmupPct > 0) {
      const w = await runLoadgen(cl.ports, sc, qos, Math.max(1, Math.floor((count * warmupPct) / 100)))
      if (w.error || w.lost || w.end !== 'complete')
        problems.push(
          `${broker} ${sc} qos${qos} warm-up: ${w.error ?? `end ${w.end}, lost ${w.lost}/${w.expected}, dup ${w.duplicates}`}`,
        )
    }
    const n0 = ticksOf(nodePids)
    const s0 = ticksOf(cl.side)
    const r = await runLoadgen(cl.ports, sc, qos, count)
    const n1 = ticksOf(nodePids)
    const s1 = ticksOf(cl.side)
    if (!cl.alive()) problems.push(`${broker} ${sc} qos${qos}: a cluster process exited during the run`)
    if (r.error) {
      problems.push(`${broker} ${sc} qos${qos}: ${r.error}`)
      return null
    }
    if (r.lost || r.duplicates || r.end !== 'complete')
      problems.push(
        `${broker} ${sc} qos${qos}: end ${r.end}, received ${r.received}/${r.expected}, lost ${r.lost}, dup ${r.duplicates}, out-of-order ${r.out_of_order}${r.disconnect_reasons?.length ? `, disconnects: ${r.disconnect_reasons.join('; ')}` : ''}`,
      )
    const us = (ticks) => (r.received > 0 ? ((ticks / CLK_TCK) * 1e6) / r.received : Number.NaN)
    return {
      rate: r.deliver_rate,
      received: r.received,
      expected: r.expected,
      lost: r.lost,
      dup: r.duplicates,
      end: r.end,
      p50: r.lat_us.p50,
      p99: r.lat_us.p99,
      nodeUs: us(n1 - n0),
      sideUs: us(s1 - s0),
    }
  } finally {
    await cl.stop()
  }
}

// ---------- the runs ----------
const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return Number.NaN
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}
const results = new Map() // `${broker} ${sc} ${qos}` -> [result]
const cases = scenarios.flatMap((sc) => qoss.map((qos) => [sc, qos]))
process.stderr.write(
  `bench: ${cases.length} cases x ${brokers.length} brokers x ${rounds} rounds; CLK_TCK ${CLK_TCK}; loadgen ${lg}\n`,
)
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? brokers : [...brokers].reverse()
  for (const [sc, qos] of cases)
    for (const broker of order) {
      const key = `${broker} ${sc} ${qos}`
      let r
      try {
        r = await measure(broker, sc, qos)
      } catch (err) {
        problems.push(`${key}: ${err.message.slice(0, 2000)}`)
        r = null
      }
      if (!results.has(key)) results.set(key, [])
      results.get(key).push(r)
      process.stderr.write(
        r === null
          ? `round ${round + 1} ${key}: failed\n`
          : `round ${round + 1} ${key}: ${Math.round(r.rate)} msg/s, ${r.received}/${r.expected} (${r.end}), node ${r.nodeUs.toFixed(1)} µs/msg, ${broker === 'petrel' ? 'NATS' : 'Redis'} ${r.sideUs.toFixed(1)} µs/msg, p50 ${r.p50} µs\n`,
      )
    }
}

// ---------- the table ----------
const fmtRate = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–')
const fmtUs = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–')
const lostOf = (rs) => rs.reduce((s, r) => s + (r === null ? 0 : r.lost + r.dup), 0)
const failedOf = (rs) => rs.filter((r) => r === null).length
const summary = (broker, sc, qos) => {
  const rs = results.get(`${broker} ${sc} ${qos}`) ?? []
  const ok = rs.filter((r) => r !== null)
  return {
    rate: median(ok.map((r) => r.rate)),
    nodeUs: median(ok.map((r) => r.nodeUs)),
    sideUs: median(ok.map((r) => r.sideUs)),
    lost: lostOf(rs),
    failed: failedOf(rs),
    n: rs.length,
  }
}
const mark = (s) => (s.failed ? ` (${s.failed} failed)` : s.lost ? ` (lost/dup ${s.lost})` : '')
const lines = []
lines.push(
  `Cluster of 3 nodes on one machine (${(await import('node:os')).cpus().length} cores), publishers and subscribers on different nodes; medians of ${rounds} round(s); µs of CPU per delivered message`,
  '',
  '| scenario | QoS | cross-node | Petrel msg/s | Aedes+Redis msg/s | ratio | Petrel node µs | NATS µs | Aedes node µs | Redis µs | 10x8 est. Petrel msg/s | 10x8 est. Aedes msg/s |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|',
)
for (const [sc, qos] of cases) {
  const p = summary('petrel', sc, qos)
  const a = summary('aedes', sc, qos)
  const ratio = p.rate / a.rate
  const est = (s) => (80 * 1e6) / (s.nodeUs + s.sideUs)
  lines.push(
    `| ${sc} | ${qos} | ${Math.round(CROSS[sc] * 1000) / 10} % | ${fmtRate(p.rate)}${mark(p)} | ${fmtRate(a.rate)}${mark(a)} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '–'} | ${fmtUs(p.nodeUs)} | ${fmtUs(p.sideUs)} | ${fmtUs(a.nodeUs)} | ${fmtUs(a.sideUs)} | ${fmtRate(est(p))} | ${fmtRate(est(a))} |`,
  )
}
process.stdout.write(`${lines.join('\n')}\n`)
if (problems.length) {
  process.stdout.write(`\nProblems seen (${problems.length}; first 40):\n`)
  for (const p of problems.slice(0, 40)) process.stdout.write(`- ${p}\n`)
}
if (o.verbose) process.stdout.write(`\n${JSON.stringify(Object.fromEntries(results), null, 1)}\n`)
