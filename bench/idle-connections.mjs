#!/usr/bin/env node
// Memory per idle connection: opens N MQTT connections (CONNECT, clean session, keepalive 0)
// to each broker, waits for every CONNACK, and reports the broker's RSS growth per connection.
//
//   npm run bench:memory                 # 10,000 connections, Petrel, Mosquitto, Aedes
//   npm run bench:memory -- --count 2000 --brokers petrel
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SHARED = resolve(ROOT, '..', 'shared', 'tools', 'loadgen')
const work = mkdtempSync(join(tmpdir(), 'petrel-mem-'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

let count = 10_000
let brokers = ['mosquitto', 'aedes', 'petrel']
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--count') count = Number(argv[++i])
  else if (argv[i] === '--brokers') brokers = argv[++i].split(',')
  else {
    process.stderr.write(`bench:memory: unknown option ${argv[i]}; options: --count N --brokers a,b\n`)
    process.exit(2)
  }
}

function command(name, port) {
  if (name === 'petrel')
    return [
      process.execPath,
      [join(ROOT, 'dist/cli/main.js'), 'broker', '--port', String(port), '--memory', '--log-level', 'warn'],
    ]
  if (name === 'aedes') return [process.execPath, [join(ROOT, 'bench/aedes-server.mjs'), String(port)]]
  const conf = readFileSync(join(SHARED, 'mosquitto-bench.conf'), 'utf8').replace(
    /^listener \d+/m,
    `listener ${port}`,
  )
  const file = join(work, 'mosquitto.conf')
  writeFileSync(file, conf)
  return [existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto', ['-c', file]]
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : Number.NaN
}

function connectOne(port, i) {
  return new Promise((res, rej) => {
    const s = createConnection({ port, host: '127.0.0.1' })
    const id = Buffer.from(`idle-${i}`)
    const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, id.length]), id])
    s.once('connect', () => s.write(Buffer.concat([Buffer.from([0x10, body.length]), body])))
    s.once('data', (d) => (d[0] === 0x20 && d[3] === 0 ? res(s) : rej(new Error('refused'))))
    s.once('error', rej)
  })
}

async function measure(name, port) {
  const [cmd, args] = command(name, port)
  const child = spawn(cmd, args, { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    await sleep(100)
    const ok = await new Promise((r) => {
      const s = createConnection({ port, host: '127.0.0.1' })
      s.once('connect', () => {
        s.destroy()
        r(true)
      })
      s.once('error', () => r(false))
    })
    if (ok) break
  }
  await sleep(500)
  const before = rssKiB(child.pid)
  const sockets = []
  for (let i = 0; i < count; i += 200) {
    const batch = []
    for (let j = i; j < Math.min(count, i + 200); j++) batch.push(connectOne(port, j))
    sockets.push(...(await Promise.all(batch)))
  }
  await sleep(2000)
  const after = rssKiB(child.pid)
  for (const s of sockets) s.destroy()
  child.kill('SIGKILL')
  return { name, before, after, perConn: ((after - before) * 1024) / count }
}

const rows = []
let port = 18870
for (const b of brokers) rows.push(await measure(b, port++))
console.log(`\n${count} idle connections (CONNECT clean session, keepalive 0); RSS growth per connection\n`)
console.log('| broker | RSS before | RSS with connections | per connection |')
console.log('|---|---|---|---|')
for (const r of rows) {
  console.log(
    `| ${r.name} | ${(r.before / 1024).toFixed(1)} MiB | ${(r.after / 1024).toFixed(1)} MiB | ${(r.perConn / 1024).toFixed(1)} KiB |`,
  )
}
