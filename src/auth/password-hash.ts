import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'
import { HASH_BYTES, MOSQUITTO_ITERATIONS, type PasswordHash, SALT_BYTES } from './password-file.js'

/** The PBKDF2 key, off the event loop (libuv's thread pool runs it). */
function pbkdf2Sha512(password: Buffer, salt: Buffer, iterations: number, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pbkdf2(password, salt, iterations, length, 'sha512', (err, key) => (err ? reject(err) : resolve(key))),
  )
}

/** `$6$`: SHA-512 over the password, then the salt (the order Mosquitto uses). */
function sha512(password: Buffer, salt: Buffer): Buffer {
  return createHash('sha512').update(password).update(salt).digest()
}

/**
 * Whether `password` is the one `stored` was made from. The `$7$` PBKDF2 runs in libuv's
 * thread pool, never on the event loop; a `$6$` hash is one SHA-512, computed at once. The
 * comparison takes the same time wherever the bytes differ.
 */
export async function verifyPassword(stored: PasswordHash, password: Buffer): Promise<boolean> {
  const computed =
    stored.kind === 'sha512'
      ? sha512(password, stored.salt)
      : await pbkdf2Sha512(password, stored.salt, stored.iterations, stored.hash.length)
  return computed.length === stored.hash.length && timingSafeEqual(computed, stored.hash)
}

export interface HashOptions {
  /** `$7$` (PBKDF2-HMAC-SHA512, the default) or `$6$` (one SHA-512, Mosquitto 1.6's default). */
  kind?: PasswordHash['kind']
  /** `$7$` iterations. Default 101, as mosquitto_passwd 2.0 writes. */
  iterations?: number
  /** Default: 12 random bytes, as mosquitto_passwd makes. */
  salt?: Buffer
}

/** Hashes a password the way mosquitto_passwd does: a new random salt each time. */
export async function hashPassword(
  password: Buffer | string,
  options: HashOptions = {},
): Promise<PasswordHash> {
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password
  const salt = options.salt ?? randomBytes(SALT_BYTES)
  if (options.kind === 'sha512') return { kind: 'sha512', salt, hash: sha512(pw, salt) }
  const iterations = options.iterations ?? MOSQUITTO_ITERATIONS
  return {
    kind: 'pbkdf2-sha512',
    iterations,
    salt,
    hash: await pbkdf2Sha512(pw, salt, iterations, HASH_BYTES),
  }
}

/**
 * What an unknown user name is checked against, so that refusing it costs what refusing a
 * wrong password costs: the scheme and iteration count most users of the file have, with a
 * random salt and hash that no password matches. `$7$` with 101 iterations for an empty file.
 */
export function decoyHash(users: Iterable<PasswordHash>): PasswordHash {
  const counts = new Map<number, number>() // iterations (0 for $6$) -> users
  for (const h of users) {
    const key = h.kind === 'sha512' ? 0 : h.iterations
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  let usual = MOSQUITTO_ITERATIONS
  let most = 0
  for (const [key, n] of counts) {
    if (n > most) {
      usual = key
      most = n
    }
  }
  const salt = randomBytes(SALT_BYTES)
  const hash = randomBytes(HASH_BYTES)
  return usual === 0
    ? { kind: 'sha512', salt, hash }
    : { kind: 'pbkdf2-sha512', iterations: usual, salt, hash }
}
