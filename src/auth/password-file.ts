import { ConfigError } from '../errors.js'

/*
 * Mosquitto's password file: one `user:secret` line per user, `#` comments and blank lines.
 *   user:$7$<iterations>$<base64 salt>$<base64 hash>   PBKDF2-HMAC-SHA512 (Mosquitto 2.0's default;
 *                                                      mosquitto_passwd 2.0.11 writes 101 iterations,
 *                                                      a 12-byte salt and the 64-byte key)
 *   user:$6$<base64 salt>$<base64 hash>                SHA-512(password || salt) (Mosquitto 1.6's default)
 * Checked against files written by Debian's mosquitto_passwd 2.0.11 (`-H sha512-pbkdf2` and `-H sha512`).
 */

/** A stored password: never the password itself. */
export type PasswordHash =
  | {
      readonly kind: 'pbkdf2-sha512'
      readonly iterations: number
      readonly salt: Buffer
      readonly hash: Buffer
    }
  | { readonly kind: 'sha512'; readonly salt: Buffer; readonly hash: Buffer }

/** The `$7$` scheme's iteration count in mosquitto_passwd 2.0 (and what `petrel passwd` writes by default). */
export const MOSQUITTO_ITERATIONS = 101
/**
 * The most PBKDF2 iterations a line may ask for: about a second of one thread-pool thread
 * here. A typo (or a hostile file) with more would let each CONNECT tie a thread up for long.
 */
export const MAX_PASSWORD_ITERATIONS = 1_000_000
/** mosquitto_passwd's salt size, bytes. */
export const SALT_BYTES = 12
/** SHA-512's output: the hash of both schemes. */
export const HASH_BYTES = 64

/** One line of a password file: a user's, or one kept as it is (comment, blank). */
export type PasswordLine =
  | { readonly kind: 'user'; readonly username: string; readonly secret: string; readonly text: string }
  | { readonly kind: 'other'; readonly text: string }

/**
 * Splits a password file into lines (without their '\n' or '\r\n'), telling users' lines
 * from comments and blank lines. Leading and trailing blanks of a line are ignored, as
 * Mosquitto ignores them. Throws a ConfigError naming `name` and the line number for a
 * line that is not `user:secret`.
 */
export function splitPasswordLines(text: string, name: string): PasswordLine[] {
  const raw = text.split('\n')
  if (raw[raw.length - 1] === '') raw.pop() // the final newline ends the last line
  return raw.map((line, i): PasswordLine => {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return { kind: 'other', text: line }
    const colon = trimmed.indexOf(':')
    if (colon <= 0) {
      throw lineError(name, i + 1, colon === 0 ? "no user name before ':'" : "not 'user:password hash'")
    }
    return { kind: 'user', username: trimmed.slice(0, colon), secret: trimmed.slice(colon + 1), text: line }
  })
}

/**
 * Reads a password file's text into user name -> stored password. Every line must be a
 * `$6$` or `$7$` line (or a comment or blank): a plain-text password, an unknown scheme,
 * bad base64, an iteration count over MAX_PASSWORD_ITERATIONS or a user named twice is
 * a ConfigError naming `name` and the line, and nothing is loaded.
 */
export function parsePasswordFile(text: string, name: string): Map<string, PasswordHash> {
  const users = new Map<string, PasswordHash>()
  const lineOf = new Map<string, number>()
  splitPasswordLines(text, name).forEach((line, i) => {
    if (line.kind !== 'user') return
    const first = lineOf.get(line.username)
    if (first !== undefined) {
      throw lineError(name, i + 1, `user '${line.username}' is already on line ${first}; keep one of them`)
    }
    const hash = parseSecret(line.secret)
    if (typeof hash === 'string') throw lineError(name, i + 1, `user '${line.username}': ${hash}`)
    users.set(line.username, hash)
    lineOf.set(line.username, i + 1)
  })
  return users
}

/**
 * A `$6$` or `$7$` secret as a PasswordHash, or why it is not one. A secret without a
 * leading `$` is a plain-text password, which Mosquitto 2.0 refuses too.
 */
export function parseSecret(secret: string): PasswordHash | string {
  if (!secret.startsWith('$')) {
    return "the password is in plain text; hash the file with 'petrel passwd -U FILE'"
  }
  const parts = secret.split('$')
  switch (parts[1]) {
    case '7': {
      if (parts.length !== 5) return "not '$7$<iterations>$<salt>$<hash>'"
      const iterations = /^\d{1,7}$/.test(parts[2]!) ? Number(parts[2]) : Number.NaN
      if (!(iterations >= 1 && iterations <= MAX_PASSWORD_ITERATIONS)) {
        return `the iteration count must be a whole number from 1 to ${MAX_PASSWORD_ITERATIONS}; got '${parts[2]}'`
      }
      const salt = base64(parts[3]!)
      const hash = base64(parts[4]!)
      if (salt === undefined || salt.length === 0) return 'the salt is not base64'
      if (hash === undefined || hash.length !== HASH_BYTES)
        return `the hash is not ${HASH_BYTES} bytes of base64`
      return { kind: 'pbkdf2-sha512', iterations, salt, hash }
    }
    case '6': {
      if (parts.length !== 4) return "not '$6$<salt>$<hash>'"
      const salt = base64(parts[2]!)
      const hash = base64(parts[3]!)
      if (salt === undefined || salt.length === 0) return 'the salt is not base64'
      if (hash === undefined || hash.length !== HASH_BYTES)
        return `the hash is not ${HASH_BYTES} bytes of base64`
      return { kind: 'sha512', salt, hash }
    }
    default:
      return `unknown hash type '$${parts[1]}$' (Petrel reads $7$ and $6$, as Mosquitto 2.0 does)`
  }
}

/** The secret of a password file line (what follows `user:`). */
export function formatSecret(h: PasswordHash): string {
  const salt = h.salt.toString('base64')
  const hash = h.hash.toString('base64')
  return h.kind === 'sha512' ? `$6$${salt}$${hash}` : `$7$${h.iterations}$${salt}$${hash}`
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Strict base64 (padding optional): Buffer.from alone skips what it does not understand. */
function base64(s: string): Buffer | undefined {
  if (!BASE64.test(s) || s.length % 4 === 1) return undefined
  const b = Buffer.from(s, 'base64')
  return b.toString('base64').replace(/=+$/, '') === s.replace(/=+$/, '') ? b : undefined
}

function lineError(name: string, line: number, why: string): ConfigError {
  return new ConfigError('passwordFile', `password file ${name}, line ${line}: ${why}`)
}
