import { createHash, timingSafeEqual } from 'node:crypto'
import { SCRAM_SHA_256, type ScramCredentials, scramServer, verifyScramPassword } from '../auth/scram.js'
import { parseScramCredentials } from '../auth/scram-keys.js'
import type { Authenticate, HookSet } from '../broker/options.js'
import { ConnectReturnCode } from '../protocol/constants.js'

function digest(b: Buffer | string): Buffer {
  return createHash('sha256').update(b).digest()
}

/** A `users:` value that holds SCRAM-SHA-256 credentials (from `petrel passwd --scram`) rather than a password. */
function isScramValue(value: string): boolean {
  return value.startsWith(`${SCRAM_SHA_256}$`)
}

/**
 * The `users:` map of a config file as broker hook sets. A user's value is a password, or
 * SCRAM-SHA-256 credentials made by `petrel passwd --scram` (the config then holds no password):
 * such a user connects with MQTT 5 enhanced authentication (SCRAM-SHA-256), or with the
 * plain password, checked against the credentials. Values are checked by the config reader.
 */
export function usersHooks(users: ReadonlyMap<string, string>, allowAnonymous: boolean): HookSet[] {
  const scram = new Map<string, ScramCredentials>()
  for (const [name, value] of users) if (isScramValue(value)) scram.set(name, parseScramCredentials(value))
  const hooks: HookSet[] = [{ authenticate: usersAuthenticator(users, allowAnonymous, scram) }]
  if (scram.size > 0) hooks.push(scramServer({ lookup: (name) => scram.get(name), plain: 'pass' }))
  return hooks
}

/**
 * The `users:` map as an Authenticate hook for plain user names and passwords. A wrong
 * or missing password is refused with CONNACK 5 (not authorised), as Mosquitto does:
 * MQTT 3.1.1 keeps 4 for malformed credentials. Passwords are compared as digests in
 * constant time, so timing tells nothing about them; users kept as SCRAM credentials
 * are checked with PBKDF2, and while there are any, every other name pays the same PBKDF2.
 * Enhanced authentication (MQTT 5 `auth`) is not this hook's: it has no opinion; nor is a
 * client a verified certificate identifies (useIdentityAsUsername: the certificate is its proof).
 */
export function usersAuthenticator(
  users: ReadonlyMap<string, string>,
  allowAnonymous: boolean,
  scram: ReadonlyMap<string, ScramCredentials> = new Map(),
): Authenticate {
  const known = new Map<string, Buffer>()
  for (const [name, pw] of users) if (!scram.has(name)) known.set(name, digest(pw))
  const decoy = scram.values().next().value
  const plain = (username: string, password: Buffer | undefined): true | number => {
    const expected = known.get(username)
    const given = digest(password ?? Buffer.alloc(0))
    if (expected === undefined) return ConnectReturnCode.NOT_AUTHORIZED
    return timingSafeEqual(expected, given) ? true : ConnectReturnCode.NOT_AUTHORIZED
  }
  return (client, username, password, auth) => {
    if (auth !== undefined || client.certificateIdentity !== undefined) return undefined
    if (username === undefined) return allowAnonymous ? true : ConnectReturnCode.NOT_AUTHORIZED
    const text = (password ?? Buffer.alloc(0)).toString('utf8')
    const creds = scram.get(username)
    if (creds !== undefined)
      return verifyScramPassword(creds, text).then((ok) => (ok ? true : ConnectReturnCode.NOT_AUTHORIZED))
    if (decoy === undefined) return plain(username, password)
    // The same PBKDF2 for every other name, so timing does not tell which users exist
    return verifyScramPassword(decoy, text).then(() => plain(username, password))
  }
}
