import { randomBytes } from 'node:crypto'
import { open, readFile, realpath, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { formatSecret, type PasswordLine, parseSecret, splitPasswordLines } from '../auth/password-file.js'
import { type HashOptions, hashPassword } from '../auth/password-hash.js'
import { ConfigError, PetrelError } from '../errors.js'

/** What `petrel passwd FILE ...` does to a password file. */
export type PasswdEdit =
  | { readonly op: 'set'; readonly username: string; readonly password: string }
  | { readonly op: 'delete'; readonly username: string }
  /** -U: hash every plain-text password. */
  | { readonly op: 'update' }

/** A password file that cannot be changed as asked (exit 1, as mosquitto_passwd exits). */
export class PasswdError extends PetrelError {
  constructor(message: string) {
    super('PETREL_PASSWD', message)
  }
}

/** A mode for a file this command creates: only its owner (the broker's user) reads it. */
const NEW_FILE_MODE = 0o600
const MAX_FIELD = 65_535

/** Refuses a user name that the file format or MQTT cannot hold (one line: what is wrong). */
export function checkUsername(username: string): void {
  const bad = (why: string): never => {
    throw new ConfigError('username', `the user name ${why}`)
  }
  if (username === '') bad('is empty')
  if (username.includes(':')) bad("must not contain ':'")
  if (/[\r\n\0]/.test(username)) bad('must not contain a line break or a NUL character')
  if (username.trim() !== username) bad('must not start or end with a blank')
  if (username.startsWith('#')) bad("must not start with '#' (the file would read it as a comment)")
  if (Buffer.byteLength(username) > MAX_FIELD) bad(`must be at most ${MAX_FIELD} bytes`)
}

export function checkPassword(password: string): void {
  if (password === '') throw new ConfigError('password', 'empty password')
  if (/[\r\n]/.test(password)) throw new ConfigError('password', 'the password must not contain a line break')
  if (Buffer.byteLength(password) > MAX_FIELD) {
    throw new ConfigError('password', `the password must be at most ${MAX_FIELD} bytes`)
  }
}

/**
 * The new text of a password file after `edit`. `text` is the file as it is (undefined:
 * a new file). Comments, blank lines, and other users' lines stay as they are and where
 * they are; a user whose password is set again keeps its place, a new user goes last.
 */
async function applyEdit(
  text: string | undefined,
  name: string,
  edit: PasswdEdit,
  hash: HashOptions,
): Promise<string> {
  const lines = text === undefined ? [] : splitPasswordLines(text, name)
  const out: string[] = []
  switch (edit.op) {
    case 'set': {
      const line = `${edit.username}:${formatSecret(await hashPassword(edit.password, hash))}`
      let placed = false
      for (const l of lines) {
        if (l.kind !== 'user' || l.username !== edit.username) out.push(l.text)
        else if (!placed) {
          out.push(line)
          placed = true
        }
      }
      if (!placed) out.push(line)
      break
    }
    case 'delete': {
      const kept = lines.filter((l) => l.kind !== 'user' || l.username !== edit.username)
      if (kept.length === lines.length) throw new PasswdError(`user ${edit.username} is not in ${name}`)
      out.push(...kept.map((l) => l.text))
      break
    }
    case 'update':
      for (const [i, l] of lines.entries()) out.push(await hashed(l, name, i + 1, hash))
      break
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`
}

/** -U: a line with a plain-text password, hashed; a hashed line, a comment or a blank line as it is. */
async function hashed(line: PasswordLine, name: string, n: number, hash: HashOptions): Promise<string> {
  if (line.kind !== 'user') return line.text
  if (!line.secret.startsWith('$')) {
    if (line.secret === '')
      throw new PasswdError(`${name}, line ${n}: user '${line.username}' has an empty password`)
    return `${line.username}:${formatSecret(await hashPassword(line.secret, hash))}`
  }
  const parsed = parseSecret(line.secret)
  if (typeof parsed === 'string')
    throw new PasswdError(`${name}, line ${n}: user '${line.username}': ${parsed}`)
  return line.text // already hashed: hashing the hash would lock the user out
}

/**
 * Changes a password file: reads it (unless `create`), applies `edit`, and writes the
 * result to a temporary file in the same directory that is then renamed over it, so a
 * broker reading the file sees the old one or the new one, never half of one. A new file
 * gets mode 0600; an existing one keeps its mode. A symbolic link is followed.
 */
export async function editPasswordFile(
  path: string,
  edit: PasswdEdit,
  options: { create: boolean; hash: HashOptions },
): Promise<void> {
  let target = path
  let text: string | undefined
  let mode = NEW_FILE_MODE
  try {
    target = await realpath(path)
    mode = (await stat(target)).mode & 0o7777
    if (!options.create) text = await readFile(target, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'ENOENT') throw new PasswdError(`cannot read password file ${path}: ${why(err)}`)
    if (!options.create) throw new PasswdError(missing(path))
  }
  let next: string
  try {
    next = await applyEdit(text, path, edit, options.hash)
  } catch (err) {
    if (err instanceof ConfigError && err.option === 'passwordFile') throw new PasswdError(err.message)
    throw err
  }
  await writeAtomically(target, next, mode)
}

/** Refuses a file that is not there (without -c), before anything is asked. */
export async function mustExist(path: string): Promise<void> {
  try {
    await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new PasswdError(missing(path))
    throw new PasswdError(`cannot read password file ${path}: ${why(err)}`)
  }
}

function missing(path: string): string {
  return `cannot open password file ${path}: no such file (give -c to create it)`
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    const file = await open(tmp, 'wx', mode)
    try {
      await file.chmod(mode) // open's mode is masked by the umask
      await file.writeFile(text, 'utf8')
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw new PasswdError(`cannot write password file ${path}: ${why(err)}`)
  }
}

function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'ENOENT') return 'no such directory'
  if (code === 'EISDIR') return 'it is a directory'
  return err instanceof Error ? err.message : String(err)
}
