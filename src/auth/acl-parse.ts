import { ConfigError } from '../errors.js'
import { isValidTopicFilter } from '../protocol/topic.js'

/** What a rule grants: a bit set; `deny` is none of them, and refuses what it matches. */
export const AclAccess = { DENY: 0, READ: 1, WRITE: 2, READWRITE: 3 } as const
export type AclAccess = (typeof AclAccess)[keyof typeof AclAccess]

const ACCESS_WORDS: ReadonlyMap<string, AclAccess> = new Map([
  ['read', AclAccess.READ],
  ['write', AclAccess.WRITE],
  ['readwrite', AclAccess.READWRITE],
  ['deny', AclAccess.DENY],
])

/** A `topic` line: the filter as written. */
export interface AclRule {
  readonly access: AclAccess
  readonly filter: string
  /** 1-based line in the file, for messages. */
  readonly line: number
}

/** One level of a `pattern` filter: as written, or the client id (`%c`) or user name (`%u`) in its place. */
export type PatternLevel = string | typeof CLIENT_ID | typeof USER_NAME
export const CLIENT_ID: unique symbol = Symbol('%c')
export const USER_NAME: unique symbol = Symbol('%u')

/** A `pattern` line: its filter split into levels, ready to be filled in for each client. */
export interface AclPattern extends AclRule {
  readonly levels: readonly PatternLevel[]
  readonly usesClientId: boolean
  readonly usesUserName: boolean
}

/**
 * An ACL file, parsed. In each list the `deny` rules come first (they are evaluated before
 * the others, as Mosquitto does), then the rest in file order.
 */
export interface AclRules {
  /** `topic` lines before the first `user` line: for clients that give no user name. Null when none. */
  readonly anonymous: readonly AclRule[] | null
  /** `topic` lines under each `user` line (a user named twice gets both blocks). */
  readonly users: ReadonlyMap<string, readonly AclRule[]>
  /** `pattern` lines, wherever they stand: for every client. */
  readonly patterns: readonly AclPattern[]
}

const SYNTAX =
  "lines are 'topic [read|write|readwrite|deny] <filter>', 'pattern [read|write|readwrite|deny] <filter>', 'user <name>', or a comment starting with '#' in the first column"

/**
 * Parses Mosquitto's acl_file syntax as Mosquitto 2.0 reads it:
 * - trailing white space is ignored; leading spaces too; fields are separated by spaces;
 * - `#` in the first column starts a comment; blank lines are skipped;
 * - `topic [access] <filter>`: no access word means readwrite; a line with one word after
 *   `topic` takes it as the filter (`topic read` is the topic "read"); the filter is the
 *   rest of the line, spaces included;
 * - `user <name>`: the `topic` lines after it are that user's; the name is the rest of the line;
 * - `pattern [access] <filter>`: for every client, with `%c` (client id) and `%u` (user name)
 *   filled in.
 * Stricter than Mosquitto where its reading would surprise (see docs/decisions.md): a tab
 * (Mosquitto takes it as part of a word), a NUL byte, and a `%c`/`%u` that is only part of a
 * level (`a/x%c`) are errors. Throws a ConfigError naming the file, the line and what is allowed.
 */
export function parseAcl(text: string, fileName: string): AclRules {
  let anonymous: AclRule[] | null = null
  const users = new Map<string, AclRule[]>()
  const patterns: AclPattern[] = []
  let current: AclRule[] | null = null // null: before the first `user` line
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1
    const fail = (why: string): never => {
      throw new ConfigError('aclFile', `${fileName} line ${n}: ${why}`)
    }
    const line = lines[i]!.replace(/\s+$/, '')
    if (line.startsWith('#')) continue
    if (line.includes('\0')) fail('a NUL byte; an ACL file is text')
    if (line.includes('\t')) fail('a tab; separate the words with spaces')
    const words = line.replace(/^ +/, '')
    if (words === '') continue
    const [keyword, rest] = split(words)
    if (keyword === 'user') {
      if (rest === null) fail("'user' needs a name: 'user <name>'")
      const name = rest!.trim()
      current = users.get(name) ?? []
      users.set(name, current)
      continue
    }
    if (keyword !== 'topic' && keyword !== 'pattern') {
      const hint = keyword.startsWith('#') ? ' (a comment must start in the first column)' : ''
      fail(`unknown keyword '${keyword}'${hint}; ${SYNTAX}`)
    }
    if (rest === null)
      fail(`'${keyword}' needs a topic filter: '${keyword} [read|write|readwrite|deny] <filter>'`)
    const [first, after] = split(rest!)
    let access: AclAccess = AclAccess.READWRITE
    let filter = first
    if (after !== null) {
      const a = ACCESS_WORDS.get(first)
      if (a === undefined) {
        fail(`unknown access '${first}'; allowed: read, write, readwrite, deny (none: readwrite)`)
      }
      access = a!
      filter = after.trim()
    }
    if (!isValidTopicFilter(filter)) {
      fail(`'${filter}' is not a valid topic filter ('+' and '#' must fill a whole level, '#' only last)`)
    }
    if (keyword === 'pattern') {
      patterns.push(pattern(access, filter, n, fail))
      continue
    }
    const rule: AclRule = { access, filter, line: n }
    if (current === null) (anonymous ??= []).push(rule)
    else current.push(rule)
  }
  for (const [name, rules] of users) users.set(name, denyFirst(rules))
  return {
    anonymous: anonymous === null ? null : denyFirst(anonymous),
    users,
    patterns: denyFirst(patterns),
  }
}

/** The first space-separated word and what follows the space after it (null when nothing does). */
function split(s: string): [string, string | null] {
  const sp = s.indexOf(' ')
  if (sp < 0) return [s, null]
  const rest = s.slice(sp + 1).replace(/^ +/, '')
  return [s.slice(0, sp), rest === '' ? null : rest]
}

function pattern(access: AclAccess, filter: string, line: number, fail: (why: string) => never): AclPattern {
  let usesClientId = false
  let usesUserName = false
  const levels = filter.split('/').map((level): PatternLevel => {
    if (level === '%c') {
      usesClientId = true
      return CLIENT_ID
    }
    if (level === '%u') {
      usesUserName = true
      return USER_NAME
    }
    if (level.includes('%c') || level.includes('%u')) {
      // `a/x%c` would let a client id choose part of a level: 'x' + id
      fail(`'${filter}': %c and %u must fill a whole level (like 'devices/%c/#'), not part of '${level}'`)
    }
    return level
  })
  return { access, filter, line, levels, usesClientId, usesUserName }
}

/** The deny rules first, then the others, each in file order. */
function denyFirst<T extends AclRule>(rules: T[]): T[] {
  return [
    ...rules.filter((r) => r.access === AclAccess.DENY),
    ...rules.filter((r) => r.access !== AclAccess.DENY),
  ]
}
