// Petrel dashboard: the charts (uPlot, loaded before this module as a global), their data for the
// last hour, filled from /api/v1/history and then one point a second from the stream.
import { api } from './api.js'
import { bytes, count, el, seconds } from './format.js'

const HOUR = 3600

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()
/** Steps of a bytes axis: 1, 2, 5 ... times a power of 1024, so its labels are round. */
const BINARY_STEPS = [1, 1024, 1024 ** 2, 1024 ** 3].flatMap((u) =>
  [1, 2, 5, 10, 20, 50, 100, 200, 500].map((m) => m * u),
)
// floor: the least the y axis shows, so an idle broker's chart is not scaled to noise
export const CHARTS = [
  {
    id: 'c-messages',
    floor: 10,
    fmt: count,
    series: [
      ['messagesIn', 'in', '--in'],
      ['messagesOut', 'out', '--out'],
    ],
  },
  {
    id: 'c-bytes',
    floor: 1024,
    incrs: BINARY_STEPS,
    fmt: bytes,
    series: [
      ['bytesIn', 'in', '--in'],
      ['bytesOut', 'out', '--out'],
    ],
  },
  { id: 'c-connections', floor: 10, fmt: count, series: [['connections', 'connected', '--accent']] },
  { id: 'c-dropped', floor: 10, fmt: count, series: [['dropped', 'dropped', '--bad']] },
  { id: 'c-commit', floor: 0.001, fmt: seconds, series: [['commitP99Seconds', 'p99', '--violet']] },
  { id: 'c-loop', floor: 0.01, fmt: seconds, series: [['eventLoopDelayP99Seconds', 'p99', '--warn']] },
  // the cluster section's, drawn while it is hidden too (a single node: no points)
  {
    id: 'c-cluster-messages',
    floor: 10,
    fmt: count,
    series: [
      ['clusterForwarded', 'forwarded', '--in'],
      ['clusterReceived', 'received', '--out'],
    ],
  },
  { id: 'c-cluster-lag', floor: 10, fmt: count, series: [['clusterStreamMessages', 'lag', '--violet']] },
]
const CHART_HEIGHT = 170
/** '#rrggbb' with an alpha, as canvas takes it. */
function alpha(hex, a) {
  const n = Number.parseInt(hex.slice(1), 16)
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`
}
/** Time axis labels: hh:mm over a long span, hh:mm:ss over a short one. */
function timeTicks(u, ticks) {
  const span = u.scales.x.max - u.scales.x.min
  const opts = span > 600 ? { hour: '2-digit', minute: '2-digit', hour12: false } : { hour12: false }
  return ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], opts))
}
/** One array of unix seconds, and one per series, shared by the charts. */
export const data = { time: [], series: {} }
export const plots = []

function makeChart(def) {
  const fig = document.getElementById(def.id)
  const box = fig.querySelector('.plot')
  box.replaceChildren()
  const keys = fig.querySelector('.keys')
  keys.replaceChildren()
  const values = def.series.map(([, label, color]) => {
    const swatch = el('i')
    swatch.style.background = css(color)
    const value = el('b', null, '–')
    keys.append(el('span', { className: 'key' }, swatch, `${label} `, value))
    return value
  })
  const axis = {
    stroke: css('--muted'),
    font: '11px system-ui, sans-serif',
    grid: { stroke: css('--line'), width: 1 },
    ticks: { show: false },
  }
  const p = { def, box, values, plot: null }
  const opts = {
    width: Math.max(200, box.clientWidth),
    height: CHART_HEIGHT,
    cursor: { drag: { x: false, y: false }, points: { size: 6 } },
    legend: { show: false },
    padding: [8, 12, 0, 0],
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(def.floor, max * 1.15)] } },
    axes: [
      { ...axis, space: 80, values: timeTicks },
      {
        ...axis,
        size: 64,
        space: 36,
        ...(def.incrs ? { incrs: def.incrs } : {}),
        values: (_u, ticks) => ticks.map((t) => def.fmt(t)),
      },
    ],
    series: [
      {},
      ...def.series.map(([, label, color]) => ({
        label,
        stroke: css(color),
        width: 1.6,
        fill: alpha(css(color), 0.1),
        points: { show: false },
      })),
    ],
    hooks: { setCursor: [(u) => showKeys(p, u.cursor.idx)] },
  }
  p.plot = new uPlot(opts, chartData(def), box)
  plots.push(p)
}

/** The figures beside a chart's title: at the cursor, or the latest. */
function showKeys(p, idx) {
  const i = idx ?? data.time.length - 1
  p.def.series.forEach(([key], n) => {
    const v = data.series[key]?.[i]
    p.values[n].textContent = v == null ? '–' : p.def.fmt(v)
  })
}

const chartData = (def) => [data.time, ...def.series.map(([key]) => data.series[key])]

export function drawCharts() {
  for (const p of plots) {
    p.plot.setData(chartData(p.def))
    if (p.plot.cursor.idx == null) showKeys(p, null)
  }
}

export function buildCharts() {
  for (const p of plots.splice(0)) p.plot.destroy()
  for (const def of CHARTS) makeChart(def)
}

const resizes = new ResizeObserver(() => {
  for (const p of plots)
    if (p.box.clientWidth > 0) p.plot.setSize({ width: p.box.clientWidth, height: CHART_HEIGHT })
})
resizes.observe(document.querySelector('.charts'))
// the cluster section: its charts were made while hidden, and take their width when it shows
resizes.observe(document.getElementById('cluster'))
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', buildCharts)

export async function loadHistory() {
  const h = await api('/api/v1/history')
  data.time = h.time
  for (const key of Object.keys(h.series)) data.series[key] = h.series[key]
  drawCharts()
}

/** The stream's overview as one more point on every chart (an hour kept). */
export function addPoint(o) {
  const t = Math.round(o.time / 1000)
  if (data.time.length > 0 && t <= data.time[data.time.length - 1]) return
  const point = {
    ...o.rates,
    connections: o.connections.current,
    commitP99Seconds: o.store.commitP99Seconds,
    eventLoopDelayP99Seconds: o.eventLoop.delayP99Seconds,
    clusterForwarded: o.cluster?.rates.forwarded ?? null,
    clusterReceived: o.cluster?.rates.received ?? null,
    clusterStreamMessages: o.cluster?.stream?.messages ?? null,
  }
  data.time.push(t)
  for (const key of Object.keys(data.series)) data.series[key].push(point[key] ?? null)
  if (data.time.length > HOUR) {
    data.time.shift()
    for (const key of Object.keys(data.series)) data.series[key].shift()
  }
  drawCharts()
}
