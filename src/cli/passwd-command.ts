import { ScramError } from '../auth/errors.js'
import { MAX_PASSWORD_ITERATIONS, MOSQUITTO_ITERATIONS } from '../auth/password-file.js'
import type { HashOptions } from '../auth/password-hash.js'
import {
  formatScramCredentials,
  MAX_ITERATIONS,
  MIN_ITERATIONS,
  scramCredentials,
} from '../auth/scram-keys.js'
import { ConfigError } from '../errors.js'
import { type FlagSpec, has, intFlag, last, type ParsedArgs, parseArgs, usage } from './args.js'
import {
  checkPassword,
  checkUsername,
  editPasswordFile,
  mustExist,
  type PasswdEdit,
  PasswdError,
} from './passwd-file.js'
import { PromptAborted, readNewPassword } from './prompt.js'
import { readAll } from './stdin.js'

const FLAGS: FlagSpec[] = [
  { name: 'create', short: 'c', value: false, help: 'create the password file (overwrites an existing one)' },
  { name: 'batch', short: 'b', value: false, help: 'take the password from the command line' },
  { name: 'delete', short: 'D', value: false, help: 'delete the user' },
  {
    name: 'update',
    short: 'U',
    value: false,
    help: "hash a plain-text file's passwords (user:password lines)",
  },
  {
    name: 'hash',
    short: 'H',
    value: true,
    arg: 'algorithm',
    help: 'sha512-pbkdf2 ($7$, the default) or sha512 ($6$, Mosquitto 1.6)',
  },
  {
    name: 'iterations',
    short: 'i',
    value: true,
    arg: 'count',
    help: `PBKDF2 iterations (default ${MOSQUITTO_ITERATIONS} in a file, ${MIN_ITERATIONS} with --scram)`,
  },
  { name: 'scram', value: false, help: 'print SCRAM-SHA-256 credentials (the default without FILE)' },
  { name: 'help', short: 'h', value: false, help: 'print this help' },
]

const TITLE = `Usage: petrel passwd [-c | -D] FILE USER          asks for the password twice
       petrel passwd [-c] -b FILE USER PASSWORD
       petrel passwd -U FILE
       petrel passwd [--scram] [-i count] < password

With FILE: manages a Mosquitto password file, as mosquitto_passwd does. Each user is one line
'user:$7$<iterations>$<salt>$<hash>' (PBKDF2-HMAC-SHA512, what mosquitto_passwd 2.0 writes), which
'petrel broker --password-file FILE' and Mosquitto's password_file both read. Without -b the password is
asked for twice on a terminal, or read from the first two lines of standard input (they must match).
Other users' lines, comments and their order are kept; the file is replaced in one step (a new file
gets mode 0600). -U hashes every plain-text password and leaves hashed lines as they are.

Without FILE (or with --scram): prints the SCRAM-SHA-256 credentials of the password read from standard
input (its first line), as one line 'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>'
(RFC 5803), for a user database that scramServer({ lookup }) reads with parseScramCredentials, or a
user's value in petrel broker's users map. The password itself is not kept.`

/** Flags that only make sense with a password file. */
const FILE_FLAGS = ['create', 'batch', 'delete', 'update', 'hash'] as const

/** Exit codes: 1 when the file cannot be changed as asked (as mosquitto_passwd), 2 for bad usage. */
const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const

/** `petrel passwd`: edits a Mosquitto password file, or prints SCRAM-SHA-256 credentials. */
export async function runPasswd(
  argv: string[],
  stdin: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
): Promise<number> {
  try {
    const args = parseArgs(argv, FLAGS)
    if (has(args, 'help')) {
      process.stdout.write(usage(TITLE, FLAGS))
      return EXIT.OK
    }
    const fileMode = args.positionals.length > 0 || FILE_FLAGS.some((f) => has(args, f))
    if (has(args, 'scram') || !fileMode) await printScram(args, stdin as AsyncIterable<Buffer>)
    else await editFile(args, stdin)
    return EXIT.OK
  } catch (err) {
    if (err instanceof PromptAborted) return 130
    if (!(err instanceof ConfigError || err instanceof ScramError || err instanceof PasswdError)) throw err
    process.stderr.write(`petrel passwd: ${err.message}\n`)
    return err instanceof PasswdError ? EXIT.FAILED : EXIT.USAGE
  }
}

async function editFile(args: ParsedArgs, stdin: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<void> {
  const create = has(args, 'create')
  const batch = has(args, 'batch')
  const del = has(args, 'delete')
  const update = has(args, 'update')
  const [file, username, password, ...extra] = args.positionals
  const usageError = (why: string): ConfigError =>
    new ConfigError('passwd', `${why}; run 'petrel passwd --help' for the forms`)
  if (create && del) throw usageError('-c and -D exclude each other')
  if (update && (create || batch || del)) throw usageError('-U takes no -c, -b or -D')
  if (extra.length > 0) throw usageError(`unexpected argument '${extra[0]}'`)
  if (file === undefined || file === '') throw usageError('give the password file')
  const hash = hashOptions(args)
  if (update) {
    if (username !== undefined) throw usageError(`-U takes only the file; unexpected '${username}'`)
    return editPasswordFile(file, { op: 'update' }, { create: false, hash })
  }
  if (username === undefined) {
    throw usageError(`give the user name after ${file} (SCRAM credentials: petrel passwd --scram < password)`)
  }
  checkUsername(username)
  let edit: PasswdEdit | undefined
  if (del) {
    if (password !== undefined) throw usageError(`-D takes no password; unexpected '${password}'`)
    edit = { op: 'delete', username }
  } else if (batch) {
    if (password === undefined) throw usageError('-b needs the password after the user name')
    checkPassword(password)
    edit = { op: 'set', username, password }
  } else if (password !== undefined) {
    throw usageError('give -b to pass the password on the command line')
  }
  if (!create) await mustExist(file) // before asking for a password
  if (edit === undefined) {
    const typed = await readNewPassword(stdin)
    checkPassword(typed)
    edit = { op: 'set', username, password: typed }
  }
  await editPasswordFile(file, edit, { create, hash })
}

function hashOptions(args: ParsedArgs): HashOptions {
  const algorithm = last(args, 'hash') ?? 'sha512-pbkdf2'
  if (algorithm !== 'sha512-pbkdf2' && algorithm !== 'sha512') {
    throw new ConfigError('hash', `-H must be sha512-pbkdf2 or sha512; got '${algorithm}'`)
  }
  if (algorithm === 'sha512') {
    if (has(args, 'iterations')) throw new ConfigError('iterations', '-H sha512 takes no iteration count')
    return { kind: 'sha512' }
  }
  const iterations = intFlag(
    args,
    'iterations',
    MOSQUITTO_ITERATIONS,
    MOSQUITTO_ITERATIONS,
    MAX_PASSWORD_ITERATIONS,
  )
  return { kind: 'pbkdf2-sha512', iterations }
}

async function printScram(args: ParsedArgs, stdin: AsyncIterable<Buffer>): Promise<void> {
  if (args.positionals.length > 0)
    throw new ConfigError('password', '--scram reads the password on standard input, not as an argument')
  const bad = FILE_FLAGS.find((f) => has(args, f))
  if (bad !== undefined) throw new ConfigError(bad, `--${bad} needs a password file, not --scram`)
  const iterations = intFlag(args, 'iterations', MIN_ITERATIONS, MIN_ITERATIONS, MAX_ITERATIONS)
  const password = firstLine((await readAll(stdin)).toString('utf8'))
  if (password.length === 0) throw new ConfigError('password', 'standard input holds no password')
  process.stdout.write(`${formatScramCredentials(await scramCredentials(password, { iterations }))}\n`)
}

function firstLine(s: string): string {
  const nl = s.indexOf('\n')
  const line = nl < 0 ? s : s.slice(0, nl)
  return line.endsWith('\r') ? line.slice(0, -1) : line
}
