import { resolve } from 'node:path'
import { Broker } from '../broker/broker.js'
import type { Logger } from '../broker/options.js'
import { MemoryStore } from '../store/memory/memory-store.js'
import { SqliteStore } from '../store/sqlite/sqlite-store.js'
import type { Store } from '../store/store.js'
import { type FlagSpec, intFlag, parseArgs, usage } from './args.js'

const FLAGS: FlagSpec[] = [
  { name: 'port', short: 'p', value: true, help: 'TCP port to listen on (default 1883)' },
  { name: 'host', value: true, help: 'address to listen on (default 127.0.0.1; 0.0.0.0 for all)' },
  { name: 'data-dir', value: true, help: 'where the SQLite store keeps its state (default ./petrel-data)' },
  { name: 'memory', value: false, help: 'keep nothing on disk: state is lost on exit' },
  {
    name: 'sync',
    value: true,
    help: 'SQLite durability: normal (survives kill -9, default) | full (survives power loss)',
  },
  { name: 'log-level', value: true, help: 'debug | info | warn | error (default info)' },
  { name: 'help', short: 'h', value: false, help: 'show this help' },
]

const LEVELS = ['debug', 'info', 'warn', 'error'] as const

function consoleLogger(level: string): Logger {
  const min = LEVELS.indexOf(level as (typeof LEVELS)[number])
  const at =
    (i: number, name: string) =>
    (obj: object, msg: string): void => {
      if (i < min) return
      const fields = Object.entries(obj)
        .map(([k, v]) => `${k}=${v instanceof Error ? v.message : JSON.stringify(v)}`)
        .join(' ')
      process.stderr.write(`${new Date().toISOString()} ${name} ${msg}${fields ? ` ${fields}` : ''}\n`)
    }
  return { debug: at(0, 'DEBUG'), info: at(1, 'INFO'), warn: at(2, 'WARN'), error: at(3, 'ERROR') }
}

/** `petrel broker`: runs a broker until SIGINT/SIGTERM. */
export async function runBroker(argv: string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS)
  if (args.flags.has('help')) {
    process.stdout.write(usage('Usage: petrel broker [options]', FLAGS))
    return 0
  }
  const port = intFlag(args, 'port', 1883, 0, 65_535)
  const host = args.flags.get('host')?.at(-1) ?? '127.0.0.1'
  const level = args.flags.get('log-level')?.at(-1) ?? 'info'
  if (!LEVELS.includes(level as (typeof LEVELS)[number])) {
    process.stderr.write(`petrel: --log-level must be one of ${LEVELS.join(', ')}; got '${level}'\n`)
    return 2
  }
  const log = consoleLogger(level)
  const sync = (args.flags.get('sync')?.at(-1) ?? 'normal').toUpperCase()
  if (sync !== 'NORMAL' && sync !== 'FULL') {
    process.stderr.write(`petrel: --sync must be normal or full; got '${args.flags.get('sync')?.at(-1)}'\n`)
    return 2
  }
  let store: Store
  let storeName: string
  if (args.flags.has('memory')) {
    if (args.flags.has('data-dir')) {
      process.stderr.write('petrel: --memory and --data-dir exclude each other; give one\n')
      return 2
    }
    store = new MemoryStore()
    storeName = 'memory (nothing is kept on exit)'
  } else {
    const dataDir = resolve(args.flags.get('data-dir')?.at(-1) ?? 'petrel-data')
    store = await SqliteStore.open({ dataDir, synchronous: sync })
    storeName = `sqlite ${dataDir}/petrel.db (synchronous=${sync.toLowerCase()})`
  }
  const broker = new Broker({ logger: log, store })
  const where = await broker.listen({ port, host })
  process.stdout.write(`petrel broker listening on ${where.host}:${where.port} (store: ${storeName})\n`)
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  log.info({}, 'shutting down')
  await broker.close()
  return 0
}
