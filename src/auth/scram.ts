/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677): Petrel's built-in MQTT 5 enhanced authentication
 * method, for both ends: `scramServer` (a broker hook set), `scramClient` (a client auth
 * handler) and `scramCredentials` (what a user database stores instead of passwords).
 */
export { ScramError, ScramErrorCode } from './errors.js'
export { saslprep } from './saslprep.js'
export { type ScramAuthHandler, type ScramClientOptions, scramClient } from './scram-client.js'
export { type ScramHookOptions, type ScramHookSet, scramServer } from './scram-hook.js'
export {
  type CredentialOptions,
  formatScramCredentials,
  parseScramCredentials,
  SCRAM_SHA_256,
  type ScramCredentials,
  scramCredentials,
  verifyScramPassword,
} from './scram-keys.js'
export { ScramServerExchange, type ScramServerOptions, type ScramStep } from './scram-server.js'
