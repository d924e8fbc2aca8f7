import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'
import { ScramError, ScramErrorCode } from './errors.js'
import { saslprep } from './saslprep.js'
import { decodeBase64 } from './scram-messages.js'

/*
 * The SCRAM-SHA-256 key schedule (RFC 5802 section 3, with SHA-256 per RFC 7677):
 *   SaltedPassword  = Hi(Normalize(password), salt, i)      (PBKDF2-HMAC-SHA-256)
 *   ClientKey       = HMAC(SaltedPassword, "Client Key")
 *   StoredKey       = H(ClientKey)
 *   ServerKey       = HMAC(SaltedPassword, "Server Key")
 *   ClientSignature = HMAC(StoredKey, AuthMessage);  ClientProof = ClientKey XOR ClientSignature
 *   ServerSignature = HMAC(ServerKey, AuthMessage)
 */

export const SCRAM_SHA_256 = 'SCRAM-SHA-256'
/** RFC 7677 section 4: the iteration count should be at least 4096. */
export const MIN_ITERATIONS = 4096
/**
 * The most iterations a client computes when a server asks (about a second of CPU here):
 * more would let a server, or whoever impersonates one, tie the client up.
 */
export const MAX_ITERATIONS = 1_000_000
const SALT_SIZE = 16
const KEY_SIZE = 32

/** What a user database keeps for one user: enough to verify a proof, never the password. */
export interface ScramCredentials {
  readonly salt: Buffer
  readonly iterations: number
  readonly storedKey: Buffer
  readonly serverKey: Buffer
}

export interface CredentialOptions {
  /** PBKDF2 iterations, at least 4096 (RFC 7677). Default 4096. */
  iterations?: number
  /** Default: 16 random bytes. */
  salt?: Buffer
}

export function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest()
}

export function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length)
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!
  return out
}

/** Hi(Normalize(password), salt, i), off the event loop (PBKDF2 runs in libuv's thread pool). */
export function saltedPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  const normalized = saslprep(password)
  return new Promise((resolve, reject) =>
    pbkdf2(normalized, salt, iterations, KEY_SIZE, 'sha256', (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  )
}

export function clientKey(salted: Buffer): Buffer {
  return hmac(salted, 'Client Key')
}

export function serverKey(salted: Buffer): Buffer {
  return hmac(salted, 'Server Key')
}

function checkIterations(iterations: number): void {
  if (!Number.isSafeInteger(iterations) || iterations < MIN_ITERATIONS)
    throw new ScramError(
      ScramErrorCode.ITERATIONS,
      `iterations must be an integer of at least ${MIN_ITERATIONS} (RFC 7677), not ${iterations}`,
    )
}

/**
 * The credentials a server stores for `password`. Runs PBKDF2 off the event loop.
 * The password is prepared with SASLprep as a stored string (unassigned code points refused).
 */
export async function scramCredentials(
  password: string,
  options: CredentialOptions = {},
): Promise<ScramCredentials> {
  const iterations = options.iterations ?? MIN_ITERATIONS
  checkIterations(iterations)
  const salt = options.salt ?? randomBytes(SALT_SIZE)
  if (salt.length === 0) throw new ScramError(ScramErrorCode.BAD_CREDENTIALS, 'the salt is empty')
  saslprep(password, true)
  const salted = await saltedPassword(password, salt, iterations)
  return { salt, iterations, storedKey: sha256(clientKey(salted)), serverKey: serverKey(salted) }
}

/**
 * Whether `password` is the one `credentials` were made from: for a client that sends a
 * plain password (MQTT 3.1.1, or v5 without enhanced authentication) to a broker that keeps
 * only SCRAM credentials. Runs PBKDF2 off the event loop; compares in constant time.
 * A password SASLprep refuses is wrong.
 */
export async function verifyScramPassword(credentials: ScramCredentials, password: string): Promise<boolean> {
  let salted: Buffer
  try {
    salted = await saltedPassword(password, credentials.salt, credentials.iterations)
  } catch (err) {
    if (err instanceof ScramError) return false
    throw err
  }
  const stored = sha256(clientKey(salted))
  return stored.length === credentials.storedKey.length && timingSafeEqual(stored, credentials.storedKey)
}

const STORED = /^SCRAM-SHA-256\$([1-9][0-9]{0,9}):([^$:]+)\$([^$:]+):([^$:]+)$/

/**
 * Credentials as one line of text, in the format of RFC 5803 (and PostgreSQL):
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64 values.
 */
export function formatScramCredentials(c: ScramCredentials): string {
  const b64 = (b: Buffer) => b.toString('base64')
  return `${SCRAM_SHA_256}$${c.iterations}:${b64(c.salt)}$${b64(c.storedKey)}:${b64(c.serverKey)}`
}

/** The reverse of formatScramCredentials; throws ScramError(BAD_CREDENTIALS) on anything else. */
export function parseScramCredentials(s: string): ScramCredentials {
  const m = STORED.exec(s.trim())
  const bad = (why: string) =>
    new ScramError(ScramErrorCode.BAD_CREDENTIALS, `not SCRAM-SHA-256 credentials (${why})`)
  if (m === null) throw bad("expected 'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>'")
  const decode = (v: string, what: string): Buffer => {
    try {
      return decodeBase64(v, what)
    } catch {
      throw bad(`${what} is not base64`)
    }
  }
  const c = {
    iterations: Number(m[1]),
    salt: decode(m[2]!, 'salt'),
    storedKey: decode(m[3]!, 'StoredKey'),
    serverKey: decode(m[4]!, 'ServerKey'),
  }
  if (c.storedKey.length !== KEY_SIZE || c.serverKey.length !== KEY_SIZE) throw bad('keys are not 32 bytes')
  return c
}
