import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { AuthHandler } from '../client/options.js'
import { ScramError, ScramErrorCode } from './errors.js'
import { saslprep } from './saslprep.js'
import {
  clientKey,
  hmac,
  MAX_ITERATIONS,
  MIN_ITERATIONS,
  SCRAM_SHA_256,
  saltedPassword,
  serverKey,
  sha256,
  xor,
} from './scram-keys.js'
import {
  formatClientFinalWithoutProof,
  formatClientFirstBare,
  GS2_HEADER,
  parseServerFinal,
  parseServerFirst,
} from './scram-messages.js'

export interface ScramClientOptions {
  /** The client's nonce (printable ASCII but ','), fresh for every exchange. Default: 18 random bytes in base64. */
  nonce?: () => string
  /** Fewest iterations accepted from the server. Default 4096 (RFC 7677 section 4). */
  minIterations?: number
  /** Most iterations computed for the server. Default 1,000,000. */
  maxIterations?: number
}

/** The enhanced authentication handler a Petrel client takes as its `auth` option. */
export interface ScramAuthHandler extends AuthHandler {
  readonly method: typeof SCRAM_SHA_256
  start(): Buffer
  challenge(data: Buffer | undefined): Promise<Buffer>
  done(data: Buffer | undefined): void
}

type State =
  | { readonly name: 'idle' }
  | { readonly name: 'awaiting-server-first'; readonly bare: string; readonly nonce: string }
  | { readonly name: 'awaiting-server-final'; readonly signature: Buffer }

function defaultNonce(): string {
  return randomBytes(18).toString('base64')
}

function fail(code: ScramErrorCode, message: string): never {
  throw new ScramError(code, message)
}

/**
 * The client side of SCRAM-SHA-256 (RFC 5802 section 5) as an MQTT 5 enhanced
 * authentication handler: `start` gives the client-first message for CONNECT (or for
 * AUTH 0x19 when re-authenticating), `challenge` answers the server-first message with
 * the proof, `done` checks the server's signature, so the server proves it knows the
 * credentials too (mutual authentication). Every start begins a new exchange with a
 * new nonce. The password is kept in memory for re-authentication.
 */
export function scramClient(
  username: string,
  password: string,
  options: ScramClientOptions = {},
): ScramAuthHandler {
  const name = saslprep(username)
  if (name.length === 0) fail(ScramErrorCode.SASLPREP, 'the user name is empty after SASLprep')
  saslprep(password)
  const nonce = options.nonce ?? defaultNonce
  const min = options.minIterations ?? MIN_ITERATIONS
  const max = options.maxIterations ?? MAX_ITERATIONS
  let state: State = { name: 'idle' }

  return {
    method: SCRAM_SHA_256,

    start(): Buffer {
      const n = nonce()
      if (!/^[\x21-\x2B\x2D-\x7E]+$/.test(n))
        throw new TypeError('a SCRAM nonce must be printable ASCII without ","')
      const bare = formatClientFirstBare(name, n)
      state = { name: 'awaiting-server-first', bare, nonce: n }
      return Buffer.from(GS2_HEADER + bare)
    },

    async challenge(data: Buffer | undefined): Promise<Buffer> {
      const s = state
      state = { name: 'idle' }
      if (s.name !== 'awaiting-server-first')
        fail(ScramErrorCode.UNEXPECTED, 'the server sent a SCRAM challenge when none was expected')
      const first = parseServerFirst(data)
      // [RFC 5802 section 5.1, r] the server's nonce extends ours, by at least one character
      if (!first.nonce.startsWith(s.nonce) || first.nonce.length === s.nonce.length)
        fail(ScramErrorCode.NONCE_MISMATCH, "the server's nonce does not extend the client's")
      if (first.iterations < min || first.iterations > max)
        fail(
          ScramErrorCode.ITERATIONS,
          `the server asks for ${first.iterations} iterations; this client accepts ${min} to ${max}`,
        )
      const salted = await saltedPassword(password, first.salt, first.iterations)
      const withoutProof = formatClientFinalWithoutProof(GS2_HEADER, first.nonce)
      const authMessage = `${s.bare},${first.message},${withoutProof}`
      const key = clientKey(salted)
      const proof = xor(key, hmac(sha256(key), authMessage))
      state = { name: 'awaiting-server-final', signature: hmac(serverKey(salted), authMessage) }
      return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`)
    },

    done(data: Buffer | undefined): void {
      const s = state
      state = { name: 'idle' }
      if (s.name !== 'awaiting-server-final')
        fail(ScramErrorCode.UNEXPECTED, 'the server accepted before the SCRAM exchange was complete')
      const final = parseServerFinal(data)
      if (!final.ok) fail(ScramErrorCode.SERVER_ERROR, `the server refused: ${final.error}`)
      if (!timingSafeEqual(final.signature, s.signature))
        fail(
          ScramErrorCode.SERVER_SIGNATURE,
          "the server's signature does not verify: it does not know the credentials",
        )
    },
  }
}
