import { randomBytes, timingSafeEqual } from 'node:crypto'
import { ScramError, ScramErrorCode } from './errors.js'
import { saslprep } from './saslprep.js'
import { hmac, MIN_ITERATIONS, type ScramCredentials, sha256, xor } from './scram-keys.js'
import { type ClientFirst, formatServerFirst, parseClientFinal, parseClientFirst } from './scram-messages.js'

type Answer<T> = T | Promise<T>

export interface ScramServerOptions {
  /**
   * The stored credentials of `username` (after SASLprep and unescaping), or undefined
   * when there is no such user. An unknown user is answered exactly as a known one with
   * a wrong password: same messages, same work.
   */
  lookup(username: string): Answer<ScramCredentials | undefined>
  /**
   * The server's part of the nonce (printable ASCII but ','), fresh for every exchange.
   * Default: 18 random bytes in base64. Tests inject fixed ones.
   */
  nonce?: () => string
  /**
   * Key from which the fake salt of unknown users is derived (HMAC of the user name), so
   * that asking twice for the same unknown user gives the same salt, as for a real one.
   * Default: random per server, so fake salts change when the process restarts; give a
   * fixed secret of 32 random bytes to keep them across restarts.
   */
  secret?: Buffer
  /** Iteration count announced for unknown users: use the one your real users have. Default 4096. */
  iterations?: number
}

/** How one exchange ended, or what it answers now. */
export type ScramStep =
  | { readonly kind: 'challenge'; readonly data: Buffer }
  | { readonly kind: 'success'; readonly data: Buffer; readonly username: string }
  /** `malformed`: the message broke RFC 5802's grammar; `unauthorized`: wrong proof, unknown user, replay. */
  | { readonly kind: 'failure'; readonly reason: 'malformed' | 'unauthorized'; readonly message: string }

type State =
  | { readonly name: 'awaiting-client-first' }
  | {
      readonly name: 'awaiting-client-final'
      readonly first: ClientFirst
      readonly serverFirst: string
      readonly nonce: string
      readonly credentials: ScramCredentials
    }
  | { readonly name: 'done' }

const FAKE_SALT_SIZE = 16
const KEY_SIZE = 32

function defaultNonce(): string {
  return randomBytes(18).toString('base64')
}

/**
 * The server side of one SCRAM-SHA-256 exchange (RFC 5802 section 5): client-first in,
 * server-first out; client-final in, server-final out or a failure. No I/O besides
 * `lookup`; one instance per exchange.
 */
export class ScramServerExchange {
  private state: State = { name: 'awaiting-client-first' }
  private readonly options: Required<ScramServerOptions>

  constructor(options: Required<ScramServerOptions>) {
    this.options = options
  }

  /** The client-first message: answers with server-first, or a failure. */
  async clientFirst(data: Buffer | undefined): Promise<ScramStep> {
    if (this.state.name !== 'awaiting-client-first') return this.unexpected()
    this.state = { name: 'done' }
    let first: ClientFirst
    let username: string
    try {
      first = parseClientFirst(data)
      username = saslprep(first.username)
      // [RFC 5802 section 5.1] a name empty after preparation fails the exchange
      if (username.length === 0) throw new ScramError(ScramErrorCode.MALFORMED, 'the user name is empty')
    } catch (err) {
      return failure('malformed', err)
    }
    // The fake is made for every user, so a known one costs the same as an unknown one
    const fake = this.fake(username)
    const credentials = checked((await this.options.lookup(username)) ?? fake)
    const nonce = first.nonce + this.serverNonce()
    const serverFirst = formatServerFirst({
      nonce,
      salt: credentials.salt,
      iterations: credentials.iterations,
    })
    this.state = {
      name: 'awaiting-client-final',
      first: { ...first, username },
      serverFirst,
      nonce,
      credentials,
    }
    return { kind: 'challenge', data: Buffer.from(serverFirst) }
  }

  /** The client-final message: verifies the proof; answers with server-final (`v=`) or a failure. */
  clientFinal(data: Buffer | undefined): ScramStep {
    const state = this.state
    if (state.name !== 'awaiting-client-final') return this.unexpected()
    this.state = { name: 'done' }
    let final: ReturnType<typeof parseClientFinal>
    try {
      final = parseClientFinal(data)
    } catch (err) {
      return failure('malformed', err)
    }
    // No channel binding: c= must repeat the GS2 header [RFC 5802 section 5.1, c]
    if (!final.channelBinding.equals(Buffer.from(state.first.gs2Header)))
      return failure('unauthorized', 'the channel binding does not repeat the GS2 header')
    // A client-final from another exchange carries that exchange's nonce: a replay
    if (final.nonce !== state.nonce) return failure('unauthorized', "the nonce is not this exchange's")
    const authMessage = `${state.first.bare},${state.serverFirst},${final.withoutProof}`
    const { storedKey, serverKey } = state.credentials
    const key = xor(final.proof, hmac(storedKey, authMessage))
    // Compared in constant time: timing must not tell how much of a proof was right
    if (!timingSafeEqual(sha256(key), storedKey)) return failure('unauthorized', 'the proof does not verify')
    const signature = hmac(serverKey, authMessage)
    return {
      kind: 'success',
      data: Buffer.from(`v=${signature.toString('base64')}`),
      username: state.first.username,
    }
  }

  private serverNonce(): string {
    const n = this.options.nonce()
    if (!/^[\x21-\x2B\x2D-\x7E]+$/.test(n))
      throw new TypeError('a SCRAM nonce must be printable ASCII without ","')
    return n
  }

  /**
   * Credentials for a user that does not exist, derived from its name: a stable salt,
   * keys no password gives, so the exchange runs to the failed proof like a wrong password.
   */
  private fake(username: string): ScramCredentials {
    const { secret, iterations } = this.options
    return {
      salt: hmac(secret, `salt\0${username}`).subarray(0, FAKE_SALT_SIZE),
      iterations,
      storedKey: hmac(secret, `stored\0${username}`),
      serverKey: hmac(secret, `server\0${username}`),
    }
  }

  private unexpected(): ScramStep {
    this.state = { name: 'done' }
    return failure('malformed', 'a SCRAM message came out of order')
  }
}

/** Credentials from `lookup` must have 32-byte keys (a wrong shape is a bug in the user database). */
function checked(c: ScramCredentials): ScramCredentials {
  if (c.storedKey.length !== KEY_SIZE || c.serverKey.length !== KEY_SIZE || c.salt.length === 0)
    throw new ScramError(
      ScramErrorCode.BAD_CREDENTIALS,
      'lookup returned credentials without 32-byte keys or salt',
    )
  return c
}

function failure(reason: 'malformed' | 'unauthorized', err: unknown): ScramStep {
  return { kind: 'failure', reason, message: err instanceof Error ? err.message : String(err) }
}

/** Options with their defaults. */
export function resolveServerOptions(options: ScramServerOptions): Required<ScramServerOptions> {
  const iterations = options.iterations ?? MIN_ITERATIONS
  if (!Number.isSafeInteger(iterations) || iterations < 1)
    throw new ScramError(
      ScramErrorCode.ITERATIONS,
      `iterations must be a positive integer, not ${iterations}`,
    )
  return {
    lookup: options.lookup,
    nonce: options.nonce ?? defaultNonce,
    secret: options.secret ?? randomBytes(32),
    iterations,
  }
}
