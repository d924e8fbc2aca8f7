#!/usr/bin/env node
// Where Petrel's time goes: runs one loadgen scenario against a Petrel broker started with
// --cpu-prof, then prints the functions with the most self time (the tables in
// docs/performance.md). The profile file stays in the printed folder for Chrome DevTools.
//
//   npm run build && node bench/profile.mjs --scenario one2one --qos 0 --count 600000
//   node bench/profile.mjs --scenario one2one --qos 0 --count 600000 --topics 100000
//   node bench/profile.mjs --scenario one2one --qos 1 --count 300 --size 1048576 --top 20
//
// Every option but --top and --port goes to the loadgen as it is.
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { canConnect, loadgenPath, ROOT, sleep } from './peers.mjs'

const argv = process.argv.slice(2)
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(
    'usage: node bench/profile.mjs [--top N] [--port P] <loadgen options: --scenario S --qos Q --count N ...>\n',
  )
  process.exit(0)
}
let top = 30
let port = 18990
const lgArgs = []
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--top') top = Number(argv[++i])
  else if (argv[i] === '--port') port = Number(argv[++i])
  else lgArgs.push(argv[i])
}
if (!Number.isInteger(top) || top < 1) {
  process.stderr.write('bench:profile: --top must be a whole number >= 1\n')
  process.exit(2)
}
if (await canConnect(port)) {
  process.stderr.write(`bench:profile: port ${port} is in use; choose another with --port\n`)
  process.exit(2)
}

const dir = mkdtempSync(join(tmpdir(), 'petrel-profile-'))
const broker = spawn(
  process.execPath,
  [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    join(ROOT, 'dist/cli/main.js'),
    'broker',
    '--port',
    String(port),
    '--memory',
    '--log-level',
    'warn',
  ],
  { stdio: ['ignore', 'ignore', 'inherit'] },
)
for (let i = 0; i < 100 && !(await canConnect(port)); i++) await sleep(100)
const lg = loadgenPath('bench:profile')
const out = await new Promise((resolve) => {
  const c = spawn(
    lg,
    ['--host', '127.0.0.1', '--port', String(port), '--json', '--timeout', '120', ...lgArgs],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  let s = ''
  c.stdout.on('data', (d) => {
    s += d
  })
  c.on('exit', () => resolve(s))
})
const exited = new Promise((r) => broker.once('exit', r))
broker.kill('SIGINT') // --cpu-prof writes its file on a clean exit
await exited

let r = null
try {
  r = JSON.parse(out)
} catch {}
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
if (file === undefined) {
  process.stderr.write('bench:profile: the broker wrote no profile\n')
  process.exit(1)
}
const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'))
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map()
let total = 0
for (let i = 0; i < profile.samples.length; i++) {
  const n = byId.get(profile.samples[i])
  const dt = profile.timeDeltas[i] ?? 0
  const f = n.callFrame
  const where = f.url ? `${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}` : ''
  const key = `${f.functionName || '(anonymous)'} ${where}`.trim()
  self.set(key, (self.get(key) ?? 0) + dt)
  total += dt
}
console.log(`loadgen ${lgArgs.join(' ')}`)
if (r !== null)
  console.log(
    `delivered ${r.received} of ${r.expected} at ${Math.round(r.deliver_rate)} msg/s, lost ${r.lost}`,
  )
console.log(`profile: ${join(dir, file)} (${(total / 1e6).toFixed(2)} s sampled)\n`)
console.log('| self % | function (file:line in dist/) |')
console.log('|---|---|')
for (const [k, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`| ${((100 * t) / total).toFixed(1)} | ${k.replaceAll('|', '\\|')} |`)
