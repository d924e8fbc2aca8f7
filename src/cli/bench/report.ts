import type { LatencySummary } from './histogram.js'
import type { BenchOptions, BenchResult, Progress } from './types.js'

function count(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function rate(n: number): string {
  if (n >= 10_000) return `${(n / 1000).toFixed(0)}k/s`
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k/s`
  return `${n.toFixed(0)}/s`
}

function ms(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-'
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)
}

/** The live line on a terminal: phase, counts and rates since the start. */
export function formatProgress(o: BenchOptions, p: Progress): string {
  const t = Math.max(p.elapsed, 0.001)
  if (p.phase === 'connecting' || (o.scenario === 'conn' && p.sent === 0)) {
    return `${o.scenario} ${p.phase}  ${count(p.connected)} connected  ${p.elapsed.toFixed(1)} s`
  }
  return (
    `${o.scenario} q${o.qos} ${p.phase}  sent ${count(p.sent)} (${rate(p.sent / t)})` +
    `  received ${count(p.received)} (${rate(p.received / t)})  ${p.elapsed.toFixed(1)} s`
  )
}

function table(header: string[], row: string[]): string {
  const widths = header.map((h, i) => Math.max(h.length, row[i]!.length))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`
  const rule = `|${widths.map((w) => `${'-'.repeat(w + 1)}:`).join('|')}|`
  return `${line(header)}\n${rule}\n${line(row)}\n`
}

function latencyCells(l: LatencySummary | null): string[] {
  return [ms(l?.p50), ms(l?.p95), ms(l?.p99)]
}

/** The result as a title line and a markdown table (it pastes into BENCHMARKS.md). */
export function formatTable(r: BenchResult): string {
  const version = r.protocolVersion === 5 ? 'MQTT 5' : r.protocolVersion === 3 ? 'MQTT 3.1' : 'MQTT 3.1.1'
  const topics = r.topics > 1 ? `, ${count(r.topics)} topics per publisher` : ''
  const title = `petrel bench ${r.scenario}: ${r.shape}${topics}${r.retain ? ', retained' : ''}, ${r.broker}, ${version}`
  if (r.scenario === 'conn') {
    const messages = r.publishers > 0 ? `\n${messagesTable(r)}${messageNotes(r)}` : ''
    return `${title}\n\n${connTable(r)}${messages}`
  }
  return `${title}\n\n${messagesTable(r)}${messageNotes(r)}`
}

function connTable(r: BenchResult): string {
  const c = r.connections
  const body = table(
    ['connections', 'failed', 'conn/s', 'CONNACK p50 ms', 'CONNACK p99 ms', 'connect p99 ms', 'dropped'],
    [
      count(c.connected),
      count(c.failed),
      count(c.perSec),
      ms(c.connackMs?.p50),
      ms(c.connackMs?.p99),
      ms(c.connectMs?.p99),
      count(c.dropped),
    ],
  )
  const notes = [
    'CONNACK: from the CONNECT written to the CONNACK; connect: from opening the socket to the CONNACK',
  ]
  for (const f of c.failures) notes.push(`failed: ${count(f.count)} x ${f.reason}`)
  return `${body}${notes.join('\n')}\n`
}

function messagesTable(r: BenchResult): string {
  return table(
    ['qos', 'size', 'sent', 'received', 'msgs/s', 'p50 ms', 'p95 ms', 'p99 ms', 'lost', 'duplicated'],
    [
      String(r.qos),
      String(r.size),
      count(r.sent),
      count(r.received),
      count(r.msgsPerSec),
      ...latencyCells(r.latencyMs),
      count(r.lost),
      count(r.duplicated),
    ],
  )
}

function messageNotes(r: BenchResult): string {
  const c = r.connections
  const notes: string[] = [`${r.seconds.toFixed(2)} s, publishing at ${count(r.sentPerSec)} msgs/s`]
  if (r.outOfOrder > 0) notes.push(`${count(r.outOfOrder)} delivered out of order`)
  if (r.staleRetained > 0) {
    notes.push(
      `${count(r.staleRetained)} stale retained messages from an earlier run (not counted as received)`,
    )
  }
  const kept = r.retained
  if (kept !== undefined) {
    if (kept.cleared > 0) notes.push(`cleared ${count(kept.cleared)} retained messages under ${kept.prefix}/`)
    if (kept.left > 0) {
      notes.push(
        `left ${count(kept.left)} retained messages on the broker under ${kept.prefix}/ (the next --retain run replaces them; --clear-retained deletes them)`,
      )
    }
  }
  if (r.errors > 0) notes.push(`${count(r.errors)} publishes failed (first: ${r.firstError})`)
  if (c.dropped > 0 && r.scenario !== 'conn')
    notes.push(`${count(c.dropped)} connections dropped during the run`)
  return `${notes.join('\n')}\n`
}
