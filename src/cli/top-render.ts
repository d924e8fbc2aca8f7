/**
 * One frame of `petrel top` as lines of text, fit to the terminal: a header, the figures
 * in aligned columns and, in HTTP mode, the busiest clients. Pure: no terminal, no clock.
 */
import type { ClientRow, Figures, Num, SortKey } from './top-figures.js'
import { bytes, count, duration, elapsed, percent, perSecond } from './top-units.js'

export interface ClientTable {
  rows: ClientRow[]
  /** Clients the broker has in all (the page's total), null when unknown. */
  total: number | null
  sort: SortKey
  /** Why the table could not be read this time (the figures may still be fresh). */
  error: string | null
}

export interface Frame {
  /** Where the figures come from: `http://127.0.0.1:8080` or `mqtt://host:1883 $SYS`. */
  source: string
  figures: Figures
  /** What the rates are averaged over, e.g. '1 min average'; null: nothing said. */
  rateWindow: string | null
  /** A line about the source (lost connection, waiting for data), or null. */
  status: string | null
  /** HTTP mode: the clients table; null in $SYS mode. */
  clients: ClientTable | null
  /** The time shown in the header. */
  now: Date
}

export interface Size {
  width: number
  height: number
}

/** A cell of the figures grid: a name and its value, or null when the source does not give it. */
type Cell = [name: string, value: string | null]
/** A row: its label and cells; `always` rows show unknown values as '-' rather than leaving them out. */
interface Row {
  label: string
  cells: Cell[]
  always?: boolean
  /** Said after the row's first line, e.g. what its rates are averaged over. */
  note?: string
}

const GAP = '   '
const NONE = '-'

function f(v: Num, fmt: (n: number) => string): string | null {
  return v === null ? null : fmt(v)
}

const msgRate = (n: number): string => `${perSecond(n).replace(/\/s$/, '')} msg/s`
const byteRate = (n: number): string => `${bytes(n)}/s`

/** The rows of the figures grid. */
function figureRows(x: Figures, rateWindow: string | null): Row[] {
  const c = x.connections
  const s = x.sessions
  const r = x.rates
  const t = x.totals
  const m = x.memory
  return [
    {
      label: 'Clients',
      cells: [
        ['connected', f(c.current, count)],
        ['maximum', f(c.maximum, count)],
        ['accepted', f(c.accepted, count)],
        ['refused', f(c.refused, count)],
        ['new', f(r.connections, perSecond)],
      ],
    },
    {
      label: 'Sessions',
      cells: [
        ['total', f(s.current, count)],
        ['persistent', f(s.persistent, count)],
        ['offline', f(s.disconnected, count)],
        ['expired', f(s.expired, count)],
      ],
    },
    {
      label: 'Rates',
      always: true,
      ...(rateWindow === null ? {} : { note: `(${rateWindow})` }),
      cells: [
        ['in', f(r.messagesIn, msgRate)],
        ['out', f(r.messagesOut, msgRate)],
        ['dropped', f(r.dropped, msgRate)],
      ],
    },
    {
      label: '',
      always: true,
      cells: [
        ['in', f(r.bytesIn, byteRate)],
        ['out', f(r.bytesOut, byteRate)],
      ],
    },
    {
      label: 'Totals',
      cells: [
        ['in', f(t.messagesIn, (n) => `${count(n)} msgs`)],
        ['out', f(t.messagesOut, (n) => `${count(n)} msgs`)],
        ['dropped', f(t.dropped, count)],
      ],
    },
    {
      label: '',
      cells: [
        ['in', f(t.bytesIn, bytes)],
        ['out', f(t.bytesOut, bytes)],
      ],
    },
    {
      label: 'Routing',
      cells: [
        ['subscriptions', f(x.subscriptions, count)],
        ['shared', f(x.sharedSubscriptions, count)],
        ['retained', f(x.retained, count)],
      ],
    },
    {
      label: 'Delivery',
      cells: [
        ['inflight', f(x.inflight, count)],
        ['queued', f(x.queued, count)],
        ['stored', f(x.stored.messages, count)],
        ['stored bytes', f(x.stored.bytes, bytes)],
      ],
    },
    {
      label: 'Store',
      cells: [
        ['commit p99', f(x.store.commitP99Seconds, duration)],
        ['size', f(x.store.sizeBytes, bytes)],
      ],
    },
    {
      label: 'Process',
      cells: [
        ['heap', f(m.heapUsedBytes, bytes)],
        ['heap max', f(m.heapMaxBytes, bytes)],
        ['rss', f(m.rssBytes, bytes)],
        ['loop p99', f(x.eventLoop.delayP99Seconds, duration)],
        ['loop busy', f(x.eventLoop.utilization, percent)],
      ],
    },
  ]
}

/** Fits text to `width` columns, marking a cut with '…'. */
export function clip(text: string, width: number): string {
  if (width <= 0) return ''
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`
}

/**
 * The figures grid: in each column the names left-aligned and the values right-aligned.
 * A row with more cells than fit in `width` continues on the next line, under the same columns.
 */
export function renderGrid(rows: Row[], width: number): string[] {
  type Line = { label: string; cells: [string, string][]; note: string }
  const shown: Line[] = []
  for (const row of rows) {
    const cells = row.always
      ? row.cells.map(([n, v]): [string, string] => [n, v ?? NONE])
      : row.cells.filter((c): c is [string, string] => c[1] !== null)
    if (cells.length > 0) shown.push({ label: row.label, cells, note: row.note ?? '' })
  }
  if (shown.length === 0) return []
  const labelWidth = Math.max(...shown.map((r) => r.label.length))
  const most = Math.max(...shown.map((r) => r.cells.length))
  for (let perLine = most; perLine >= 1; perLine--) {
    const lines = shown.flatMap((r) => {
      const out: Line[] = []
      for (let i = 0; i < r.cells.length; i += perLine) {
        const first = i === 0
        out.push({
          label: first ? r.label : '',
          cells: r.cells.slice(i, i + perLine),
          note: first ? r.note : '',
        })
      }
      return out
    })
    const nameW: number[] = []
    const valueW: number[] = []
    for (const l of lines) {
      l.cells.forEach(([n, v], i) => {
        nameW[i] = Math.max(nameW[i] ?? 0, n.length)
        valueW[i] = Math.max(valueW[i] ?? 0, v.length)
      })
    }
    const text = lines.map((l) => {
      const cells = l.cells.map(([n, v], i) => `${n.padEnd(nameW[i]!)} ${v.padStart(valueW[i]!)}`)
      return `${l.label.padEnd(labelWidth)}${GAP}${cells.join(GAP)}`.trimEnd()
    })
    if (perLine === 1 || text.every((t) => t.length <= width)) {
      // A note goes where it fits; it is never worth a column.
      return text.map((t, i) => {
        const note = lines[i]!.note
        return clip(
          note !== '' && t.length + GAP.length + note.length <= width ? `${t}${GAP}${note}` : t,
          width,
        )
      })
    }
  }
  return []
}

/** A column of the clients table, in the order shown; `rank` says which go first when the terminal is narrow. */
interface Column {
  title: string
  key: SortKey | null
  rank: number
  right: boolean
  value: (c: ClientRow, now: Date) => string
}

const n = (v: Num, fmt: (x: number) => string): string => (v === null ? NONE : fmt(v))

const COLUMNS: Column[] = [
  { title: 'MSGS IN', key: 'messagesIn', rank: 1, right: true, value: (c) => n(c.messagesIn, count) },
  { title: 'MSGS OUT', key: 'messagesOut', rank: 2, right: true, value: (c) => n(c.messagesOut, count) },
  { title: 'BYTES IN', key: 'bytesIn', rank: 3, right: true, value: (c) => n(c.bytesIn, bytes) },
  { title: 'BYTES OUT', key: 'bytesOut', rank: 4, right: true, value: (c) => n(c.bytesOut, bytes) },
  { title: 'QUEUED', key: 'queued', rank: 5, right: true, value: (c) => n(c.queued, count) },
  { title: 'INFLIGHT', key: 'inflight', rank: 6, right: true, value: (c) => n(c.inflight, count) },
  { title: 'SUBS', key: null, rank: 7, right: true, value: (c) => n(c.subscriptions, count) },
  { title: 'V', key: null, rank: 9, right: true, value: (c) => versionName(c.protocolVersion) },
  { title: 'ADDRESS', key: null, rank: 8, right: false, value: (c) => c.address ?? 'offline' },
  { title: 'SINCE', key: null, rank: 10, right: true, value: since },
]

function versionName(v: Num): string {
  return v === 3 ? '3.1' : v === 4 ? '3.1.1' : v === 5 ? '5' : NONE
}

function since(c: ClientRow, now: Date): string {
  if (c.connectedSince === null) return NONE
  const t = Date.parse(c.connectedSince)
  return Number.isNaN(t) ? NONE : elapsed((now.getTime() - t) / 1000)
}

/** The narrowest the client id column gets before other columns are left out. */
const MIN_ID_WIDTH = 12

/** The clients table: the id first (as wide as the terminal allows), then what fits, the sort column always. */
export function renderClients(table: ClientTable, width: number, now: Date): string[] {
  const sortCol = COLUMNS.find((c) => c.key === table.sort)
  const title = `Clients by ${sortCol?.title.toLowerCase() ?? table.sort}${
    table.total === null ? '' : ` (top ${table.rows.length} of ${count(table.total)})`
  }`
  const out = [clip(title, width)]
  if (table.error !== null) out.push(clip(`  ${table.error}`, width))
  if (table.rows.length === 0) {
    if (table.error === null) out.push('  (none)')
    return out
  }
  const cells = COLUMNS.map((col) => table.rows.map((r) => col.value(r, now)))
  const widths = COLUMNS.map((col, i) =>
    Math.max(col.title.length + (col.key === table.sort ? 1 : 0), ...cells[i]!.map((v) => v.length)),
  )
  // Columns in order of importance, the sort column first, while they leave the id its minimum.
  const byRank = COLUMNS.map((_, i) => i).sort((a, b) => {
    const sa = COLUMNS[a]!.key === table.sort ? 0 : COLUMNS[a]!.rank
    const sb = COLUMNS[b]!.key === table.sort ? 0 : COLUMNS[b]!.rank
    return sa - sb
  })
  const keep = new Set<number>()
  let used = 0
  for (const i of byRank) {
    const w = widths[i]! + 2
    if (used + w + MIN_ID_WIDTH > width && keep.size > 0) continue
    keep.add(i)
    used += w
  }
  const longestId = Math.max(9, ...table.rows.map((r) => r.clientId.length))
  const idWidth = Math.max(Math.min(longestId, width - used), Math.min(MIN_ID_WIDTH, width))
  const line = (id: string, values: (i: number) => string, titles: boolean): string => {
    const parts = [clip(id, idWidth).padEnd(idWidth)]
    COLUMNS.forEach((col, i) => {
      if (!keep.has(i)) return
      const v = titles && col.key === table.sort ? `${col.title}↓` : values(i)
      parts.push(col.right ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))
    })
    return clip(parts.join('  ').trimEnd(), width)
  }
  out.push(line('CLIENT ID', (i) => COLUMNS[i]!.title, true))
  table.rows.forEach((r, row) => {
    out.push(line(r.clientId, (i) => cells[i]![row]!, false))
  })
  return out
}

/** The header: the source, the broker's version and uptime, and the time. */
function header(frame: Frame, width: number): string {
  const x = frame.figures
  const parts = [`petrel top  ${frame.source}`]
  if (x.version !== null) parts.push(x.version)
  if (x.uptimeSeconds !== null) parts.push(`up ${elapsed(x.uptimeSeconds)}`)
  parts.push(frame.now.toTimeString().slice(0, 8))
  return clip(parts.join('  ·  '), width)
}

/** A whole frame, at most `size.height` lines of at most `size.width` columns. */
export function renderFrame(frame: Frame, size: Size): string[] {
  const width = Math.max(20, size.width)
  const lines = [header(frame, width)]
  if (frame.status !== null) lines.push(clip(frame.status, width))
  lines.push('')
  lines.push(...renderGrid(figureRows(frame.figures, frame.rateWindow), width))
  if (frame.clients !== null) {
    lines.push('')
    lines.push(...renderClients(frame.clients, width, frame.now))
  }
  return lines.slice(0, Math.max(1, size.height))
}

/** How many clients fit under the figures of a frame on a screen of `height` lines. */
export function clientRowsFit(frame: Frame, size: Size): number {
  const withoutTable = renderFrame({ ...frame, clients: null }, { width: size.width, height: 10_000 })
  // A blank line, the table's title and its column titles.
  return Math.max(1, size.height - withoutTable.length - 3)
}
