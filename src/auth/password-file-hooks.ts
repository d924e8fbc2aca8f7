import type { HookSet } from '../broker/options.js'
import { ConnectReturnCode } from '../protocol/constants.js'
import { readUserFile } from '../read-file.js'
import { type PasswordHash, parsePasswordFile } from './password-file.js'
import { decoyHash, verifyPassword } from './password-hash.js'

export interface PasswordFileOptions {
  /** Checks one password against one stored hash. Default: verifyPassword (tests give a spy). */
  verify?: (stored: PasswordHash, password: Buffer) => Promise<boolean>
}

/** The users of a file, with the decoy that unknown names are checked against. */
interface Table {
  readonly users: ReadonlyMap<string, PasswordHash>
  readonly decoy: PasswordHash
}

function table(users: Map<string, PasswordHash>): Table {
  return { users, decoy: decoyHash(users.values()) }
}

const NO_PASSWORD = Buffer.alloc(0)

/**
 * A Mosquitto password file, loaded whole, and swapped whole on reload: a file that
 * cannot be read or parsed is refused (reload throws) and the users in use stay.
 */
export class PasswordFile {
  private current: Table
  private readonly verify: (stored: PasswordHash, password: Buffer) => Promise<boolean>

  private constructor(
    /** The file (as given), or the name the text was given under. */
    readonly path: string,
    users: Map<string, PasswordHash>,
    options: PasswordFileOptions,
  ) {
    this.current = table(users)
    this.verify = options.verify ?? verifyPassword
  }

  /** Reads and parses the file; a ConfigError names the file (and the line) when it is not right. */
  static async load(path: string, options: PasswordFileOptions = {}): Promise<PasswordFile> {
    return new PasswordFile(path, await read(path), options)
  }

  /** A password file from its text; `name` appears in error messages. */
  static fromText(text: string, name: string, options: PasswordFileOptions = {}): PasswordFile {
    return new PasswordFile(name, parsePasswordFile(text, name), options)
  }

  /** Reads the file again and swaps it in; throws (a ConfigError) and keeps the users in use if it is not right. */
  async reload(): Promise<void> {
    this.current = table(await read(this.path))
  }

  /** Users in the file. */
  get size(): number {
    return this.current.users.size
  }

  /** What an unknown user name is checked against (for tests: see decoyHash). */
  get decoy(): PasswordHash {
    return this.current.decoy
  }

  /**
   * Whether `username` is in the file and `password` is its password. An unknown name, or
   * a missing password, runs the same check against the decoy (or the user's own hash), so
   * the answer takes as long whether or not the user exists.
   */
  async check(username: string, password: Buffer | undefined): Promise<boolean> {
    const { users, decoy } = this.current
    const stored = users.get(username)
    const ok = await this.verify(stored ?? decoy, password ?? NO_PASSWORD)
    return ok && stored !== undefined && password !== undefined
  }
}

async function read(path: string): Promise<Map<string, PasswordHash>> {
  return parsePasswordFile((await readUserFile(path, 'passwordFile', 'password file')).toString('utf8'), path)
}

export interface PasswordFileHookOptions {
  /** Let clients without a user name in. */
  allowAnonymous: boolean
}

/**
 * The password file as a broker hook set. A client with a user name must give that
 * user's password; a wrong or missing one, or an unknown user, is refused with CONNACK 5
 * (Not authorized; 0x87 for MQTT 5), as Mosquitto 2.0 answers. A client without a user
 * name comes in only with `allowAnonymous`. A client using MQTT 5 enhanced authentication
 * is not this hook's to judge: it answers `undefined` and leaves it to the hook that
 * knows the method (with none, the broker refuses the method). Nor is a client whose
 * verified certificate is its identity (useIdentityAsUsername): the file is not asked,
 * as Mosquitto does not ask its password_file on such a listener.
 */
export function passwordFileHooks(file: PasswordFile, options: PasswordFileHookOptions): HookSet {
  const refused = ConnectReturnCode.NOT_AUTHORIZED
  return {
    authenticate(client, username, password, auth) {
      if (auth !== undefined || client.certificateIdentity !== undefined) return undefined
      if (username === undefined) return options.allowAnonymous ? true : refused
      return file.check(username, password).then((ok) => (ok ? true : refused))
    },
  }
}
