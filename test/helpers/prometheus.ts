/**
 * /metrics output checked by the Prometheus project's own tools, not by string matching:
 *
 *   const skip = prometheusParserSkip()            // false, or why the suite is skipped
 *   const families = await parseMetrics(text)      // prometheus_client.parser, as JSON
 *   sample(families, 'petrel_messages_received_total', { qos: '1', protocol: '5.0' })
 *   const problems = await lintMetrics(text)       // `promtool check metrics`
 *
 * The parser is Debian's python3-prometheus-client, run with /usr/bin/python3 (a pyenv python
 * earlier on PATH would not have it); the linter is Debian's promtool (package prometheus).
 * Locally a missing tool skips with the reason shown; under CI=true it throws (.ci/run installs both).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import type { HttpEndpoint } from '../../src/http/server.js'
import { findBinary, inCI, runTool } from './mosquitto.js'

const PYTHON = '/usr/bin/python3'

/** One sample: `name{labels} value`, value as Python's float (Infinity, NaN as such). */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** One metric family as the parser sees it (a counter's name without `_total`). */
export interface Family {
  name: string
  type: string
  help: string
  samples: Sample[]
}

let parserThere: boolean | null = null

function hasParser(): boolean {
  parserThere ??=
    spawnSync(PYTHON, ['-c', 'import prometheus_client.parser'], { stdio: 'ignore', timeout: 10_000 })
      .status === 0
  return parserThere
}

function skipReason(ok: boolean, reason: string): string | false {
  if (ok) return false
  if (inCI()) throw new Error(`${reason}; CI=true, so the /metrics format tests must not be skipped`)
  return reason
}

/** For node:test's `skip`: false when the Prometheus text parser can run, else why not. Throws in CI. */
export function prometheusParserSkip(): string | false {
  return skipReason(
    hasParser(),
    `${PYTHON} cannot import prometheus_client.parser (Debian: apt-get install python3-prometheus-client)`,
  )
}

/** For node:test's `skip`: false when promtool is installed, else why not. Throws in CI. */
export function promtoolSkip(): string | false {
  return skipReason(
    findBinary('promtool') !== null,
    'promtool not found (Debian: apt-get install prometheus)',
  )
}

// Reads the exposition text on stdin; non-finite values travel as strings (JSON has no Infinity).
const PARSE = `
import json, math, sys
from prometheus_client.parser import text_string_to_metric_families
def num(v):
    return v if math.isfinite(v) else str(v)
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": num(s.value)} for s in f.samples]})
json.dump(out, sys.stdout)
`

/** Parses Prometheus text format with prometheus_client.parser; rejects when it does not parse. */
export async function parseMetrics(text: string): Promise<Family[]> {
  const r = await runTool(PYTHON, ['-c', PARSE], { input: text, timeoutMs: 20_000 })
  const families = JSON.parse(r.stdout) as (Omit<Family, 'samples'> & {
    samples: (Omit<Sample, 'value'> & { value: number | string })[]
  })[]
  return families.map((f) => ({
    ...f,
    samples: f.samples.map((s) => ({ ...s, value: typeof s.value === 'number' ? s.value : Number(s.value) })),
  }))
}

/** The problems `promtool check metrics` reports, one per line; [] when none. */
export async function lintMetrics(text: string): Promise<string[]> {
  const bin = findBinary('promtool')
  if (bin === null) throw new Error('promtool is not installed (see promtoolSkip)')
  const r = await runTool(bin, ['check', 'metrics'], { input: text, allowFailure: true, timeoutMs: 20_000 })
  return `${r.stdout}\n${r.stderr}`
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
}

/** GET /metrics: its text, after checking the status and Prometheus's content type. */
export async function scrape(http: HttpEndpoint, headers: Record<string, string> = {}): Promise<string> {
  const r = await fetch(`${http.url}/metrics`, { headers })
  assert.equal(r.status, 200)
  assert.equal(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  return r.text()
}

/** GET /metrics, parsed. */
export async function scrapeParsed(http: HttpEndpoint): Promise<Family[]> {
  return parseMetrics(await scrape(http))
}

/** The family called `name` (a counter by its name without `_total`, as the parser names it). */
export function family(families: readonly Family[], name: string): Family {
  const f = families.find((x) => x.name === name || `${x.name}_total` === name)
  if (f === undefined) throw new Error(`no metric family ${name} in /metrics`)
  return f
}

/** The value of the sample called `name` with exactly these labels; throws when there is none. */
export function sample(
  families: readonly Family[],
  name: string,
  labels: Record<string, string> = {},
): number {
  for (const f of families) {
    for (const s of f.samples) {
      if (s.name === name && sameLabels(s.labels, labels)) return s.value
    }
  }
  throw new Error(`no sample ${name}${JSON.stringify(labels)} in /metrics`)
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a)
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k])
}
