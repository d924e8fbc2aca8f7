import { pino } from 'pino'
import type { Logger } from '../broker/options.js'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Where log lines go: process.stdout, or a test's collector. */
export interface LogSink {
  write(line: string): void
}

export interface LoggerOptions {
  level: LogLevel
  /** Human-readable lines (a terminal) instead of JSON lines (files, pipes, log collectors). */
  pretty: boolean
  /** ANSI colours in pretty mode. */
  color?: boolean
  /** Default: standard output (JSON lines are written synchronously, so none is lost at exit). */
  sink?: LogSink
}

/**
 * A pino logger shaped as the Broker's Logger. JSON lines by default; on a
 * terminal, pino's JSON is re-read and printed as one short line per record by
 * our own formatter (pino-pretty would bring a dozen packages for this).
 */
export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.epochTime,
    formatters: { level: (label: string) => ({ level: label }) },
  }
  const sink = options.sink
  if (options.pretty) {
    const out = sink ?? process.stdout
    const color = options.color ?? false
    return pino(base, { write: (json: string) => out.write(formatRecord(json, color)) })
  }
  if (sink !== undefined) return pino(base, { write: (json: string) => sink.write(json) })
  return pino(base, pino.destination({ dest: 1, sync: true }))
}

/** Pretty output when standard output is a terminal (and `NO_COLOR` is not set for colours). */
export function stdoutLogger(level: LogLevel): Logger {
  const tty = process.stdout.isTTY === true
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== ''
  return createLogger({ level, pretty: tty, color: tty && !noColor })
}

const LEVEL_STYLE: Record<string, [label: string, ansi: string]> = {
  trace: ['TRACE', '90'],
  debug: ['DEBUG', '90'],
  info: ['INFO ', '32'],
  warn: ['WARN ', '33'],
  error: ['ERROR', '31'],
  fatal: ['FATAL', '35'],
}
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg'])

/** One pino JSON record as `12:00:00.123 INFO  message key=value ...`. */
export function formatRecord(json: string, color: boolean): string {
  let rec: Record<string, unknown>
  try {
    rec = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`
  }
  const time = typeof rec.time === 'number' ? clock(new Date(rec.time)) : ''
  const [label, ansi] = LEVEL_STYLE[String(rec.level)] ?? [String(rec.level).toUpperCase().padEnd(5), '0']
  const paint = (code: string, s: string): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s)
  let line = `${paint('90', time)} ${paint(ansi, label)} ${typeof rec.msg === 'string' ? rec.msg : ''}`
  for (const [k, v] of Object.entries(rec)) {
    if (HIDDEN.has(k) || v === undefined) continue
    line += ` ${paint('36', `${k}=`)}${fieldText(k, v)}`
  }
  return `${line}\n`
}

function fieldText(key: string, v: unknown): string {
  if (key === 'err' && typeof v === 'object' && v !== null && 'message' in v) {
    return JSON.stringify(String((v as { message: unknown }).message))
  }
  if (typeof v === 'string') return /^[\w./:@-]+$/.test(v) ? v : JSON.stringify(v)
  return JSON.stringify(v)
}

function clock(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0')
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
}
