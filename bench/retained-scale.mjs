#!/usr/bin/env node
// Retained messages at scale (the performance issue's target 3), against Petrel, Mosquitto,
// nats-server and Aedes, each started fresh:
//  1. fill N retained messages with the loadgen (fanin, 20 publishers, N/20 topics each, QoS 0,
//     64-byte payloads, RETAIN) and read the broker's RSS before and 2 s after: bytes per retained
//     message above its 64-byte payload;
//  2. then, together: a one2one at 5,000 msg/s (loadgen --rate, non-retained topic) and, 0.5 s
//     into it, a new subscriber to '#' that counts the retained PUBLISHes it gets: msg/s from its
//     SUBACK to the Nth, and the one2one's p99 while that happens;
//  3. restart on a store: fill, settle 2 s, stop with SIGTERM (or SIGKILL), start again on the
//     same data, and time from spawn to listening and to a '#' subscriber having all N.
//
//   npm run bench:retained                              # N = 1,000,000
//   npm run bench:retained -- --retained 20000 --port-base 19100
//   npm run bench:retained -- --brokers petrel,mosquitto --restart-brokers petrel-sqlite
import { createConnection } from 'node:net'
import {
  available,
  dataDir,
  fmtRate,
  header,
  loadgenPath,
  mib,
  options,
  portsFrom,
  rssKiB,
  runLoadgen,
  settledRssKiB,
  sleep,
  startBroker,
  stopBroker,
} from './peers.mjs'
import { CONNACK, connectPacket, PacketScanner, SUBACK, subscribePacket } from './raw-mqtt.mjs'

const SCRIPT = 'bench:retained'
const PUBS = 20
const PAYLOAD = 64
const SETTLE_MS = 2000
/** The '#' subscriber starts this long after the one2one, so its burst falls inside the one2one's run. */
const SUBSCRIBER_DELAY_MS = 500
const o = options(SCRIPT, {
  retained: [1_000_000, 'retained messages (a multiple of 20)'],
  brokers: [
    ['petrel', 'mosquitto', 'nats', 'aedes'],
    'brokers for the fill, the # subscriber and the one2one',
  ],
  'restart-brokers': [
    ['petrel-sqlite', 'mosquitto-persist', 'nats'],
    'brokers for the restart test; none: ""',
  ],
  'port-base': [18900, 'first port; each broker takes two from here'],
  rate: [5000, 'msg/s of the concurrent one2one'],
  'one2one-count': [50_000, 'messages of the concurrent one2one'],
})
const N = o.retained
if (N < PUBS || N % PUBS !== 0) {
  process.stderr.write(`${SCRIPT}: --retained must be a multiple of ${PUBS}, not ${N}\n`)
  process.exit(2)
}
const PORTS = portsFrom(o['port-base'])
/** How long the '#' subscriber may take: generous, as a slow broker should show as slow, not hang. */
const READ_TIMEOUT_MS = 30_000 + N / 5

/**
 * A new client subscribing to '#': counts the PUBLISHes with RETAIN set (the retained set sent
 * for the new subscription; live messages carry RETAIN 0), reading fixed headers only.
 * Resolves with the count and the times (hrtime ns) of SUBSCRIBE, SUBACK and the Nth.
 */
function readRetained(port, n, timeoutMs) {
  return new Promise((resolve) => {
    const r = { received: 0, subscribedAt: 0n, subackAt: 0n, firstAt: 0n, doneAt: 0n, error: null }
    const s = createConnection({ port, host: '127.0.0.1' })
    const finish = () => {
      clearTimeout(timer)
      s.destroy()
      resolve(r)
    }
    const timer = setTimeout(() => {
      r.error = `timed out after ${Math.round(timeoutMs / 1000)} s`
      finish()
    }, timeoutMs)
    const scanner = new PacketScanner(
      (first) => first >> 4 === CONNACK || first >> 4 === SUBACK,
      (first, body) => {
        // type PUBLISH and RETAIN, whatever the QoS bits
        if ((first & 0xf1) === 0x31) {
          if (++r.received === 1) r.firstAt = process.hrtime.bigint()
          if (r.received === n) {
            r.doneAt = process.hrtime.bigint()
            finish()
          }
        } else if (first >> 4 === CONNACK) {
          if (body[1] !== 0) {
            r.error = 'CONNACK refused'
            return finish()
          }
          r.subscribedAt = process.hrtime.bigint()
          s.write(subscribePacket(1, ['#']))
        } else if (first >> 4 === SUBACK) r.subackAt = process.hrtime.bigint()
      },
    )
    s.on('data', (d) => scanner.push(d))
    s.once('connect', () => s.write(connectPacket(`retained-reader-${process.pid}`)))
    s.on('error', (e) => {
      r.error = e.code ?? e.message
      finish()
    })
    s.on('close', () => {
      if (r.doneAt === 0n) {
        r.error ??= 'closed by the broker'
        finish()
      }
    })
  })
}

/**
 * The SUBACK, or the SUBSCRIBE when the broker sent retained messages before its SUBACK
 * (nats-server 2.9 does: its SUBACK follows the whole retained set).
 */
const readStart = (rd) => (rd.subackAt > 0n && rd.subackAt <= rd.firstAt ? rd.subackAt : rd.subscribedAt)

const seconds = (from, to) => (from > 0n && to > 0n ? Number(to - from) / 1e9 : Number.NaN)

async function fill(lg, b) {
  const perPub = N / PUBS
  const t0 = performance.now()
  const r = await runLoadgen(lg, b.port, [
    '--scenario',
    'fanin',
    '--pubs',
    String(PUBS),
    '--topics',
    String(perPub),
    '--retain',
    '--qos',
    '0',
    '--count',
    String(perPub),
    '--idle',
    '5',
    '--timeout',
    String(Math.max(60, Math.ceil(N / 2000))),
  ])
  const s = (performance.now() - t0) / 1000
  process.stderr.write(`  ${b.name}: filled ${N} retained in ${s.toFixed(1)} s (loadgen exit ${r.code})\n`)
  return s
}

async function scale(lg, name) {
  const b = await startBroker(SCRIPT, name, PORTS[name])
  await sleep(SETTLE_MS)
  const before = rssKiB(b.pid)
  const fillS = await fill(lg, b)
  await sleep(SETTLE_MS)
  const after = rssKiB(b.pid)
  const settled = await settledRssKiB(b.pid)
  const one2one = runLoadgen(lg, b.port, [
    '--scenario',
    'one2one',
    '--qos',
    '0',
    '--rate',
    String(o.rate),
    '--count',
    String(o['one2one-count']),
    '--idle',
    '5',
    '--timeout',
    String(Math.ceil(o['one2one-count'] / o.rate) + 60),
  ])
  await sleep(SUBSCRIBER_DELAY_MS)
  const rd = await readRetained(b.port, N, READ_TIMEOUT_MS)
  const lgr = await one2one
  const peak = rssKiB(b.pid)
  await stopBroker(b)
  const row = {
    name,
    fillS,
    before,
    after,
    settled,
    perMsgSettled: ((settled - before) * 1024) / N - PAYLOAD,
    peak,
    perMsg: ((after - before) * 1024) / N - PAYLOAD,
    received: rd.received,
    error: rd.error,
    rate: rd.received === N ? N / seconds(readStart(rd), rd.doneAt) : Number.NaN,
    early: rd.received > 0 && (rd.subackAt === 0n || rd.subackAt > rd.firstAt),
    p50: lgr.json?.lat_us?.p50 ?? Number.NaN,
    p99: lgr.json?.lat_us?.p99 ?? Number.NaN,
    lost: lgr.json?.lost ?? Number.NaN,
  }
  process.stderr.write(
    `  ${name}: ${Math.round(row.perMsg)} B/retained, '#' got ${rd.received}/${N}${rd.error ? ` (${rd.error})` : ''} at ${fmtRate(row.rate)} msg/s, one2one p99 ${(row.p99 / 1000).toFixed(2)} ms\n`,
  )
  return row
}

async function restart(lg, name, signal) {
  const dir = dataDir(name)
  const first = await startBroker(SCRIPT, name, PORTS[name], dir)
  await fill(lg, first)
  await sleep(SETTLE_MS)
  const stop = await stopBroker(first, signal)
  const b = await startBroker(SCRIPT, name, PORTS[name], dir)
  const rd = await readRetained(b.port, N, READ_TIMEOUT_MS)
  await stopBroker(b)
  const row = {
    name,
    signal,
    stopMs: stop.ms,
    graceful: stop.graceful,
    listenS: seconds(b.spawnedAt, b.listeningAt),
    servedS: rd.received === N ? seconds(b.spawnedAt, rd.doneAt) : Number.NaN,
    received: rd.received,
    error: rd.error,
  }
  process.stderr.write(
    `  ${name} ${signal}: listening after ${row.listenS.toFixed(2)} s, ${rd.received}/${N} retained served after ${row.servedS.toFixed(2)} s\n`,
  )
  return row
}

const lg = loadgenPath(SCRIPT)
const rows = []
for (const name of available(SCRIPT, o.brokers)) {
  process.stderr.write(`${SCRIPT}: ${name}\n`)
  rows.push(await scale(lg, name))
}
const restarts = []
for (const name of available(SCRIPT, o['restart-brokers'])) {
  for (const signal of ['SIGTERM', 'SIGKILL']) {
    if (name === 'mosquitto-persist' && signal === 'SIGKILL') {
      process.stderr.write(
        `${SCRIPT}: skipping mosquitto-persist SIGKILL: Mosquitto writes its store only at shutdown or autosave_interval\n`,
      )
      continue
    }
    if (name === 'petrel' || name === 'mosquitto' || name === 'aedes') {
      process.stderr.write(`${SCRIPT}: skipping the restart of ${name}: it keeps nothing on disk\n`)
      break
    }
    process.stderr.write(`${SCRIPT}: restart ${name} after ${signal}\n`)
    restarts.push(await restart(lg, name, signal))
  }
}

const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a')
const ms = (us) => (Number.isFinite(us) ? (us / 1000).toFixed(2) : 'n/a')
console.log(`\n${header()}`)
console.log(
  `${N.toLocaleString('en')} retained messages, ${PAYLOAD}-byte payloads, filled by loadgen fanin (${PUBS} publishers x ${N / PUBS} topics, QoS 0, RETAIN)\n`,
)
if (rows.length > 0) {
  console.log(
    `### Memory, '#' subscriber, concurrent one2one (${o.rate} msg/s, QoS 0, ${o['one2one-count']} messages)\n`,
  )
  console.log(
    `| broker | fill s | RSS before | RSS after fill, 2 s / settled (40 s idle) | B/retained above payload, 2 s / settled (target <= 300) | '#' received | '#' msg/s from SUBACK (target >= 500k) | one2one p50 / p99 ms (target p99 < 20) | one2one lost |`,
  )
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const r of rows)
    console.log(
      `| ${r.name} | ${r.fillS.toFixed(1)} | ${mib(r.before)} | ${mib(r.after)} / ${mib(r.settled)} | ${Math.round(r.perMsg)} / ${Math.round(r.perMsgSettled)} | ${r.received}${r.error ? ` (${r.error})` : ''} | ${fmtRate(r.rate)}${r.early ? ' *' : ''} | ${ms(r.p50)} / ${ms(r.p99)} | ${r.lost} |`,
    )
  if (rows.some((r) => r.early))
    console.log(
      '\n\\* this broker sent retained messages before its SUBACK: timed from the SUBSCRIBE instead',
    )
  console.log('')
}
if (restarts.length > 0) {
  console.log(
    `### Restart on the store: stopped ${SETTLE_MS / 1000} s after the fill, started again on the same data (target: all served <= 3 s)\n`,
  )
  console.log(
    `| broker | stopped by | stop took s | spawn to listening s | spawn to all ${N} served to '#' s | received |`,
  )
  console.log('|---|---|---|---|---|---|')
  for (const r of restarts)
    console.log(
      `| ${r.name} | ${r.signal}${r.graceful ? '' : ' (then SIGKILL after 5 s)'} | ${f2(r.stopMs / 1000)} | ${f2(r.listenS)} | ${f2(r.servedS)} | ${r.received}${r.error ? ` (${r.error})` : ''} |`,
    )
}
