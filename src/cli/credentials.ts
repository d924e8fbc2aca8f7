import { stat } from 'node:fs/promises'
import { PasswordFile, passwordFileHooks } from '../auth/password-file-hooks.js'
import type { Authenticate, HookSet } from '../broker/options.js'
import { ConnectReturnCode } from '../protocol/constants.js'
import type { BrokerSettings } from './config.js'
import type { Reloadable } from './reload.js'
import { usersHooks } from './users.js'

const WORLD_READABLE = 0o004

/** The broker's credential source, as `petrel broker` runs it. */
export interface Credentials {
  readonly hooks: HookSet[]
  /** What SIGHUP reloads (the password file). */
  readonly reloadable: Reloadable[]
  /** For the start-up line: 'none', '2 users', 'password file ./passwd (3 users)'. */
  readonly description: string
  /** Lines to log as warnings at start (a password file every local user can read). */
  readonly warnings: string[]
}

/**
 * The hooks of the settings' credential source: the users map or the password file (the
 * config reader lets only one through), or, with neither, a refusal of clients without a
 * user name when allowAnonymous is false. A password file that cannot be read or parsed
 * is a ConfigError naming it and the line.
 */
export async function loadCredentials(settings: BrokerSettings): Promise<Credentials> {
  const { users, passwordFile, allowAnonymous } = settings
  if (passwordFile !== undefined) {
    const file = await PasswordFile.load(passwordFile)
    const name = `password file ${passwordFile}`
    const warnings: string[] = []
    // The hashes are cheap to attack offline (101 iterations): as Mosquitto 2.0.16 does, say so
    if (((await stat(passwordFile)).mode & WORLD_READABLE) !== 0) {
      warnings.push(
        `${name} can be read by every user of this machine; chmod 600 it (or 640 for the broker's group)`,
      )
    }
    return {
      hooks: [passwordFileHooks(file, { allowAnonymous })],
      reloadable: [{ name, reload: () => file.reload() }],
      description: `${name} (${file.size} users)`,
      warnings,
    }
  }
  if (users !== undefined) {
    return {
      hooks: usersHooks(users, allowAnonymous),
      reloadable: [],
      description: `${users.size} users`,
      warnings: [],
    }
  }
  if (allowAnonymous) return { hooks: [], reloadable: [], description: 'none', warnings: [] }
  // allowAnonymous: false with no credential source: as in Mosquitto, a client without a user
  // name is refused and one with a name comes in (a certificate's CN, with useIdentityAsUsername)
  const byCertificate = settings.listeners.some((l) => l.useIdentityAsUsername === true)
  return {
    hooks: [{ authenticate: namedOnly }],
    reloadable: [],
    description: 'none (clients without a user name are refused)',
    warnings: byCertificate
      ? []
      : [
          'allowAnonymous is false but there is no passwordFile: any client that gives a user name gets in; ' +
            'add a password file (petrel passwd -c FILE USER) or useIdentityAsUsername on a TLS listener',
        ],
  }
}

/** Refuses a client without a user name (CONNACK 5, MQTT 5 0x87); has no say on the others. */
const namedOnly: Authenticate = (_client, username, _password, auth) =>
  username === undefined && auth === undefined ? ConnectReturnCode.NOT_AUTHORIZED : undefined
