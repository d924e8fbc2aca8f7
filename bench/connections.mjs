#!/usr/bin/env node
import {
  available,
  cpuSeconds,
  fail,
  fmtRate,
  header,
  mib,
  needOpenFiles,
  options,
  portsFrom,
  rssKiB,
  settledRssKiB,
  sleep,
  startBroker,
  stopBroker,
} from './peers.mjs'
// Idle connections at scale (the performance issue's target 5), against Petrel, Mosquitto,
// nats-server and Aedes, each started fresh:
//  1. open N connections (CONNECT, clean session, keep-alive 0), 100 handshakes at a time: the
//     connect rate from the first connect() to the last CONNACK;
//  2. the broker's RSS before, 2 s after and settled (the lowest over 40 s idle): RSS per connection;
//  3. 1 % of them become active: active client a subscribes to lat/<a> and publishes 10 msg/s
//     (QoS 0) to lat/<a+1>, so each one both sends and receives; every payload carries its send
//     time (process.hrtime.bigint), read back in this same process: p50/p99 over --seconds.
//
//   npm run bench:conns                                  # 9,000 connections, 90 active
//   npm run bench:conns -- --count 500 --port-base 19100
//   npm run bench:memory                                 # the same script
import { openClient, openMany, PUBLISH, publishPacket, SUBACK, subscribePacket } from './raw-mqtt.mjs'

const SCRIPT = 'bench:conns'
const PAYLOAD = 64
const SETTLE_MS = 2000
/** Latencies from this first second are left out (connections and JIT warming up). */
const WARMUP_MS = 1000
/** Messages still in flight when the publishers stop get this long to arrive before counting losses. */
const DRAIN_MS = 1000
const FD_SPARE = 100
const o = options(SCRIPT, {
  count: [9000, 'idle connections'],
  'active-pct': [1, 'percent of them that publish and subscribe'],
  rate: [10, 'msg/s each active connection publishes'],
  seconds: [10, 'seconds of latency measurement (after 1 s of warm-up)'],
  brokers: [['petrel', 'mosquitto', 'nats', 'aedes'], 'brokers'],
  'port-base': [18940, 'first port; each broker takes two from here'],
  concurrency: [100, 'CONNECT handshakes at a time'],
})
if (o.count < 1) fail(SCRIPT, '--count must be at least 1')
if (o.rate < 1) fail(SCRIPT, '--rate must be at least 1')
if (o['active-pct'] > 100) fail(SCRIPT, '--active-pct is a percentage, 0 to 100')
needOpenFiles(SCRIPT, '--count', o.count, FD_SPARE)
const PORTS = portsFrom(o['port-base'])
const ACTIVE = o['active-pct'] > 0 ? Math.max(1, Math.round((o.count * o['active-pct']) / 100)) : 0

/**
 * Makes ACTIVE of the idle connections publish to each other for WARMUP_MS + seconds: each
 * subscribes on its open connection, then publishes. Resolves with the latencies (ms) after the
 * warm-up, sorted, and the counts.
 */
async function active(sockets) {
  if (ACTIVE === 0) return { lat: new Float64Array(0), sent: 0, received: 0 }
  const stride = Math.floor(sockets.length / ACTIVE)
  const lat = new Float64Array(Math.ceil(ACTIVE * o.rate * (o.seconds + 2)) + 1024)
  let n = 0
  let received = 0
  let measureFrom = 0n
  const clients = []
  const subacks = []
  for (let a = 0; a < ACTIVE; a++) {
    const s = sockets[a * stride]
    s.setNoDelay(true)
    subacks.push(
      new Promise((resolve) => {
        s.mqtt = {
          wantBody: (first) => first >> 4 === PUBLISH,
          onPacket: (first, body) => {
            if (first >> 4 === SUBACK) return resolve()
            if (first >> 4 !== PUBLISH) return
            received++
            const now = process.hrtime.bigint()
            const sent = body.readBigUInt64BE(2 + body.readUInt16BE(0))
            if (sent >= measureFrom && n < lat.length) lat[n++] = Number(now - sent) / 1e6
          },
        }
      }),
    )
    s.write(subscribePacket(1, [`lat/${a}`]))
    clients.push(s)
  }
  await Promise.all(subacks)
  const packets = clients.map((_, a) => publishPacket(`lat/${(a + 1) % ACTIVE}`, Buffer.alloc(PAYLOAD)))
  let sent = 0
  const period = 1000 / o.rate
  const timers = []
  const start = process.hrtime.bigint()
  measureFrom = start + BigInt(WARMUP_MS) * 1_000_000n
  for (let a = 0; a < ACTIVE; a++) {
    const offset = packets[a].length - PAYLOAD
    // spread the publishers over the period rather than all on the same tick
    const phase = setTimeout(
      () => {
        timers.push(
          setInterval(() => {
            const p = Buffer.from(packets[a])
            p.writeBigUInt64BE(process.hrtime.bigint(), offset)
            clients[a].write(p)
            sent++
          }, period),
        )
      },
      (a * period) / ACTIVE,
    )
    timers.push(phase)
  }
  await sleep(WARMUP_MS + o.seconds * 1000)
  for (const t of timers) clearInterval(t)
  await sleep(DRAIN_MS)
  return { lat: lat.subarray(0, n).sort(), sent, received }
}

const pct = (sorted, p) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]

async function measure(name) {
  const b = await startBroker(SCRIPT, name, PORTS[name])
  await sleep(SETTLE_MS)
  const before = rssKiB(b.pid)
  // CPU of both sides while connecting: on a small machine this process can be the limit
  const cpu0 = [cpuSeconds(process.pid), cpuSeconds(b.pid)]
  const opened = await openMany(o.count, o.concurrency, (i) => openClient(b.port, `idle-${i}`)).catch(
    async (e) => {
      await stopBroker(b)
      throw e
    },
  )
  const { sockets, ms } = opened
  const cpu = [cpuSeconds(process.pid) - cpu0[0], cpuSeconds(b.pid) - cpu0[1]].map(
    (c) => (100 * c) / (ms / 1000),
  )
  await sleep(SETTLE_MS)
  const after = rssKiB(b.pid)
  const settled = await settledRssKiB(b.pid)
  const r = await active(sockets)
  await stopBroker(b)
  for (const s of sockets) s.destroy()
  const row = {
    name,
    connectMs: ms,
    cpu,
    before,
    after,
    settled,
    perConn: ((after - before) * 1024) / o.count,
    perConnSettled: ((settled - before) * 1024) / o.count,
    p50: pct(r.lat, 0.5),
    p99: pct(r.lat, 0.99),
    max: r.lat.length > 0 ? r.lat[r.lat.length - 1] : Number.NaN,
    samples: r.lat.length,
    sent: r.sent,
    lost: r.sent - r.received,
  }
  process.stderr.write(
    `  ${name}: ${fmtRate((o.count * 1000) / ms)} conn/s, ${(row.perConn / 1024).toFixed(2)} KiB/conn (settled ${(row.perConnSettled / 1024).toFixed(2)}), p50 ${row.p50.toFixed(2)} p99 ${row.p99.toFixed(2)} ms, lost ${row.lost}\n`,
  )
  return row
}

const rows = []
for (const name of available(SCRIPT, o.brokers)) {
  process.stderr.write(`${SCRIPT}: ${name}\n`)
  try {
    rows.push(await measure(name))
  } catch (e) {
    process.stderr.write(`${SCRIPT}: ${name} left out: ${e.message}\n`)
  }
}

const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a')
console.log(`\n${header()}`)
console.log(
  `${o.count.toLocaleString('en')} idle connections (CONNECT, clean session, keep-alive 0; ${o.concurrency} handshakes at a time); then ${ACTIVE} of them active (${o['active-pct']} %), each publishing ${o.rate} msg/s at QoS 0 (${PAYLOAD} B) to the next one's topic, latency over ${o.seconds} s after a ${WARMUP_MS / 1000} s warm-up\n`,
)
console.log(
  '| broker | connect s | connections/s | CPU while connecting: broker / this client | RSS before | RSS with connections, 2 s / settled (40 s idle) | per connection, 2 s / settled (target <= 3 KiB) | active msg/s | latency p50 / p99 / max ms (target p99 < 5) | lost |',
)
console.log('|---|---|---|---|---|---|---|---|---|---|')
for (const r of rows)
  console.log(
    `| ${r.name} | ${f2(r.connectMs / 1000)} | ${fmtRate((o.count * 1000) / r.connectMs)} | ${r.cpu.map((c) => `${Math.round(c)} %`).join(' / ')} | ${mib(r.before)} | ${mib(r.after)} / ${mib(r.settled)} | ${(r.perConn / 1024).toFixed(2)} / ${(r.perConnSettled / 1024).toFixed(2)} KiB | ${fmtRate(ACTIVE * o.rate)} | ${f2(r.p50)} / ${f2(r.p99)} / ${f2(r.max)} | ${r.lost} of ${r.sent} |`,
  )
