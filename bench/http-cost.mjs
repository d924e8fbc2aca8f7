#!/usr/bin/env node
// What the HTTP endpoint costs the broker, in CPU: a `petrel broker` process is measured (its
// utime + stime from /proc, over a window) while it holds N idle clients (each connected with one
// subscription, from a separate loader process), with the endpoint off, then on (its sampler
// ticking each second), scraped once a second at /metrics, and with a dashboard's stream open too.
// The difference is CPU time the endpoint takes per second; a broker that is busy with messages
// loses at most that share of one core to it. Throughput runs (bench/run.mjs, petrel-http) cannot
// resolve a few percent on a shared 2-core machine; this can.
//
//   npm run build && node bench/http-cost.mjs                       # N = 0, 1000, 10000; 30 s windows
//   node bench/http-cost.mjs --clients 0,10000 --seconds 20
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect as tcp } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const MQTT_PORT = 18880
const HTTP_PORT = 18881
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function fail(msg) {
  process.stderr.write(`bench:http-cost: ${msg}\n`)
  process.exit(2)
}

// --- the loader (a child process): N clients, each CONNECT + SUBSCRIBE, then idle ---------------

function str(s) {
  const b = Buffer.from(s)
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b])
}
function packet(first, body) {
  const len = []
  let n = body.length
  do {
    let d = n % 128
    n = Math.floor(n / 128)
    if (n > 0) d |= 128
    len.push(d)
  } while (n > 0)
  return Buffer.concat([Buffer.from([first, ...len]), body])
}
const connectPacket = (id) =>
  packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 0]), str(id)]))
const subscribePacket = (topic) =>
  packet(0x82, Buffer.concat([Buffer.from([0, 1]), str(topic), Buffer.from([1])]))

async function loader(count) {
  const sockets = []
  const one = (i) =>
    new Promise((res, rej) => {
      const s = tcp({ port: MQTT_PORT, host: '127.0.0.1' })
      let got = Buffer.alloc(0)
      s.on('data', (d) => {
        got = Buffer.concat([got, d])
        // CONNACK (4 bytes) then SUBACK (5 bytes)
        if (got.length >= 9) res(s)
      })
      s.on('error', rej)
      s.on('connect', () =>
        s.write(Buffer.concat([connectPacket(`idle-${i}`), subscribePacket(`load/${i}/#`)])),
      )
      sockets.push(s)
    })
  for (let i = 0; i < count; i += 250) {
    const batch = []
    for (let j = i; j < Math.min(count, i + 250); j++) batch.push(one(j))
    await Promise.all(batch)
  }
  process.stdout.write('ready\n')
  await new Promise(() => {}) // held until killed
}

// --- the measurement --------------------------------------------------------------------------

function cpuTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
  return Number(f[11]) + Number(f[12])
}

async function startBroker(http) {
  const args = [
    join(ROOT, 'dist/cli/main.js'),
    'broker',
    '--port',
    String(MQTT_PORT),
    '--memory',
    '--log-level',
    'warn',
  ]
  if (http) args.push('--http-port', String(HTTP_PORT))
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] })
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((res) => {
      const s = tcp({ port: MQTT_PORT, host: '127.0.0.1' })
      s.once('connect', () => {
        s.destroy()
        res(true)
      })
      s.once('error', () => res(false))
    })
    if (up) return child
    await sleep(100)
  }
  child.kill('SIGKILL')
  fail('the broker did not listen within 10 s')
}

async function startLoader(count) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--loader', String(count)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  await new Promise((res, rej) => {
    child.stdout.on('data', (d) => String(d).includes('ready') && res())
    child.once('exit', (code) => rej(new Error(`loader exited with ${code}`)))
  })
  return child
}

/** CPU milliseconds per second the broker used over `seconds`. */
async function measure(pid, seconds) {
  const t0 = performance.now()
  const c0 = cpuTicks(pid)
  await sleep(seconds * 1000)
  const c1 = cpuTicks(pid)
  return ((c1 - c0) * 10) / ((performance.now() - t0) / 1000) // ticks are 10 ms (USER_HZ 100)
}

function scraper() {
  const t = setInterval(() => {
    fetch(`http://127.0.0.1:${HTTP_PORT}/metrics`)
      .then((r) => r.text())
      .catch(() => {})
  }, 1000)
  return () => clearInterval(t)
}

async function stream() {
  const ac = new AbortController()
  const r = await fetch(`http://127.0.0.1:${HTTP_PORT}/api/v1/stream`, { signal: ac.signal })
  const reader = r.body.getReader()
  ;(async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return
  })()
  return () => ac.abort()
}

async function stop(child) {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(t)
}

async function main() {
  let clients = [0, 1000, 10_000]
  let seconds = 30
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--clients') clients = argv[++i].split(',').map(Number)
    else if (argv[i] === '--seconds') seconds = Number(argv[++i])
    else fail(`unknown option ${argv[i]}; options: --clients 0,1000,10000 --seconds 30`)
  }
  const rows = []
  for (const n of clients) {
    const row = { n }
    for (const http of [false, true]) {
      const broker = await startBroker(http)
      const load = await startLoader(n)
      await sleep(10_000) // settle: the CONNECTs' work and its garbage done, samples taken
      if (!http) row.off = await measure(broker.pid, seconds)
      else {
        row.on = await measure(broker.pid, seconds)
        const stopScrape = scraper()
        row.scraped = await measure(broker.pid, seconds)
        const stopStream = await stream()
        row.dashboard = await measure(broker.pid, seconds)
        stopStream()
        stopScrape()
      }
      await stop(load)
      await stop(broker)
      process.stderr.write(`${n} clients, http ${http ? 'on' : 'off'}: ${JSON.stringify(row)}\n`)
    }
    rows.push(row)
  }
  const ms = (x) => x.toFixed(1)
  const pct = (x) => `${((x / 1000) * 100).toFixed(2)} %`
  let commit = 'unknown'
  try {
    commit = (await import('node:child_process'))
      .execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })
      .toString()
      .trim()
  } catch {}
  console.log(
    `\nBroker CPU, ms per second (${seconds} s windows; commit ${commit}; Node ${process.version})\n`,
  )
  console.log(
    '| idle clients (1 subscription each) | endpoint off | on (sampler) | + /metrics each second | + a dashboard stream | cost of the endpoint (scraped, one dashboard), share of one core |',
  )
  console.log('|---|---|---|---|---|---|')
  for (const r of rows)
    console.log(
      `| ${r.n.toLocaleString('en')} | ${ms(r.off)} | ${ms(r.on)} | ${ms(r.scraped)} | ${ms(r.dashboard)} | ${ms(r.dashboard - r.off)} ms/s = ${pct(r.dashboard - r.off)} |`,
    )
}

if (process.argv[2] === '--loader') await loader(Number(process.argv[3]))
else await main()
