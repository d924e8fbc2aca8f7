/**
 * `petrel sub -F format`: mosquitto_sub's output format (see its man page, OUTPUT FORMAT).
 * `%` sequences print the message and its MQTT 5 properties (%A %C %D %E %F %P %R %S),
 * `@` sequences the time (strftime letters), `\` sequences awkward characters. Flags `-` and
 * `0`, a field width and a maximum width (`%-10.10t`) work where mosquitto_sub has them.
 * The format is parsed once; a wrong sequence is refused before connecting.
 */
import type { QoS } from '../protocol/constants.js'
import type { PublishProperties } from '../protocol/packets.js'

/** What a format prints from. */
export interface FormatMessage {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  packetId: number
  properties: PublishProperties | undefined
  /** The topic alias the broker used, when the client reports it. */
  topicAlias?: number | undefined
}

interface Field {
  conv: string
  left: boolean
  zero: boolean
  width: number
  /** Maximum width; -1: none. */
  max: number
}

type Token = string | Field | { time: string }

/** A parsed -F format. */
export type Format = readonly Token[]

export class FormatError extends Error {
  override readonly name = 'FormatError'
}

/** Conversions that take a width, and those that also take a maximum width / zero padding. */
const WIDTH = new Set('ACEFIlmpRStxX')
const MAX_WIDTH = new Set('CIRt')
const NUMERIC = new Set('AEFlmSxX')
const CONVERSIONS = new Set('%ACDEFIjJlmPpqRrStUxX')
const ESCAPES: Record<string, string> = {
  '\\': '\\',
  '0': '\0',
  a: '\x07',
  e: '\x1b',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
}

/** Parses a -F format; throws FormatError naming the first bad sequence. */
export function parseFormat(format: string): Format {
  const tokens: Token[] = []
  let text = ''
  const flush = (): void => {
    if (text !== '') tokens.push(text)
    text = ''
  }
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!
    if (c === '\\') {
      const e = format[++i]
      if (e === undefined || ESCAPES[e] === undefined)
        throw new FormatError(`Error: Invalid escape specifier '${e ?? ''}'.`)
      text += ESCAPES[e]
    } else if (c === '@') {
      const t = format[++i]
      if (t === undefined) throw new FormatError("Error: Incomplete format specifier '@'.")
      if (t === '@') text += '@'
      else {
        flush()
        tokens.push({ time: t })
      }
    } else if (c === '%') {
      const m = /^([-0]*)(\d*)(?:\.(\d+))?(.)?/.exec(format.slice(i + 1))!
      const conv = m[4]
      if (conv === undefined) throw new FormatError("Error: Incomplete format specifier '%'.")
      if (!CONVERSIONS.has(conv)) throw new FormatError(`Error: Invalid format specifier '${conv}'.`)
      i += m[0].length
      if (conv === '%') {
        text += '%'
        continue
      }
      flush()
      const flags = m[1] ?? ''
      const left = flags.includes('-')
      tokens.push({
        conv,
        left,
        zero: !left && flags.includes('0') && NUMERIC.has(conv),
        width: WIDTH.has(conv) && m[2] ? Number(m[2]) : 0,
        max: MAX_WIDTH.has(conv) && m[3] !== undefined ? Number(m[3]) : -1,
      })
    } else text += c
  }
  flush()
  return tokens
}

/** One message in the format (no end of line: the caller adds it unless -N). */
export function formatMessage(tokens: Format, m: FormatMessage, now = new Date()): Buffer {
  const parts: Buffer[] = []
  for (const t of tokens) {
    if (typeof t === 'string') parts.push(Buffer.from(t))
    else if ('time' in t) parts.push(Buffer.from(strftime(t.time, now)))
    else parts.push(field(t, m, now))
  }
  return Buffer.concat(parts)
}

function pad(f: Field, value: Buffer): Buffer {
  let v = f.max >= 0 && value.length > f.max ? value.subarray(0, f.max) : value
  if (v.length < f.width) {
    const fill = Buffer.alloc(f.width - v.length, f.zero ? '0' : ' ')
    v = f.left ? Buffer.concat([v, fill]) : Buffer.concat([fill, v])
  }
  return v
}

function field(f: Field, m: FormatMessage, now: Date): Buffer {
  const p = m.properties
  const num = (n: number | undefined): Buffer => pad(f, Buffer.from(n === undefined ? '' : String(n)))
  const str = (s: string | undefined): Buffer => pad(f, Buffer.from(s ?? ''))
  switch (f.conv) {
    case 'A':
      return num(m.topicAlias ?? p?.topicAlias)
    case 'C':
      return str(p?.contentType)
    case 'D':
      return p?.correlationData ?? Buffer.alloc(0)
    case 'E':
      return num(p?.messageExpiryInterval)
    case 'F':
      return num(p?.payloadFormatIndicator)
    case 'I':
      return str(isoTime(now, false))
    case 'j':
      return Buffer.from(json(m, now, JSON.stringify(m.payload.toString('utf8'))))
    case 'J':
      return Buffer.from(json(m, now, payloadAsJson(m)))
    case 'l':
      return num(m.payload.length)
    case 'm':
      return num(m.packetId)
    case 'P':
      return Buffer.from((p?.userProperties ?? []).map(([k, v]) => `${k}:${v}`).join(' '))
    case 'p':
      return pad(f, m.payload)
    case 'q':
      return Buffer.from(String(m.qos))
    case 'R':
      return str(p?.responseTopic)
    case 'r':
      return Buffer.from(m.retain ? '1' : '0')
    case 'S':
      return str(p?.subscriptionIdentifiers?.join(','))
    case 't':
      return str(m.topic)
    case 'U':
      return Buffer.from(unixTime(now))
    case 'x':
      return pad(f, Buffer.from(m.payload.toString('hex')))
    default: // 'X'
      return pad(f, Buffer.from(m.payload.toString('hex').toUpperCase()))
  }
}

/** The payload for %J: it must be JSON itself. */
function payloadAsJson(m: FormatMessage): string {
  const text = m.payload.toString('utf8')
  try {
    JSON.parse(text)
  } catch {
    throw new FormatError(`Error: Message payload is not valid JSON on topic ${m.topic}`)
  }
  return text
}

/** %j / %J: mosquitto_sub's JSON, properties by their mosquitto names in the order they came. */
function json(m: FormatMessage, now: Date, payload: string): string {
  const head = `{"tst":${JSON.stringify(isoTime(now, true))},"topic":${JSON.stringify(m.topic)},"qos":${m.qos},"retain":${m.retain ? 1 : 0},"payloadlen":${m.payload.length}${m.qos > 0 ? `,"mid":${m.packetId}` : ''}`
  const props = propertiesJson(m.properties)
  return `${head}${props === '' ? '' : `,"properties":{${props}}`},"payload":${payload}}`
}

function propertiesJson(p: PublishProperties | undefined): string {
  if (p === undefined) return ''
  const out: string[] = []
  const add = (name: string, value: unknown): void => {
    out.push(`${JSON.stringify(name)}:${JSON.stringify(value)}`)
  }
  for (const key of Object.keys(p) as (keyof PublishProperties)[]) {
    switch (key) {
      case 'payloadFormatIndicator':
        add('payload-format-indicator', p.payloadFormatIndicator)
        break
      case 'messageExpiryInterval':
        add('message-expiry-interval', p.messageExpiryInterval)
        break
      case 'topicAlias':
        add('topic-alias', p.topicAlias)
        break
      case 'responseTopic':
        add('response-topic', p.responseTopic)
        break
      case 'correlationData':
        add('correlation-data', p.correlationData?.toString('utf8'))
        break
      case 'contentType':
        add('content-type', p.contentType)
        break
      case 'subscriptionIdentifiers':
        for (const id of p.subscriptionIdentifiers ?? []) add('subscription-identifier', id)
        break
      case 'userProperties': {
        // Names may repeat: written pair by pair, as they came.
        const pairs = (p.userProperties ?? []).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)
        out.push(`"user-properties":{${pairs.join(',')}}`)
        break
      }
    }
  }
  return out.join(',')
}

const two = (n: number): string => String(n).padStart(2, '0')

function offset(d: Date): string {
  const minutes = -d.getTimezoneOffset()
  const sign = minutes >= 0 ? '+' : '-'
  const a = Math.abs(minutes)
  return `${sign}${two(Math.floor(a / 60))}${two(a % 60)}`
}

/** ISO-8601 in local time, e.g. 2016-08-10T09:47:38+0100 (with microseconds for JSON). */
function isoTime(d: Date, micro: boolean): string {
  const date = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`
  const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  const frac = micro ? `.${String(d.getMilliseconds() * 1000).padStart(6, '0')}` : ''
  return `${date}T${time}${frac}${offset(d)}`
}

function unixTime(d: Date): string {
  const ms = d.getTime()
  return `${Math.floor(ms / 1000)}.${String((ms % 1000) * 1_000_000).padStart(9, '0')}`
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
]

/** One strftime letter (the common ones), @N the nanoseconds; others print as given. */
function strftime(c: string, d: Date): string {
  switch (c) {
    case 'Y':
      return String(d.getFullYear())
    case 'y':
      return two(d.getFullYear() % 100)
    case 'm':
      return two(d.getMonth() + 1)
    case 'd':
      return two(d.getDate())
    case 'e':
      return String(d.getDate()).padStart(2, ' ')
    case 'H':
      return two(d.getHours())
    case 'I':
      return two(((d.getHours() + 11) % 12) + 1)
    case 'M':
      return two(d.getMinutes())
    case 'S':
      return two(d.getSeconds())
    case 'p':
      return d.getHours() < 12 ? 'AM' : 'PM'
    case 'a':
      return DAYS[d.getDay()]!.slice(0, 3)
    case 'A':
      return DAYS[d.getDay()]!
    case 'b':
      return MONTHS[d.getMonth()]!.slice(0, 3)
    case 'B':
      return MONTHS[d.getMonth()]!
    case 'j':
      return String(
        Math.floor((d.getTime() - new Date(d.getFullYear(), 0, 1).getTime()) / 86_400_000) + 1,
      ).padStart(3, '0')
    case 'z':
      return offset(d)
    case 's':
      return String(Math.floor(d.getTime() / 1000))
    case 'F':
      return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`
    case 'T':
      return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
    case 'N':
      return String((d.getTime() % 1000) * 1_000_000).padStart(9, '0')
    case 'n':
      return '\n'
    case 't':
      return '\t'
    case '%':
      return '%'
    default:
      return `@${c}`
  }
}
