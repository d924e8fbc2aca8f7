#!/usr/bin/env node
import {
  available,
  cpuSeconds,
  fail,
  fmtRate,
  header,
  loadgenPath,
  median,
  mib,
  needOpenFiles,
  options,
  portsFrom,
  rssKiB,
  runLoadgen,
  sleep,
  startBroker,
  stopBroker,
} from './peers.mjs'
// Many subscriptions that match nothing (the performance issue's target 4): C idle clients, each
// subscribed to F filters (exact, '+', '#', leading '+', two '+'), then the loadgen's fanin at
// QoS 0; against the same broker started fresh without them. Both alternate, medians of --rounds.
// None of the filters matches the fanin's topics bench/in/<i> unless --matching-pct asks for it.
//
//   npm run bench:subs                                   # 10,000 clients x 10 filters
//   npm run bench:subs -- --clients 500 --rounds 1 --port-base 19100
//
// File descriptors: this process holds one socket per client and the broker one more each, so
// 10,000 clients need `ulimit -n` above 10,000 for both (checked before starting).
import { openClient, openMany } from './raw-mqtt.mjs'

const SCRIPT = 'bench:subs'
const PUBS = 20
/** Sockets this process needs besides the clients' (loadgen pipes, probes, stdio). */
const FD_SPARE = 100
const o = options(SCRIPT, {
  clients: [10_000, 'idle subscribing clients'],
  filters: [10, 'filters per client, in one SUBSCRIBE'],
  count: [15_000, 'fanin messages per publisher (20 publishers, QoS 0)'],
  rounds: [3, 'rounds; each runs every broker with and without the subscribers'],
  'matching-pct': [
    0,
    "percent of clients whose first filter is bench/in/<c % 20> (gets 1/20 of the fanin's messages)",
  ],
  brokers: [['petrel', 'mosquitto', 'nats', 'aedes'], 'brokers'],
  'port-base': [18920, 'first port; each broker takes two from here'],
  concurrency: [100, 'CONNECT + SUBSCRIBE handshakes at a time'],
})
if (o.filters < 1) fail(SCRIPT, '--filters must be at least 1')
if (o.rounds < 1) fail(SCRIPT, '--rounds must be at least 1')
if (o['matching-pct'] > 100) fail(SCRIPT, '--matching-pct is a percentage, 0 to 100')
needOpenFiles(SCRIPT, '--clients', o.clients, FD_SPARE)
const PORTS = portsFrom(o['port-base'])

/**
 * Client c's filter j, by kind j % 5: exact, one '+' inside, a trailing '#', a leading '+',
 * two '+'. The first levels are never 'bench', and the leading '+' ones have three levels
 * with a number second, so none matches bench/in/<i>.
 */
function filter(c, j) {
  switch (j % 5) {
    case 0:
      return `dev/${c}/${j}`
    case 1:
      return `dev/${c}/+/x${j}`
    case 2:
      return `fleet/${c % 100}/${j}/#`
    case 3:
      return `+/${c}/s${j}`
    default:
      return `site/+/${c}/+/t${j}`
  }
}

const matchEvery = o['matching-pct'] > 0 ? Math.round(100 / o['matching-pct']) : 0
function filtersOf(c) {
  const fs = Array.from({ length: o.filters }, (_, j) => filter(c, j))
  if (matchEvery > 0 && c % matchEvery === 0) fs[0] = `bench/in/${c % PUBS}`
  return fs
}
const matching = matchEvery > 0 ? Math.ceil(o.clients / matchEvery) : 0

const fanin = (lg, port, count) =>
  runLoadgen(lg, port, [
    '--scenario',
    'fanin',
    '--pubs',
    String(PUBS),
    '--qos',
    '0',
    '--count',
    String(count),
    '--idle',
    '5',
    '--timeout',
    '120',
  ])

async function measure(lg, name, withSubs) {
  const b = await startBroker(SCRIPT, name, PORTS[name])
  let sockets = []
  let subscribeMs = Number.NaN
  let rss = Number.NaN
  let cpu = [Number.NaN, Number.NaN]
  let delivered = 0
  if (withSubs) {
    const onPacket = () => {
      delivered++
    }
    const cpu0 = [cpuSeconds(b.pid), cpuSeconds(process.pid)]
    const r = await openMany(o.clients, o.concurrency, (c) =>
      openClient(b.port, `subs-${c}`, { filters: filtersOf(c), onPacket }),
    ).catch(async (e) => {
      await stopBroker(b)
      throw e
    })
    sockets = r.sockets
    subscribeMs = r.ms
    cpu = [cpuSeconds(b.pid) - cpu0[0], cpuSeconds(process.pid) - cpu0[1]].map(
      (c) => (100 * c) / (r.ms / 1000),
    )
    await sleep(1000)
    rss = rssKiB(b.pid)
  }
  await fanin(lg, b.port, Math.max(1, Math.floor(o.count / 10))) // warm-up
  const r = await fanin(lg, b.port, o.count)
  await stopBroker(b)
  for (const s of sockets) s.destroy()
  const rate = r.json?.deliver_rate ?? Number.NaN
  process.stderr.write(
    `  ${name} ${withSubs ? 'with' : 'without'}: ${fmtRate(rate)} msg/s lost=${r.json?.lost ?? 'n/a'}${withSubs ? `, subscribed in ${(subscribeMs / 1000).toFixed(1)} s, ${delivered} to the matching clients` : ''}\n`,
  )
  return { name, withSubs, rate, lost: r.json?.lost ?? Number.NaN, subscribeMs, rss, cpu }
}

const lg = loadgenPath(SCRIPT)
const brokers = available(SCRIPT, o.brokers)
const results = []
for (let round = 1; round <= o.rounds; round++) {
  for (const name of brokers) {
    // alternate which of the two goes first from round to round
    const order = round % 2 ? [true, false] : [false, true]
    for (const withSubs of order) {
      process.stderr.write(`${SCRIPT}: round ${round}\n`)
      try {
        results.push(await measure(lg, name, withSubs))
      } catch (e) {
        process.stderr.write(`${SCRIPT}: ${name} left out of this round: ${e.message}\n`)
      }
    }
  }
}

console.log(`\n${header()}`)
console.log(
  `${o.clients.toLocaleString('en')} idle clients x ${o.filters} filters (exact, +, #, leading +, two +), then loadgen fanin (20 publishers x ${o.count.toLocaleString('en')}, QoS 0, 64 B); ${matching === 0 ? 'no filter matches the fanin topics' : `${matching} clients (${o['matching-pct']} %) have their first filter replaced by one publisher's topic bench/in/<c % 20>`}; medians of ${o.rounds} rounds, each broker fresh for every run\n`,
)
console.log(
  '| broker | subscribe time s (clients/s) | CPU while subscribing: broker / this client | RSS with subscribers | fanin without msg/s | fanin with msg/s | with/without (target >= 50 %) | lost with / without |',
)
console.log('|---|---|---|---|---|---|---|---|')
for (const name of brokers) {
  const w = results.filter((r) => r.name === name && r.withSubs)
  const wo = results.filter((r) => r.name === name && !r.withSubs)
  const sub = median(w.map((r) => r.subscribeMs))
  const mw = median(w.map((r) => r.rate))
  const mwo = median(wo.map((r) => r.rate))
  const sum = (rs) => rs.reduce((a, r) => a + (r.lost > 0 ? r.lost : 0), 0)
  console.log(
    `| ${name} | ${(sub / 1000).toFixed(1)} (${fmtRate((o.clients * 1000) / sub)}) | ${[0, 1].map((k) => `${Math.round(median(w.map((r) => r.cpu[k])))} %`).join(' / ')} | ${mib(median(w.map((r) => r.rss)))} | ${fmtRate(mwo)} | ${fmtRate(mw)} | ${Number.isFinite(mw / mwo) ? `${Math.round((100 * mw) / mwo)} %` : 'n/a'} | ${sum(w)} / ${sum(wo)} |`,
  )
}
