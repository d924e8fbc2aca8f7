import type { AuthAnswer, Authenticate, ClientInfo, HookSet } from '../broker/options.js'
import { ReasonCode } from '../protocol/constants.js'
import { saslprep } from './saslprep.js'
import { SCRAM_SHA_256 } from './scram-keys.js'
import {
  resolveServerOptions,
  ScramServerExchange,
  type ScramServerOptions,
  type ScramStep,
} from './scram-server.js'

/** A broker hook set whose `authenticate` is always there. */
export interface ScramHookSet extends HookSet {
  authenticate: Authenticate
  /**
   * The user `client`'s connection proved to be with SCRAM, for authorization hooks: the
   * CONNECT's User Name (`client.username`) is optional and may be absent.
   */
  userOf(client: ClientInfo): string | undefined
}

export interface ScramHookOptions extends ScramServerOptions {
  /**
   * What to do with a CONNECT that names no authentication method (every MQTT 3.1.1
   * client, and v5 clients sending a plain user name and password): `'refuse'` (default)
   * answers Not authorized, so a broker with only this hook set admits SCRAM users only;
   * `'pass'` leaves the decision to the other authenticate hooks.
   */
  plain?: 'refuse' | 'pass'
}

/**
 * SCRAM-SHA-256 as a broker hook set: give it to `new Broker({ hooks: [scramServer({ lookup })] })`.
 * A v5 CONNECT with Authentication Method "SCRAM-SHA-256" and the client-first message
 * as Authentication Data is answered with AUTH 0x18 (server-first), then the client's AUTH
 * (client-final) with CONNACK 0 carrying server-final, or CONNACK 0x87 Not authorized
 * (wrong password, unknown user, replay) or 0x86 Bad user name or password (a message
 * that breaks RFC 5802's grammar). Re-authentication must be for the same user.
 */
export function scramServer(options: ScramHookOptions): ScramHookSet {
  const resolved = resolveServerOptions(options)
  const plain = options.plain ?? 'refuse'
  // The SCRAM user each connection authenticated as, so re-authentication cannot switch users
  const authenticated = new WeakMap<object, string>()

  const answer = (
    client: ClientInfo,
    username: string | undefined,
    exchange: ScramServerExchange,
    step: ScramStep,
  ): AuthAnswer | Promise<AuthAnswer> => {
    switch (step.kind) {
      case 'challenge':
        return {
          challenge: step.data,
          next: (data) => answer(client, username, exchange, exchange.clientFinal(data)),
        }
      case 'failure':
        return step.reason === 'malformed' ? ReasonCode.BAD_USER_NAME_OR_PASSWORD : ReasonCode.NOT_AUTHORIZED
      case 'success': {
        // The CONNECT's User Name, which authorization hooks see, must be the user SCRAM proved
        if (username !== undefined && saslprepOrNull(username) !== step.username)
          return ReasonCode.NOT_AUTHORIZED
        const before = authenticated.get(client)
        if (before !== undefined && before !== step.username) return ReasonCode.NOT_AUTHORIZED
        authenticated.set(client, step.username)
        return { success: step.data }
      }
    }
  }

  return {
    authenticate(client, username, _password, auth) {
      // undefined: no opinion, the other hooks decide
      if (auth === undefined) return plain === 'pass' ? undefined : ReasonCode.NOT_AUTHORIZED
      if (auth.method !== SCRAM_SHA_256) return undefined
      const exchange = new ScramServerExchange(resolved)
      return exchange.clientFirst(auth.data).then((step) => answer(client, username, exchange, step))
    },
    userOf: (client) => authenticated.get(client),
  }
}

function saslprepOrNull(s: string): string | null {
  try {
    return saslprep(s)
  } catch {
    return null
  }
}
