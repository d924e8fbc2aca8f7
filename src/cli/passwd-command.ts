import { ScramError } from '../auth/errors.js'
import {
  formatScramCredentials,
  MAX_ITERATIONS,
  MIN_ITERATIONS,
  scramCredentials,
} from '../auth/scram-keys.js'
import { ConfigError } from '../errors.js'
import { type FlagSpec, has, intFlag, parseArgs, usage } from './args.js'
import { readAll } from './stdin.js'

const FLAGS: FlagSpec[] = [
  {
    name: 'iterations',
    short: 'i',
    value: true,
    arg: 'count',
    help: `PBKDF2 iterations (default ${MIN_ITERATIONS})`,
  },
  { name: 'help', short: 'h', value: false, help: 'print this help' },
]

const TITLE = `Usage: petrel passwd [--iterations count] < password

Prints the SCRAM-SHA-256 credentials of the password read from standard input (its first line), as one
line 'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>' (RFC 5803), for a user database that
scramServer({ lookup }) reads with parseScramCredentials. The password itself is not kept.`

/** `petrel passwd`: makes SCRAM-SHA-256 credentials. */
export async function runPasswd(
  argv: string[],
  stdin: AsyncIterable<Buffer | string> = process.stdin,
): Promise<number> {
  try {
    const args = parseArgs(argv, FLAGS)
    if (has(args, 'help')) {
      process.stdout.write(usage(TITLE, FLAGS))
      return 0
    }
    if (args.positionals.length > 0)
      throw new ConfigError('password', 'give the password on standard input, not as an argument')
    const iterations = intFlag(args, 'iterations', MIN_ITERATIONS, MIN_ITERATIONS, MAX_ITERATIONS)
    const password = firstLine((await readAll(stdin)).toString('utf8'))
    if (password.length === 0) throw new ConfigError('password', 'standard input holds no password')
    process.stdout.write(`${formatScramCredentials(await scramCredentials(password, { iterations }))}\n`)
    return 0
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof ScramError)) throw err
    process.stderr.write(`petrel passwd: ${err.message}\n`)
    return 2
  }
}

function firstLine(s: string): string {
  const nl = s.indexOf('\n')
  const line = nl < 0 ? s : s.slice(0, nl)
  return line.endsWith('\r') ? line.slice(0, -1) : line
}
