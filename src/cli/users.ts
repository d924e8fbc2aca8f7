import { createHash, timingSafeEqual } from 'node:crypto'
import type { Authenticate } from '../broker/options.js'
import { ConnectReturnCode } from '../protocol/constants.js'

function digest(b: Buffer | string): Buffer {
  return createHash('sha256').update(b).digest()
}

/**
 * The `users:` map of a config file as an Authenticate hook. A wrong or
 * missing password is refused with CONNACK 5 (not authorised), as Mosquitto
 * does: MQTT 3.1.1 keeps 4 for malformed credentials. Passwords are compared
 * as digests in constant time, so timing tells nothing about them.
 */
export function usersAuthenticator(
  users: ReadonlyMap<string, string>,
  allowAnonymous: boolean,
): Authenticate {
  const known = new Map<string, Buffer>()
  for (const [name, pw] of users) known.set(name, digest(pw))
  return (_client, username, password) => {
    if (username === undefined) return allowAnonymous ? true : ConnectReturnCode.NOT_AUTHORIZED
    const expected = known.get(username)
    const given = digest(password ?? Buffer.alloc(0))
    if (expected === undefined) return ConnectReturnCode.NOT_AUTHORIZED
    return timingSafeEqual(expected, given) ? true : ConnectReturnCode.NOT_AUTHORIZED
  }
}
