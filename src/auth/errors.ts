import { PetrelError } from '../errors.js'

/** Stable codes of SCRAM failures. */
export const ScramErrorCode = {
  /** A SCRAM message does not follow the grammar of RFC 5802 section 7, or asks for what we do not support. */
  MALFORMED: 'PETREL_SCRAM_MALFORMED',
  /** A user name or password that SASLprep (RFC 4013) prohibits. */
  SASLPREP: 'PETREL_SCRAM_SASLPREP',
  /** The server's nonce does not extend the client's. */
  NONCE_MISMATCH: 'PETREL_SCRAM_NONCE_MISMATCH',
  /** The server asked for an iteration count outside the bounds the client accepts. */
  ITERATIONS: 'PETREL_SCRAM_ITERATIONS',
  /** The server's signature does not verify: it does not know the password (RFC 5802 section 3). */
  SERVER_SIGNATURE: 'PETREL_SCRAM_SERVER_SIGNATURE',
  /** The server answered with `e=...` (RFC 5802 section 7, server-error). */
  SERVER_ERROR: 'PETREL_SCRAM_SERVER_ERROR',
  /** A message came when the exchange was not waiting for one. */
  UNEXPECTED: 'PETREL_SCRAM_UNEXPECTED',
  /** Stored credentials that do not parse. */
  BAD_CREDENTIALS: 'PETREL_SCRAM_BAD_CREDENTIALS',
} as const
export type ScramErrorCode = (typeof ScramErrorCode)[keyof typeof ScramErrorCode]

/** A SCRAM exchange failed; `code` says why. */
export class ScramError extends PetrelError {
  declare readonly code: ScramErrorCode
  constructor(code: ScramErrorCode, message: string) {
    super(code, message)
  }
}
