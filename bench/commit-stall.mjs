#!/usr/bin/env node
// How long the SQLite store's group commits block the event loop, under the durable
// scenarios (QoS 1, persistent sessions). Embeds a Broker with a SqliteStore whose
// commit() is timed, runs the persistent-session loadgen against it, and prints the
// commit-time and event-loop-delay percentiles.
//
//   npm run build && node bench/commit-stall.mjs [--sync normal|full]
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { Broker } from '../dist/broker/broker.js'
import { SqliteStore } from '../dist/store/sqlite/sqlite-store.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SRC = resolve(ROOT, '..', 'shared', 'tools', 'loadgen', 'loadgen.c')
const syncAt = process.argv.indexOf('--sync')
const sync = (syncAt > 0 ? (process.argv[syncAt + 1] ?? '') : 'normal').toUpperCase()
if (sync !== 'NORMAL' && sync !== 'FULL') {
  process.stderr.write('commit-stall: --sync must be normal or full\n')
  process.exit(2)
}

function persistentLoadgen() {
  const bin = join(tmpdir(), 'mqtt-loadgen-persistent')
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(SRC).mtimeMs) {
    const from = "'M', 'Q', 'T', 'T', 4, 0x02, 0, 60"
    const patched = join(tmpdir(), 'mqtt-loadgen-persistent.c')
    writeFileSync(patched, readFileSync(SRC, 'utf8').replace(from, "'M', 'Q', 'T', 'T', 4, 0x00, 0, 60"))
    execFileSync('cc', ['-O2', '-o', bin, patched])
  }
  return bin
}

function pct(sorted, p) {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

async function run(scenario, count) {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-stall-'))
  const store = await SqliteStore.open({ dataDir: dir, synchronous: sync === 'FULL' ? 'FULL' : 'NORMAL' })
  const times = []
  const commit = store.commit.bind(store)
  store.commit = () => {
    const t0 = process.hrtime.bigint()
    commit()
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  const broker = new Broker({ store, sysInterval: 0 })
  const { port } = await broker.listen({ port: 0 })
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const lg = spawn(
    persistentLoadgen(),
    [
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--scenario',
      scenario,
      '--qos',
      '1',
      '--size',
      '64',
      '--count',
      String(count),
      '--timeout',
      '60',
      '--json',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  )
  let out = ''
  lg.stdout.on('data', (d) => {
    out += d
  })
  await new Promise((r) => lg.on('exit', r))
  h.disable()
  await broker.close()
  rmSync(dir, { recursive: true, force: true })
  const r = JSON.parse(out)
  times.sort((a, b) => a - b)
  const commits = times.filter((t) => t > 0.001)
  return {
    scenario,
    rate: r.deliver_rate,
    lost: r.lost,
    commits: commits.length,
    p50: pct(commits, 50),
    p99: pct(commits, 99),
    max: commits.at(-1),
    loopP99: h.percentile(99) / 1e6,
    loopMax: h.max / 1e6,
  }
}

const rows = [await run('one2one', 150_000), await run('fanin', 8_000)]
console.log(`\nSQLite group commits (synchronous=${sync.toLowerCase()}), QoS 1, persistent sessions\n`)
console.log(
  '| scenario | msg/s | lost | commits | commit p50 / p99 / max ms | event-loop delay p99 / max ms |',
)
console.log('|---|---|---|---|---|---|')
for (const r of rows) {
  console.log(
    `| ${r.scenario} | ${Math.round(r.rate)} | ${r.lost} | ${r.commits} | ${r.p50.toFixed(2)} / ${r.p99.toFixed(2)} / ${r.max.toFixed(2)} | ${r.loopP99.toFixed(1)} / ${r.loopMax.toFixed(1)} |`,
  )
}
