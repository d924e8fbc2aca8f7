// The markdown tables of bench/run.mjs (the ones in BENCHMARKS.md): medians over the rounds,
// one table per mode, with the ratios and the targets of the performance issue.
import { execFileSync } from 'node:child_process'
import { cpus } from 'node:os'

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
const ms = (us) => (Number.isFinite(us) ? (us / 1000).toFixed(us < 1000 ? 2 : 1) : 'n/a')
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a')
const fixed = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a')

const TITLES = {
  default: 'Loadgen default mode (clean sessions, in memory)',
  coalesce: 'Loadgen --coalesce-us 200 (clean sessions, in memory)',
  durable:
    'Durable: QoS 1, persistent sessions (clean session 0), default loadgen mode; petrel-sqlite = SQLite store, synchronous=NORMAL',
  topics:
    'Topics: QoS 0 over 1 and 100,000 topics per publisher (loadgen --topics); msg/s, then each broker’s RSS after the run',
  tail: 'Latency at a fixed rate (one2one, loadgen --rate), p50 / p99 ms; "only": the rate the broker delivered',
  window:
    'QoS 1/2 with the same in-flight window: petrel-w = Petrel with maxInflight 65535, the window the benchmark gives Mosquitto (max_inflight_messages 0: none); petrel = its default of 100',
  'durable-window':
    'Durable with the same in-flight window: petrel-w and petrel-sqlite-w = Petrel (memory, SQLite) with maxInflight 65535, as the benchmark’s Mosquitto (max_inflight_messages 0)',
  large: 'Large payloads: 1 MiB (1,048,576 bytes), one2one QoS 1; MB/s = delivered msg/s × size / 10^6',
}
const NO_QOS2 =
  'n/a: nats-server has no MQTT QoS 2 (it drops the connection of a client that publishes at QoS 2), so it is not run there.'

function scenario(sc) {
  return sc === 'fanin'
    ? 'fanin (20:1)'
    : sc === 'fanout'
      ? 'fanout (1:20)'
      : sc === 'mesh'
        ? 'mesh (20)'
        : sc
}

/** A row in the progress lines on stderr. */
export function rowLabel(r) {
  const more = r.topics
    ? ` topics=${r.topics}`
    : r.rate
      ? ` @${r.rate}/s`
      : r.size !== 64
        ? ` ${r.size}B`
        : ''
  return `${r.sc} q${r.qos}${more}`
}

export function printHeader(o, root) {
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  let commit = 'unknown'
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim()
  } catch {}
  const lg = o.lgArgs.length ? ` loadgen ${o.lgArgs.join(' ')} in the default and coalesce modes;` : ''
  console.log(
    `\nMachine: ${cpus().length} cores, ${cpu}; Node ${process.version}; commit ${commit}; 64-byte payloads unless said; medians of ${o.rounds} rounds;${o.scale !== 1 ? ` ${o.scale}x the messages per run;` : ''}${o.pin ? ' brokers pinned to CPU 1, loadgen to CPU 0;' : ''}${lg} msg/s = messages delivered per second\n`,
  )
}

/** Medians of one row's results per broker: rate, p50, p99, rss, and the lost messages summed. */
function cellsOf(p, results, i) {
  const cells = {}
  for (const n of p.brokers) {
    const rs = results.filter((r) => r.mode === p.mode && r.row === i && r.name === n)
    const med = (f) => median(rs.map((r) => r[f]))
    const lost = rs.reduce((a, r) => a + (r.lost > 0 ? r.lost : 0), 0)
    cells[n] = {
      rate: med('rate'),
      p50: med('p50'),
      p99: med('p99'),
      rss: med('rss'),
      lost,
      ran: rs.length > 0,
    }
  }
  return cells
}

const lostCol = (p, cells) => p.brokers.map((n) => (cells[n].ran ? cells[n].lost : '-')).join(' / ')

function table(title, heads, lines, notes = []) {
  console.log(`### ${title}\n`)
  console.log(`| ${heads.join(' | ')} |`)
  console.log(`|${heads.map(() => '---|').join('')}`)
  for (const l of lines) console.log(`| ${l.join(' | ')} |`)
  for (const n of notes) console.log(`\n${n}`)
  console.log('')
}

/** default, coalesce, durable: msg/s per broker, the subject against each other broker, targets. */
function throughput(p, results) {
  const names = p.brokers
  // Ratios: the subject against each 3.1.1 broker; at MQTT 5, petrel@5 against petrel (the
  // "within 10 %" check) and against mosquitto@5.
  const pairs = names
    .filter((n) => n !== p.subject && !n.endsWith('@5') && n !== 'petrel-http')
    .map((n) => [p.subject, n])
    .filter(() => names.includes(p.subject))
  // the HTTP endpoint's cost: petrel-http against petrel (the "within 2 %" check)
  if (names.includes('petrel-http') && names.includes('petrel')) pairs.push(['petrel-http', 'petrel'])
  if (names.includes('petrel@5')) {
    pairs.push(['petrel@5', 'petrel'])
    if (names.includes('mosquitto@5')) pairs.push(['petrel@5', 'mosquitto@5'])
  }
  const target = p.mode !== 'durable' && p.mode !== 'durable-window'
  const heads = ['scenario', 'QoS', ...names, ...pairs.map(([a, b]) => `${a}/${b}`)]
  heads.push(...(target ? ['target'] : []), 'lost (sum)')
  const lines = p.rows.map((r, i) => {
    const c = cellsOf(p, results, i)
    const ratios = pairs.map(([a, b]) => ratio(c[a].rate, c[b].rate))
    const t = target ? [k(r.target)] : []
    return [scenario(r.sc), r.qos, ...names.map((n) => k(c[n].rate)), ...ratios, ...t, lostCol(p, c)]
  })
  const skipped = p.rows.some((r) => r.skip.some((n) => names.includes(n)))
  table(TITLES[p.mode], heads, lines, skipped ? [NO_QOS2] : [])
}

/** topics: msg/s per broker at 1 and K topics, petrel at K against petrel at 1 and against nats, RSS. */
function topics(p, results) {
  const names = p.brokers
  const petrel = names.includes('petrel')
  const nats = petrel && names.includes('nats')
  const heads = ['scenario', 'topics', ...names]
  if (petrel) heads.push('petrel vs topics 1 (target ≥ 70 %)')
  if (nats) heads.push('petrel/nats')
  heads.push(...names.map((n) => `${n} RSS MB`), 'lost (sum)')
  const all = p.rows.map((_, i) => cellsOf(p, results, i))
  const lines = p.rows.map((r, i) => {
    const c = all[i]
    const line = [scenario(r.sc), r.topics.toLocaleString('en'), ...names.map((n) => k(c[n].rate))]
    if (petrel) {
      const one = p.rows.findIndex((x) => x.sc === r.sc && x.topics === 1)
      const pct = one >= 0 ? (100 * c.petrel.rate) / all[one].petrel.rate : Number.NaN
      line.push(r.topics === 1 ? '—' : Number.isFinite(pct) ? `${Math.round(pct)} %` : 'n/a')
    }
    if (nats) line.push(ratio(c.petrel.rate, c.nats.rate))
    line.push(...names.map((n) => fixed(c[n].rss, 0)), lostCol(p, c))
    return line
  })
  table(TITLES.topics, heads, lines)
}

/** tail: p50 / p99 per broker at each fixed rate, and whether Petrel's p99 is at most Mosquitto's. */
function tail(p, results) {
  const names = p.brokers
  const check = names.includes('petrel') && names.includes('mosquitto')
  const heads = ['msg/s', 'QoS', ...names, ...(check ? ['petrel p99 ≤ mosquitto p99?'] : []), 'lost (sum)']
  const lines = p.rows.map((r, i) => {
    const c = cellsOf(p, results, i)
    // a broker that cannot keep up with the rate queues: its p99 is then mostly that queue
    const held = (n) => (c[n].rate < 0.95 * r.rate ? ` (only ${k(c[n].rate)} msg/s)` : '')
    const cell = (n) => `${ms(c[n].p50)} / ${ms(c[n].p99)}${held(n)}`
    const line = [r.rate.toLocaleString('en'), r.qos, ...names.map(cell)]
    if (check) {
      const [a, b] = [c.petrel.p99, c.mosquitto.p99]
      line.push(Number.isFinite(a) && Number.isFinite(b) ? (a <= b ? 'yes' : 'no') : 'n/a')
    }
    return [...line, lostCol(p, c)]
  })
  table(TITLES.tail, heads, lines)
}

/** large: MB/s per broker, petrel against mosquitto (target 2x) and nats. */
function large(p, results) {
  const names = p.brokers
  const pairs = ['mosquitto', 'nats'].filter((n) => names.includes(n) && names.includes('petrel'))
  const heads = ['payload', 'QoS', ...names]
  heads.push(...pairs.map((n) => `petrel/${n}${n === 'mosquitto' ? ' (target ≥ 2x)' : ''}`), 'lost (sum)')
  const lines = p.rows.map((r, i) => {
    const c = cellsOf(p, results, i)
    const mbs = (n) => (c[n].rate * r.size) / 1e6
    const line = [`${r.size / 1_048_576} MiB`, r.qos, ...names.map((n) => fixed(mbs(n), 0))]
    return [...line, ...pairs.map((n) => ratio(mbs('petrel'), mbs(n))), lostCol(p, c)]
  })
  table(TITLES.large, heads, lines)
}

/** p: a mode's plan (bench/run.mjs); results: every measured run, { mode, row, name, rate, ... }. */
export function printMode(p, results) {
  if (p.rows.length === 0) return
  const print = { topics, tail, large }[p.mode] ?? throughput
  print(p, results)
}
