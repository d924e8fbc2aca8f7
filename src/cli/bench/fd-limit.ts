import { readdirSync, readFileSync } from 'node:fs'

/** Descriptors kept free besides the connections (stdio, the event loop, DNS, a log file...). */
const SPARE_FDS = 32

/**
 * Why `connections` sockets cannot be opened by this process, in one line, or
 * undefined when they fit (or the limit cannot be read: not Linux). Checked
 * before the first connection: past the limit every further connect fails with
 * EMFILE, which reads like a broker failure.
 */
export function fdShortage(connections: number): string | undefined {
  const limit = openFilesLimit()
  if (limit === undefined) return undefined
  let inUse = 0
  try {
    inUse = readdirSync('/proc/self/fd').length
  } catch {
    return undefined
  }
  const free = limit - inUse - SPARE_FDS
  if (connections <= free) return undefined
  const want = connections + inUse + SPARE_FDS
  return (
    `${connections} connections need as many file descriptors, but this process may open ${limit} ` +
    `(${inUse} in use): raise the limit with ulimit -n ${want} (or more) in the shell that runs petrel bench`
  )
}

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at startup), from /proc. */
function openFilesLimit(): number | undefined {
  let text: string
  try {
    text = readFileSync('/proc/self/limits', 'utf8')
  } catch {
    return undefined
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'))
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
  if (soft === undefined || soft === 'unlimited') return undefined
  const n = Number(soft)
  return Number.isSafeInteger(n) ? n : undefined
}
