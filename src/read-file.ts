import { readFile } from 'node:fs/promises'
import { ConfigError } from './errors.js'

/** Why a file a user named cannot be read, in a few words ('no such file', 'permission denied' ...). */
export function unreadable(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file'
    case 'EACCES':
      return 'permission denied'
    case 'EISDIR':
      return 'a directory, not a file'
    case 'ENOTDIR':
      return 'not a directory'
    default:
      return (err as Error).message
  }
}

/**
 * Reads a file a user named (a config, password, ACL or certificate file): a ConfigError for
 * `option` saying "cannot read <what> <path>: <why>" when it cannot be read.
 */
export async function readUserFile(path: string, option: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new ConfigError(option, `cannot read ${what} ${path}: ${unreadable(err)}`)
  }
}
