/**
 * `petrel top`: a broker's figures in the terminal, refreshed in place. From a petrel
 * broker's HTTP endpoint (--http-port: figures and the busiest clients) or from the $SYS
 * topics of any MQTT broker (-h/-p/-L, Mosquitto included).
 */
import { readFileSync } from 'node:fs'
import { ConfigError } from '../errors.js'
import { type FlagSpec, has, last, type ParsedArgs, parseIntIn } from './args.js'
import { CONNECTION_FLAGS, runTool, ToolError } from './client-flags.js'
import { endpointOf, TLS_FLAGS } from './endpoint.js'
import { SORT_KEYS, type SortKey } from './top-figures.js'
import { closeAgents, type HttpSource } from './top-http.js'
import { type HttpSettings, runHttp, runSys, type TopSettings } from './top-run.js'

/** The flags that only an MQTT connection uses (TLS flags serve both). */
const MQTT_ONLY = [
  'host',
  'port',
  'url',
  'username',
  'pw',
  'id',
  'id-prefix',
  'keepalive',
  'protocol-version',
]

/** The pub/sub connection flags that make sense for a subscriber that only reads $SYS. */
const SYS_FLAG_NAMES = new Set([...MQTT_ONLY, ...TLS_FLAGS.map((f) => f.name)])

const HTTP_FLAGS: FlagSpec[] = [
  {
    name: 'http-port',
    value: true,
    arg: 'port',
    help: "read the broker's HTTP endpoint on this port (petrel broker --http-port) instead of $SYS",
  },
  { name: 'http-host', value: true, arg: 'host', help: 'host of the HTTP endpoint (default 127.0.0.1)' },
  {
    name: 'http-token-file',
    value: true,
    arg: 'file',
    help: "file holding the endpoint's bearer token (petrel broker --http-token-file)",
  },
  { name: 'https', value: false, help: 'HTTPS to the endpoint (--cafile and the other TLS flags imply it)' },
  {
    name: 'sort',
    value: true,
    arg: 'key',
    help: `clients by ${SORT_KEYS.join(', ')} (default messagesIn; key s cycles)`,
  },
  {
    name: 'rows',
    value: true,
    arg: 'n',
    help: 'clients shown (default: as many as fit the terminal; 10 elsewhere)',
  },
]

/** The flags that only the HTTP endpoint uses. */
const HTTP_ONLY = ['http-host', 'http-token-file', 'https', 'sort', 'rows']

const FLAGS: FlagSpec[] = [
  ...HTTP_FLAGS,
  {
    name: 'interval',
    value: true,
    arg: 'seconds',
    help: 'seconds between frames (default 1 with --http-port; with $SYS, each time the broker publishes)',
  },
  { name: 'once', value: false, help: 'print one frame and exit (no screen control: for scripts)' },
  {
    name: 'timeout',
    short: 'W',
    value: true,
    arg: 'seconds',
    help: 'how long to wait for the first figures (default 15); then exit 27 (--once) or say so',
  },
  ...CONNECTION_FLAGS.filter((f) => SYS_FLAG_NAMES.has(f.name)),
  { name: 'quiet', value: false, help: 'print no error messages' },
  { name: 'help', value: false, help: 'show this help' },
]

const TITLE = `Usage: petrel top --http-port port [--http-host host] [options]
       petrel top [-h host] [-p port | -L URL] [options]

Shows a broker's figures, refreshed in place: uptime, clients, message and byte rates,
drops, subscriptions, retained messages, memory. With --http-port, from a petrel broker's
HTTP endpoint, with a table of its busiest clients. Otherwise from the $SYS/# topics of any
MQTT broker (Mosquitto: set sys_interval; petrel broker: --sys-interval).
Keys: q or Ctrl-C quits; s sorts the clients by the next key. Not on a terminal, frames
follow one another. Exit status: 0 done; 1 errors; 1-5 MQTT connection refused (the CONNACK
code); 27 no figures within --timeout (--once).`

const DEFAULT_TIMEOUT_S = 15
const DEFAULT_HTTP_INTERVAL_S = 1
const MAX_INTERVAL_S = 3600

/** `petrel top`. */
export function runTop(argv: string[]): Promise<number> {
  return runTool(argv, FLAGS, TITLE, top).finally(closeAgents)
}

async function top(args: ParsedArgs): Promise<number> {
  if (args.positionals.length > 0) throw new ToolError(`Error: Unexpected argument '${args.positionals[0]}'.`)
  const http = has(args, 'http-port')
  if (http) {
    for (const f of MQTT_ONLY) {
      if (has(args, f)) {
        throw new ToolError(
          `Error: --${f} is for reading $SYS over MQTT, but --http-port reads the HTTP endpoint; give one of them${f === 'host' ? ' (the endpoint host is --http-host)' : ''}.`,
        )
      }
    }
  } else {
    for (const f of HTTP_ONLY) {
      if (has(args, f))
        throw new ToolError(`Error: --${f} needs --http-port (it is about the HTTP endpoint).`)
    }
  }
  const settings: TopSettings = {
    once: has(args, 'once'),
    intervalMs: seconds(args, 'interval', http ? DEFAULT_HTTP_INTERVAL_S : null),
    timeoutMs: seconds(args, 'timeout', DEFAULT_TIMEOUT_S) ?? DEFAULT_TIMEOUT_S * 1000,
  }
  if (http) return runHttp(httpSettings(args, settings.timeoutMs), settings)
  return runSys(args, settings)
}

/** A number of seconds (decimals allowed) as milliseconds; `dflt` when absent. */
function seconds(args: ParsedArgs, name: string, dflt: number | null): number | null {
  const v = last(args, name)
  if (v === undefined) return dflt === null ? null : dflt * 1000
  const n = /^\d+(\.\d+)?$/.test(v) ? Number(v) : Number.NaN
  if (!(n >= 0.1 && n <= MAX_INTERVAL_S)) {
    throw new ToolError(`Error: Invalid --${name} '${v}' (seconds, 0.1 to ${MAX_INTERVAL_S}).`)
  }
  return Math.round(n * 1000)
}

function httpSettings(args: ParsedArgs, timeoutMs: number): HttpSettings {
  let port: number
  try {
    port = parseIntIn('--http-port', last(args, 'http-port')!, 1, 65_535)
  } catch (err) {
    if (err instanceof ConfigError)
      throw new ToolError(`Error: Invalid --http-port '${last(args, 'http-port')}' (1 to 65535).`)
    throw err
  }
  const host = last(args, 'http-host') ?? '127.0.0.1'
  if (host === '' || /[\s/]/.test(host)) throw new ToolError(`Error: Invalid --http-host '${host}'.`)
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  // The TLS flags of pub/sub, read as endpoint.ts reads them for mqtts://.
  let tls: HttpSource['tls'] = null
  const tlsGiven = TLS_FLAGS.some((f) => has(args, f.name))
  if (has(args, 'https') || tlsGiven) {
    try {
      tls = endpointOf(args).options
    } catch (err) {
      if (err instanceof ConfigError) throw new ToolError(`Error: ${err.message}.`)
      throw err
    }
  }
  const tokenFile = last(args, 'http-token-file') ?? null
  const sort = last(args, 'sort') ?? 'messagesIn'
  if (!(SORT_KEYS as readonly string[]).includes(sort)) {
    throw new ToolError(`Error: Invalid --sort '${sort}' (${SORT_KEYS.join(', ')}).`)
  }
  const rows = last(args, 'rows')
  let rowCount: number | null = null
  if (rows !== undefined) {
    try {
      rowCount = parseIntIn('--rows', rows, 1, 1000)
    } catch {
      throw new ToolError(`Error: Invalid --rows '${rows}' (1 to 1000).`)
    }
  }
  return {
    source: {
      base: `${tls === null ? 'http' : 'https'}://${where}`,
      where,
      token: tokenFile === null ? null : readToken(tokenFile),
      tokenFile,
      tls,
      timeoutMs,
    },
    sort: sort as SortKey,
    rows: rowCount,
  }
}

/** The token: the file's first line, trimmed. */
function readToken(file: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code)
    throw new ToolError(`Error: Cannot read --http-token-file ${file}: ${why}.`)
  }
  const token = (text.split(/\r?\n/)[0] ?? '').trim()
  if (token === '') throw new ToolError(`Error: --http-token-file ${file} is empty.`)
  return token
}
