/**
 * MQTT topics and filters as NATS subjects, for brokers joined through NATS.
 *
 * Each MQTT level ('/'-separated, possibly empty) becomes exactly one NATS token
 * ('.'-separated, never empty). Tokens are also JetStream KV keys, so they hold only
 * [A-Za-z0-9_-]:
 * - a level of [A-Za-z0-9-] only is its own token (the common case, no copy);
 * - the empty level is `_`;
 * - otherwise each other character is written as its UTF-8 bytes, `_` + two uppercase
 *   hex digits per byte ('.' -> `_2E`, '_' -> `_5F`, 'é' -> `_C3_A9`).
 * An escape is always three characters, so a lone `_` cannot be confused with one, and
 * the decoder accepts only the one canonical spelling: the mapping is a bijection between
 * topics and well-formed subjects (the same topic is the same KV key on every broker).
 *
 * Lone UTF-16 surrogates (never in a valid MQTT string, possible in a JS string given to
 * `tokenOf`) are written as their 3-byte generalized UTF-8 (WTF-8), so `fromToken(tokenOf(s))
 * === s` for every JS string.
 */
import { PetrelError } from '../errors.js'
import { isValidTopicFilter } from '../protocol/topic.js'

const SLASH = 0x2f
const DOT = 0x2e
const UNDERSCORE = 0x5f
const HASH = 0x23
const PLUS = 0x2b

/** The token of the empty level. */
const EMPTY_LEVEL = '_'
/** NATS wildcards: one token, and one or more trailing tokens. */
const ONE = '*'
const REST = '>'

/** A subject or token that no topic maps to. */
export class SubjectError extends PetrelError {
  /** The subject or token refused. */
  readonly subject: string
  constructor(code: 'PETREL_MALFORMED_SUBJECT' | 'PETREL_MALFORMED_FILTER', subject: string, why: string) {
    super(code, `${code === 'PETREL_MALFORMED_FILTER' ? 'filter' : 'subject'} '${subject}': ${why}`)
    this.subject = subject
  }
}

/** [A-Za-z0-9-]: the characters a token carries as themselves. */
function isPlain(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d // -
  )
}

/** `_00` .. `_FF`, built once so escaping a byte is one table read. */
const ESCAPE: readonly string[] = Array.from(
  { length: 256 },
  (_, b) => `_${b.toString(16).toUpperCase().padStart(2, '0')}`,
)

/** The token of s[start, end): the slice itself when plain, `_` when empty, else escaped. */
function levelToken(s: string, start: number, end: number): string {
  if (start === end) return EMPTY_LEVEL
  let i = start
  while (i < end && isPlain(s.charCodeAt(i))) i++
  if (i === end) return start === 0 && end === s.length ? s : s.slice(start, end)
  let out = s.slice(start, i)
  while (i < end) {
    const c = s.charCodeAt(i)
    if (isPlain(c)) {
      out += s[i]
      i++
      continue
    }
    let cp = c
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < end) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        i++
      }
    }
    i++
    if (cp < 0x80) out += ESCAPE[cp]
    else if (cp < 0x800) out += ESCAPE[0xc0 | (cp >> 6)]! + ESCAPE[0x80 | (cp & 0x3f)]
    else if (cp < 0x10000) {
      out += ESCAPE[0xe0 | (cp >> 12)]! + ESCAPE[0x80 | ((cp >> 6) & 0x3f)] + ESCAPE[0x80 | (cp & 0x3f)]
    } else {
      out +=
        ESCAPE[0xf0 | (cp >> 18)]! +
        ESCAPE[0x80 | ((cp >> 12) & 0x3f)] +
        ESCAPE[0x80 | ((cp >> 6) & 0x3f)] +
        ESCAPE[0x80 | (cp & 0x3f)]
    }
  }
  return out
}

/** Encodes any string as one token (client ids, shared-subscription group names). */
export function tokenOf(s: string): string {
  return levelToken(s, 0, s.length)
}

/** The value of an uppercase hex digit, or -1. Lowercase is refused: one spelling per byte. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  return -1
}

/** The byte escaped at t[i] (which must be `_XX`), or -1. */
function escapedByte(t: string, i: number): number {
  if (i + 2 >= t.length || t.charCodeAt(i) !== UNDERSCORE) return -1
  const hi = hexDigit(t.charCodeAt(i + 1))
  const lo = hexDigit(t.charCodeAt(i + 2))
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo
}

/**
 * The string a token encodes: the inverse of `tokenOf`. Throws a SubjectError on anything
 * `tokenOf` never produces (an empty token, a stray '_', lowercase hex, an escaped plain
 * character, bad or overlong UTF-8), so every accepted token has exactly one string.
 */
export function fromToken(t: string): string {
  if (t === EMPTY_LEVEL) return ''
  const n = t.length
  if (n === 0) throw new SubjectError('PETREL_MALFORMED_SUBJECT', t, 'empty token')
  let out = ''
  let plainStart = 0
  let i = 0
  while (i < n) {
    const c = t.charCodeAt(i)
    if (isPlain(c)) {
      i++
      continue
    }
    const bad = (why: string): SubjectError =>
      new SubjectError('PETREL_MALFORMED_SUBJECT', t, `${why} at ${i}`)
    if (c !== UNDERSCORE) throw bad(`'${t[i]}' is not a token character`)
    out += t.slice(plainStart, i)
    const b0 = escapedByte(t, i)
    if (b0 < 0) throw bad(`'_' starts no escape`)
    let more: number
    let min: number
    if (b0 < 0x80) {
      if (isPlain(b0)) throw bad(`'${String.fromCharCode(b0)}' needs no escape`)
      more = 0
      min = 0
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      more = 1
      min = 0x80
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      more = 2
      min = 0x800
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      more = 3
      min = 0x10000
    } else throw bad('not a UTF-8 lead byte')
    let cp = more === 0 ? b0 : b0 & (0x3f >> more)
    let j = i + 3
    for (let k = 0; k < more; k++, j += 3) {
      const b = escapedByte(t, j)
      if (b < 0 || (b & 0xc0) !== 0x80) throw bad('incomplete UTF-8 sequence')
      cp = (cp << 6) | (b & 0x3f)
    }
    if (cp < min || cp > 0x10ffff) throw bad('overlong or out-of-range UTF-8')
    // a high surrogate then a low one is written as one 4-byte sequence, never as two
    if (cp >= 0xdc00 && cp <= 0xdfff && out.length > 0) {
      const prev = out.charCodeAt(out.length - 1)
      if (prev >= 0xd800 && prev <= 0xdbff) throw bad('surrogate pair written as two sequences')
    }
    out += String.fromCodePoint(cp)
    i = j
    plainStart = j
  }
  return plainStart === 0 ? t : out + t.slice(plainStart)
}

/** The NATS subject of an MQTT topic name: one token per level, joined by '.', no prefix. */
export function topicToSubject(topic: string): string {
  const n = topic.length
  let out = ''
  let start = 0
  for (let i = 0; i <= n; i++) {
    if (i === n || topic.charCodeAt(i) === SLASH) {
      const token = levelToken(topic, start, i)
      out = start === 0 ? token : out + '.' + token
      start = i + 1
    }
  }
  return out
}

/**
 * The MQTT topic of a subject: the exact inverse of `topicToSubject`. Throws a SubjectError
 * on a subject no topic maps to, including a token that decodes to a string with '/'.
 */
export function subjectToTopic(subject: string): string {
  const n = subject.length
  let out = ''
  let start = 0
  for (let i = 0; i <= n; i++) {
    if (i === n || subject.charCodeAt(i) === DOT) {
      let level: string
      try {
        level = fromToken(subject.slice(start, i))
      } catch (e) {
        throw new SubjectError('PETREL_MALFORMED_SUBJECT', subject, (e as Error).message)
      }
      // `_2F` is a fine token (a client id may hold '/'), but no level holds '/'
      if (level.includes('/')) {
        throw new SubjectError('PETREL_MALFORMED_SUBJECT', subject, `a level holds '/' at token ${start}`)
      }
      out = start === 0 ? level : out + '/' + level
      start = i + 1
    }
  }
  return out
}

/**
 * The NATS subjects whose union matches the topics a valid, non-shared MQTT filter
 * matches (strip `$share/group/` first). '+' becomes `*`, a trailing '#' becomes `>`.
 * `>` needs at least one token, but 'a/#' also matches 'a' [MQTT-4.7.1-2], so a filter
 * ending in '/#' gives two subjects, the parent and the parent with `.>`: 'a/+/#' ->
 * ['a.*', 'a.*.>']. '#' alone gives ['>'] (every topic has at least one level).
 *
 * One difference is left to the receiver: a filter starting with '+' or '#' does not
 * match a topic starting with '$' [MQTT-4.7.2-1], and its subject does (`*` matches
 * `_24SYS`). So the subjects may over-deliver, only for '$' topics, never under-deliver;
 * the receiving broker's own topic tree drops those messages.
 */
export function filterToSubjects(filter: string): string[] {
  if (!isValidTopicFilter(filter)) {
    throw new SubjectError('PETREL_MALFORMED_FILTER', filter, 'not a valid MQTT topic filter')
  }
  const n = filter.length
  let out = ''
  let start = 0
  for (let i = 0; i <= n; i++) {
    if (i === n || filter.charCodeAt(i) === SLASH) {
      const c = filter.charCodeAt(start)
      if (i === start + 1 && c === HASH) {
        // '#' is always last in a valid filter
        return start === 0 ? [REST] : [out, out + '.' + REST]
      }
      const token = i === start + 1 && c === PLUS ? ONE : levelToken(filter, start, i)
      out = start === 0 ? token : out + '.' + token
      start = i + 1
    }
  }
  return [out]
}

/**
 * NATS subject matching: `*` matches one token, a final `>` one or more tokens, any
 * other token itself.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.')
  const s = subject.split('.')
  for (let i = 0; i < p.length; i++) {
    const token = p[i]
    if (token === REST && i === p.length - 1) return s.length > i
    if (i >= s.length) return false
    if (token !== ONE && token !== s[i]) return false
  }
  return p.length === s.length
}
