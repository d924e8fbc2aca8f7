#!/usr/bin/env node
// What TLS and WebSocket cost (issue 13): Petrel's TLS listener against Mosquitto's TLS listener,
// Petrel's WebSocket listener against Aedes over WebSocket (and Mosquitto's websockets listener),
// each beside Petrel over plain TCP, all in the same run, driven by the shared loadgen built as a
// TLS client (bench/loadgen-tls.mjs) and as a WebSocket client (bench/loadgen-ws.mjs).
//
// How to run (npm run build first; needs mosquitto, openssl and libssl-dev):
//   npm run bench:security                                   # everything, 3 rounds
//   npm run bench:security -- --rounds 5 --only conn         # connections per second only
//   npm run bench:security -- --only one2one:0,fanout:0 --petrel api
//   node bench/security.mjs --rounds 1 --scale 0.05 --conns 200   # a smoke test of a few seconds
//   PETREL_ROOT=<another built checkout> node bench/security.mjs    # serve that checkout's dist/
//
// Each measured run gets freshly started brokers and a warm-up run (10 %); brokers and transports
// alternate their order from round to round; medians of --rounds. Prints markdown tables for
// BENCHMARKS.md with the machine, the versions and this command line. Petrel is served by
// bench/petrel-secure-server.mjs: `--petrel api` = Petrel's own listeners (Broker.listen with
// protocol mqtts/ws, what `petrel broker` listeners use); `handle` = node:tls / `ws` in that script
// handing streams to broker.handle() (for builds without listeners); `auto` (default) = api when
// the build has it, else handle, and the table header says which one ran.
//
// Connections per second: loadgen's fanin with --conns clients (1 subscriber), 1 message each,
// --conn-concurrency clients between connect() and CONNACK at a time; the figure is clients /
// (start -> last CONNACK), each connection TCP + (TLS handshake | HTTP Upgrade) + CONNECT/CONNACK.
// TLS: no session resumption (every connection a full handshake), the client verifies the broker's
// certificate (--cafile, IP SAN 127.0.0.1), TLS 1.3 by default with OpenSSL's default ciphers,
// an ECDSA P-256 certificate by default (--key rsa: RSA 2048). WebSocket: one frame per MQTT packet
// from the client, as client libraries send them (--ws-frames write: one per loadgen write).
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tlsLoadgenPath } from './loadgen-tls.mjs'
import { wsLoadgenPath } from './loadgen-ws.mjs'
import { BROKERS, HOST, makeCerts, startBroker, stopBroker, which } from './security-brokers.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..')
const PETREL_ROOT = resolve(process.env.PETREL_ROOT ?? ROOT)
const LOADGEN_SRC = resolve(ROOT, '..', 'shared', 'tools', 'loadgen', 'loadgen.c')

// scenario, QoS, messages per publisher (at --scale 1)
const MATRIX = [
  ['one2one', 0, 200_000],
  ['one2one', 1, 100_000],
  ['fanin', 0, 10_000],
  ['fanout', 0, 20_000],
]

/** What is measured: a broker over a transport ("petrel/tls"). */
const THROUGHPUT_TARGETS = [
  'mosquitto/tls',
  'petrel/tls',
  'petrel/tcp',
  'aedes/ws',
  'petrel/ws',
  'mosquitto/ws',
]
const CONN_TARGETS = [
  'mosquitto/tcp',
  'petrel/tcp',
  'aedes/tcp',
  'mosquitto/tls',
  'petrel/tls',
  'aedes/ws',
  'petrel/ws',
  'mosquitto/ws',
]

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`)
  if (env.work !== '') rmSync(env.work, { recursive: true, force: true })
  process.exit(2)
}

function parseCli(argv) {
  const o = {
    rounds: 3,
    only: null,
    scale: 1,
    conns: 2000,
    concurrency: 50,
    tlsVersion: '1.3',
    key: 'ec',
    petrel: 'auto',
    mosquittoWs: true,
    wsFrames: 'packet',
    json: null,
  }
  const usage =
    'options: --rounds N --only conn,one2one:0,one2one:1,fanin:0,fanout:0 --scale F --conns N --conn-concurrency K --tls-version 1.2|1.3 --key ec|rsa --petrel auto|api|handle --no-mosquitto-ws --ws-frames packet|write --json FILE'
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => argv[++i] ?? fail(`${a} needs a value`)
    if (a === '--rounds') o.rounds = Number(v())
    else if (a === '--only') o.only = v().split(',')
    else if (a === '--scale') o.scale = Number(v())
    else if (a === '--conns') o.conns = Number(v())
    else if (a === '--conn-concurrency') o.concurrency = Number(v())
    else if (a === '--tls-version') o.tlsVersion = v()
    else if (a === '--key') o.key = v()
    else if (a === '--petrel') o.petrel = v()
    else if (a === '--no-mosquitto-ws') o.mosquittoWs = false
    else if (a === '--ws-frames') o.wsFrames = v()
    else if (a === '--json') o.json = v()
    else fail(`unknown option ${a}; ${usage}`)
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1) fail('--rounds must be a whole number >= 1')
  if (!(o.scale > 0)) fail('--scale must be a number > 0')
  if (!Number.isInteger(o.conns) || o.conns < 2 || o.conns > 10_000) fail('--conns must be from 2 to 10000')
  if (!Number.isInteger(o.concurrency) || o.concurrency < 1) fail('--conn-concurrency must be >= 1')
  if (o.tlsVersion !== '1.2' && o.tlsVersion !== '1.3') fail('--tls-version must be 1.2 or 1.3')
  if (o.key !== 'ec' && o.key !== 'rsa') fail('--key must be ec (ECDSA P-256) or rsa (RSA 2048)')
  if (!['auto', 'api', 'handle'].includes(o.petrel)) fail('--petrel must be auto, api or handle')
  if (o.wsFrames !== 'packet' && o.wsFrames !== 'write') fail('--ws-frames must be packet or write')
  const known = ['conn', ...MATRIX.map(([sc, q]) => `${sc}:${q}`)]
  for (const x of o.only ?? []) if (!known.includes(x)) fail(`--only ${x}: one of ${known.join(', ')}`)
  return o
}

/** For bench/security-brokers.mjs; `work` (certificates, configs) is made in main(). */
const env = { work: '', petrelRoot: PETREL_ROOT, fail }

/** Runs loadgen; resolves its JSON result, or null (the reason on stderr). */
function runLoadgen(lgs, target, o, pki, args, info) {
  const [name, transport] = target.split('/')
  const port = BROKERS[name][transport]
  const base = ['--host', HOST, '--port', String(port), '--size', '64', '--timeout', '120', '--json']
  const [bin, extra] =
    transport === 'ws'
      ? [lgs.ws, ['--ws-path', '/mqtt', '--ws-frames', o.wsFrames]]
      : transport === 'tls'
        ? [lgs.tls, ['--tls', '--cafile', pki.ca, '--tls-version', o.tlsVersion]]
        : [lgs.tls, []]
  return new Promise((res) => {
    const child = spawn(bin, [...base, ...extra, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.stderr.on('data', (d) => {
      err += d
    })
    child.on('exit', (code) => {
      const cipher = /loadgen: (TLSv[\d.]+ \S+)/.exec(err)?.[1]
      if (cipher) info.cipher = cipher
      try {
        res(JSON.parse(out))
      } catch {
        process.stderr.write(
          `bench: loadgen on ${target} failed (${code}): ${err.trim().split('\n').slice(-2).join(' | ')}\n`,
        )
        res(null)
      }
    })
  })
}

const connArgs = (n, o) =>
  ['--scenario', 'fanin', '--pubs', String(n - 1), '--count', '1', '--qos', '0'].concat([
    '--idle',
    '2',
    '--conn-concurrency',
    String(o.concurrency),
  ])
const flowArgs = (sc, qos, count) => [
  '--scenario',
  sc,
  '--qos',
  String(qos),
  '--count',
  String(count),
  '--idle',
  '5',
]

/** One measured run on a fresh broker, after a warm-up run of a tenth of the size. */
async function measure(lgs, target, what, o, pki, info) {
  const [name, transport] = target.split('/')
  const child = await startBroker(env, name, transport, pki, o, info)
  let r
  if (what === 'conn') {
    await runLoadgen(lgs, target, o, pki, connArgs(Math.max(2, Math.floor(o.conns / 10)), o), info)
    r = await runLoadgen(lgs, target, o, pki, connArgs(o.conns, o), info)
  } else {
    const [sc, qos, count] = what
    const n = Math.max(1, Math.round(count * o.scale))
    await runLoadgen(lgs, target, o, pki, flowArgs(sc, qos, Math.max(1, Math.floor(n / 10))), info)
    r = await runLoadgen(lgs, target, o, pki, flowArgs(sc, qos, n), info)
  }
  await stopBroker(child)
  if (r === null) return null
  if (what === 'conn')
    return {
      rate: r.connect_ms > 0 ? (r.clients / r.connect_ms) * 1000 : Number.NaN,
      lost: r.lost,
      end: r.end,
    }
  return { rate: r.deliver_rate, lost: r.lost, end: r.end }
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
/** Connections per second: whole numbers below 10,000. */
const cps = (n) => (Number.isFinite(n) && n < 1e4 ? String(Math.round(n)) : k(n))
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a')
const label = (sc) => (sc === 'fanin' ? 'fanin (20:1)' : sc === 'fanout' ? 'fanout (1:20)' : sc)
const TRANSPORT = { tcp: 'TCP', tls: 'TLS', ws: 'WS' }
const col = (t) => `${t.split('/')[0]} ${TRANSPORT[t.split('/')[1]]}`

function versions() {
  const v = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()
    } catch (e) {
      return `${e.stdout ?? ''}`
    }
  }
  const mosq = /mosquitto version (\S+)/.exec(v(which('mosquitto') ?? 'mosquitto', ['-h']))?.[1] ?? '?'
  const ssl = v(which('openssl') ?? 'openssl', ['version'])
    .trim()
    .split(' ')
    .slice(0, 2)
    .join(' ')
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: PETREL_ROOT,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim()
  } catch {}
  const aedes = JSON.parse(readFileSync(join(ROOT, 'node_modules/aedes/package.json'), 'utf8')).version
  const ws = JSON.parse(readFileSync(join(ROOT, 'node_modules/ws/package.json'), 'utf8')).version
  return { mosq, ssl, commit, aedes, ws }
}

async function main() {
  const o = parseCli(process.argv.slice(2))
  if (!existsSync(join(PETREL_ROOT, 'dist/index.js')))
    fail(`${PETREL_ROOT}/dist is missing: run npm run build first`)
  if (!existsSync(LOADGEN_SRC))
    fail(`loadgen source not found at ${LOADGEN_SRC} (../shared must be beside the checkout)`)
  const lgs = {
    tls: tlsLoadgenPath(LOADGEN_SRC, tmpdir(), fail),
    ws: wsLoadgenPath(LOADGEN_SRC, tmpdir(), fail),
  }
  env.work = mkdtempSync(join(tmpdir(), 'petrel-security-bench-'))
  const pki = makeCerts(env, o.key)
  const info = {}
  const wanted = (x) => o.only === null || o.only.includes(x)
  const drop = (t) => !(t === 'mosquitto/ws' && !o.mosquittoWs)
  const flows = MATRIX.filter(([sc, q]) => wanted(`${sc}:${q}`))
  const conn = wanted('conn')
  const tTargets = THROUGHPUT_TARGETS.filter(drop)
  const cTargets = CONN_TARGETS.filter(drop)
  const results = []
  const started = Date.now()
  for (let round = 1; round <= o.rounds; round++) {
    const jobs = [...(conn ? [['conn', cTargets]] : []), ...flows.map((f) => [f, tTargets])]
    for (const [what, targets] of jobs) {
      const order = round % 2 ? targets : [...targets].reverse()
      for (const target of order) {
        const r = await measure(lgs, target, what, o, pki, info)
        const key = what === 'conn' ? 'conn' : `${what[0]}:${what[1]}`
        results.push({ round, key, target, ...(r ?? { rate: Number.NaN, lost: -1, end: 'failed' }) })
        const t = Math.round((Date.now() - started) / 1000)
        const unit = what === 'conn' ? 'conn/s' : 'msg/s'
        process.stderr.write(
          `[${t}s] r${round} ${key} ${target}: ${r ? `${Math.round(r.rate)} ${unit} lost=${r.lost} ${r.end}` : 'FAILED'}\n`,
        )
      }
    }
  }
  if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, info, results }, null, 2))

  const med = (key, target) =>
    median(results.filter((r) => r.key === key && r.target === target).map((r) => r.rate))
  const lost = (key, target) =>
    results
      .filter((r) => r.key === key && r.target === target)
      .reduce((a, r) => a + (r.lost > 0 ? r.lost : 0), 0)
  const v = versions()
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  const via =
    info.petrelVia === 'api'
      ? "Petrel's own listeners (Broker.listen mqtts / ws)"
      : "node:tls and `ws` + broker.handle() (bench/petrel-secure-server.mjs --via handle), not Petrel's listeners"
  const keyName = o.key === 'rsa' ? 'RSA 2048' : 'ECDSA P-256'
  console.log(
    `\nMachine: ${cpus().length} cores, ${cpu}; Node ${process.version} (OpenSSL ${process.versions.openssl}); petrel commit ${v.commit}; ` +
      `mosquitto ${v.mosq} (system ${v.ssl}; the shared bench settings + set_tcp_nodelay true, log_type error and warning); aedes ${v.aedes}, ws ${v.ws}; medians of ${o.rounds} rounds; 64-byte payloads.\n` +
      `Command: \`node bench/security.mjs ${process.argv.slice(2).join(' ')}\`. Petrel TLS/WS served by ${via}. ` +
      `TLS: ${info.cipher ?? `TLS ${o.tlsVersion}`}, ${keyName} server certificate, verified by the client, no session resumption. ` +
      `WebSocket: ws://127.0.0.1/mqtt, subprotocol mqtt, the client sends ${o.wsFrames === 'packet' ? 'one masked binary frame per MQTT packet' : 'one masked binary frame per loadgen write (many MQTT packets)'}.\n`,
  )
  if (conn) {
    console.log(
      `### New connections per second (${o.conns} clients, ${o.concurrency} connecting at a time; TCP + TLS handshake or HTTP Upgrade + CONNECT/CONNACK)\n`,
    )
    const names = ['mosquitto', 'aedes', 'petrel']
    const rows = ['tcp', 'tls', 'ws'].map((t) => {
      const m = Object.fromEntries(
        names.map((n) => [n, cTargets.includes(`${n}/${t}`) ? med('conn', `${n}/${t}`) : Number.NaN]),
      )
      const kind = t === 'tls' ? 'TLS (full handshake)' : TRANSPORT[t]
      return `| ${kind} | ${names.map((n) => (cTargets.includes(`${n}/${t}`) ? cps(m[n]) : '-')).join(' | ')} | ${ratio(m.petrel, m.mosquitto)} | ${ratio(m.petrel, m.aedes)} | ${ratio(m.petrel, med('conn', 'petrel/tcp'))} |`
    })
    console.log(
      '| transport | mosquitto | aedes | petrel | petrel / mosquitto | petrel / aedes | petrel / petrel TCP |',
    )
    console.log('|---|---|---|---|---|---|---|')
    console.log(`${rows.join('\n')}\n`)
  }
  const flowTable = (title, targets, ratios) => {
    console.log(`### ${title}\n`)
    const rows = flows.map(([sc, q]) => {
      const key = `${sc}:${q}`
      const cells = targets.map((t) => k(med(key, t)))
      const rs = ratios.map(([a, b]) => ratio(med(key, a), med(key, b)))
      return `| ${label(sc)} | ${q} | ${cells.join(' | ')} | ${rs.join(' | ')} | ${targets.map((t) => lost(key, t)).join(' / ')} |`
    })
    const heads = [
      'scenario',
      'QoS',
      ...targets.map(col),
      ...ratios.map(([a, b]) => `${col(a)} / ${col(b)}`),
      'lost (sum)',
    ]
    console.log(`| ${heads.join(' | ')} |`)
    console.log(`|${heads.map(() => '---|').join('')}`)
    console.log(`${rows.join('\n')}\n`)
  }
  if (flows.length > 0) {
    flowTable(
      'TLS throughput, msg/s delivered',
      ['mosquitto/tls', 'petrel/tls', 'petrel/tcp'],
      [
        ['petrel/tls', 'mosquitto/tls'],
        ['petrel/tls', 'petrel/tcp'],
      ],
    )
    const wsTargets = ['aedes/ws', 'petrel/ws', ...(o.mosquittoWs ? ['mosquitto/ws'] : []), 'petrel/tcp']
    flowTable('WebSocket throughput, msg/s delivered', wsTargets, [
      ['petrel/ws', 'aedes/ws'],
      ...(o.mosquittoWs ? [['petrel/ws', 'mosquitto/ws']] : []),
      ['petrel/ws', 'petrel/tcp'],
    ])
  }
  rmSync(env.work, { recursive: true, force: true })
}

await main()
