import type { ClientInfo, HookSet } from '../broker/options.js'
import { topicMatches } from '../protocol/topic.js'
import { readUserFile } from '../read-file.js'
import { AclAccess, type AclRule, type AclRules, CLIENT_ID, parseAcl, USER_NAME } from './acl-parse.js'

/** READ or WRITE: what a client asks to do with a topic. */
export type AclAsk = typeof AclAccess.READ | typeof AclAccess.WRITE

/** Decisions remembered per client, per topic; past this many the memory starts again. */
const DECISIONS_KEPT = 256
/**
 * Characters of topic names remembered per client, all decisions together: a client sending
 * long topics (up to 65,535 characters each) must not make each connection keep megabytes.
 */
const TOPIC_CHARS_KEPT = 16_384
/** A topic longer than this is decided each time, never remembered. */
const LONGEST_KEPT = 1024

/**
 * The rules that apply to one client, made once when it is first checked (its topic rules
 * looked up, its patterns filled in with its client id and user name), and its recent decisions.
 */
export class ClientAcl {
  /** Its user's `topic` rules (the anonymous ones without a user name); empty when none. */
  private readonly own: readonly AclRule[]
  /** Its `pattern` rules filled in; null when they deny it everything (see forClient). */
  private readonly patterns: readonly AclRule[] | null
  /** topic -> bits: READ/WRITE decided (x4) and allowed (x1). */
  private readonly decided = new Map<string, number>()
  /** Characters of the topics in `decided`. */
  private chars = 0

  constructor(own: readonly AclRule[], patterns: readonly AclRule[] | null) {
    this.own = own
    this.patterns = patterns
  }

  /**
   * Mosquitto 2.0's order: the client's own rules, deny first, the first that matches and
   * grants `ask` (or denies) decides; then its patterns, the same way; else no. A topic that
   * starts with '$' matches only a rule that starts with '$' [MQTT-4.7.2-1].
   */
  allows(ask: AclAsk, topic: string): boolean {
    const d = this.decided.get(topic)
    if (d !== undefined && (d & (ask << 2)) !== 0) return (d & ask) !== 0
    const ok =
      decide(this.own, ask, topic) ?? (this.patterns !== null && decide(this.patterns, ask, topic) === true)
    if (d === undefined) {
      if (topic.length > LONGEST_KEPT) return ok
      if (this.decided.size >= DECISIONS_KEPT || this.chars + topic.length > TOPIC_CHARS_KEPT) {
        this.decided.clear()
        this.chars = 0
      }
      this.chars += topic.length
    }
    this.decided.set(topic, (d ?? 0) | (ask << 2) | (ok ? ask : 0))
    return ok
  }

  /** What the memory of decisions holds now: topics, and their characters together. */
  get remembered(): { readonly topics: number; readonly chars: number } {
    return { topics: this.decided.size, chars: this.chars }
  }
}

/** true/false when a rule decides, undefined when none matches with an answer. */
function decide(rules: readonly AclRule[], ask: AclAsk, topic: string): boolean | undefined {
  for (const r of rules) {
    if (!topicMatches(r.filter, topic)) continue
    if (r.access === AclAccess.DENY) return false
    if ((r.access & ask) !== 0) return true
  }
  return undefined
}

const NONE: readonly AclRule[] = []

/** A client id or user name that could widen a pattern: '+' and '#' (Mosquitto's check), '/' (ours). */
const WILDCARDS = /[+#]/
const SLASH = '/'

/**
 * The rules of `rules` for one client. Its patterns deny it everything (null) when its client
 * id or user name holds '+' or '#' (as Mosquitto 2.0 does), or '/' where a pattern would put
 * it (Mosquitto 2.0 lets 'a/b' fill `%c`, reaching into client 'a''s tree: we do not).
 * A pattern with `%u` does not apply to a client without a user name.
 */
export function forClient(rules: AclRules, client: ClientInfo): ClientAcl {
  const username = client.username
  const own = username === undefined ? (rules.anonymous ?? NONE) : (rules.users.get(username) ?? NONE)
  const patterns = rules.patterns
  if (patterns.length === 0) return new ClientAcl(own, [])
  const id = client.id
  const user = username ?? ''
  if (WILDCARDS.test(id) || WILDCARDS.test(user)) return new ClientAcl(own, null)
  const filled: AclRule[] = []
  for (const p of patterns) {
    if (p.usesUserName && username === undefined) continue
    if ((p.usesClientId && id.includes(SLASH)) || (p.usesUserName && user.includes(SLASH))) {
      return new ClientAcl(own, null)
    }
    const filter = p.levels.map((l) => (l === CLIENT_ID ? id : l === USER_NAME ? user : l)).join('/')
    filled.push({ access: p.access, filter, line: p.line })
  }
  return new ClientAcl(own, filled)
}

/**
 * An ACL file in use: loaded once, reloaded whole on request (SIGHUP). A file that cannot be
 * read or parsed is refused and the rules in use stay. Each client's rules are made on its
 * first check and kept with it (a WeakMap keyed by the connection) until the next reload.
 */
export class AclFile {
  readonly path: string
  private current: AclRules
  private clients = new WeakMap<ClientInfo, ClientAcl>()

  constructor(path: string, rules: AclRules) {
    this.path = path
    this.current = rules
  }

  /** Reads and parses `path`; throws a ConfigError (file, line, what is allowed) when it cannot. */
  static async load(path: string): Promise<AclFile> {
    return new AclFile(path, await read(path))
  }

  /** Rules given as text (an embedder, a test); `name` stands for the file in messages. */
  static fromText(text: string, name = 'ACL'): AclFile {
    return new AclFile(name, parseAcl(text, name))
  }

  get rules(): AclRules {
    return this.current
  }

  /** Reads the file again and swaps it in, or throws and keeps the rules in use. */
  async reload(): Promise<void> {
    const next = await read(this.path)
    this.current = next
    this.clients = new WeakMap() // every client's rules are made again from the new file
  }

  /** Whether `client` may `ask` (read or write) `topic`. */
  allows(client: ClientInfo, ask: AclAsk, topic: string): boolean {
    let c = this.clients.get(client)
    if (c === undefined) {
      c = forClient(this.current, client)
      this.clients.set(client, c)
    }
    return c.allows(ask, topic)
  }
}

async function read(path: string): Promise<AclRules> {
  return parseAcl((await readUserFile(path, 'aclFile', 'ACL file')).toString('utf8'), path)
}

/**
 * The hooks of an ACL file: write rules on PUBLISH and wills (a client may not publish to
 * `$share/...`, as in Mosquitto), read rules on every delivery. SUBSCRIBE is not checked:
 * Mosquitto 2.0 grants every subscription and filters what it delivers, and so do we
 * (see docs/decisions.md).
 */
export function aclHooks(acl: AclFile): HookSet {
  return {
    authorizePublish: (client, topic) =>
      !topic.startsWith('$share') && acl.allows(client, AclAccess.WRITE, topic),
    authorizeRead: (client, topic) => acl.allows(client, AclAccess.READ, topic),
  }
}
