import { resolve } from 'node:path'
import { Broker } from '../broker/broker.js'
import type { ListenerInfo } from '../broker/listen-options.js'
import type { BrokerOptions, Logger } from '../broker/options.js'
import { ConfigError } from '../errors.js'
import { MemoryStore } from '../store/memory/memory-store.js'
import { SqliteStore } from '../store/sqlite/sqlite-store.js'
import type { Store } from '../store/store.js'
import { type FlagSpec, last, parseArgs, usage } from './args.js'
import {
  type BrokerSettings,
  CONFIG_KEYS,
  FLAG_KEYS,
  kebab,
  readConfigFile,
  resolveSettings,
} from './config.js'
import { ListenFailed, openListeners } from './listeners.js'
import { stdoutLogger } from './logging.js'
import { Reloader } from './reload.js'
import { usersHooks } from './users.js'

/** Exit codes of `petrel broker`. */
export const BrokerExit = { OK: 0, RUNTIME: 1, USAGE: 2 } as const

/** The placeholder shown in --help for a flag's value, where it is not <n> (integers). */
const ARG: Record<string, string> = { host: 'address', dataDir: 'dir', sync: 'mode', logLevel: 'level' }
const FLAGS: FlagSpec[] = [
  {
    name: 'config',
    short: 'c',
    value: true,
    arg: 'file',
    help: 'settings file, YAML or JSON (flags override it)',
  },
  ...FLAG_KEYS.map((key): FlagSpec => {
    const kind = CONFIG_KEYS.get(key)!
    const spec: FlagSpec = { name: kebab(key), value: kind.type !== 'bool', help: kind.help }
    if (key === 'port') spec.short = 'p'
    const arg = ARG[key] ?? (kind.type === 'int' ? 'n' : undefined)
    if (arg !== undefined) spec.arg = arg
    return spec
  }),
  { name: 'help', value: false, help: 'show this help' },
]

const HELP_FOOTER = `Every option can also be set in the --config file under its camelCase name
(maxInflight: 100), plus users (a user name: password map; a password may be 'petrel passwd' output), allowAnonymous
and listeners (a list of { protocol: mqtt|mqtts|ws|wss, port, host, certfile, keyfile, ... }; SIGHUP re-reads certificates).`

/** One line on stderr, then the exit code. */
function fail(message: string, code: number = BrokerExit.USAGE): number {
  process.stderr.write(`petrel broker: ${message}\n`)
  return code
}

/** `petrel broker`: runs a broker until SIGINT/SIGTERM. */
export async function runBroker(argv: string[]): Promise<number> {
  let settings: BrokerSettings
  try {
    const args = parseArgs(argv, FLAGS)
    if (args.flags.has('help')) {
      process.stdout.write(usage('Usage: petrel broker [options]', FLAGS, HELP_FOOTER))
      return BrokerExit.OK
    }
    if (args.positionals.length > 0) {
      return fail(`unexpected argument '${args.positionals[0]}'; run 'petrel broker --help' for the options`)
    }
    const configPath = last(args, 'config')
    const file = configPath === undefined ? {} : await readConfigFile(configPath)
    const flags = new Map<string, string>()
    for (const key of FLAG_KEYS) {
      const v = last(args, kebab(key))
      if (v !== undefined) flags.set(key, v)
    }
    settings = resolveSettings(file, configPath ?? '', flags)
  } catch (err) {
    if (err instanceof ConfigError) {
      const hint = err.message.startsWith('unknown option')
        ? "; run 'petrel broker --help' for the options"
        : ''
      return fail(`${err.message}${hint}`)
    }
    throw err
  }
  return serve(settings)
}

async function serve(settings: BrokerSettings): Promise<number> {
  const log = stdoutLogger(settings.logLevel)
  // Listened to from the start: a signal during start-up stops the broker as soon as it is up.
  const signal = untilSignal(log)
  try {
    return await start(settings, log, signal.stopped)
  } finally {
    signal.dispose()
  }
}

async function start(settings: BrokerSettings, log: Logger, stopped: Promise<void>): Promise<number> {
  let store: Store
  let storeName: string
  let storeFields: object
  if (settings.memory || settings.dataDir === undefined) {
    store = new MemoryStore()
    storeName = 'memory (nothing is kept on exit)'
    storeFields = { store: 'memory' }
  } else {
    const dataDir = resolve(settings.dataDir)
    const synchronous = settings.sync === 'full' ? 'FULL' : 'NORMAL'
    try {
      store = await SqliteStore.open({ dataDir, synchronous })
    } catch (err) {
      return fail(`cannot open the SQLite store in ${dataDir}: ${message(err)}`, BrokerExit.RUNTIME)
    }
    storeName = `sqlite ${dataDir} (synchronous=${settings.sync})`
    storeFields = { store: 'sqlite', dataDir, synchronous: settings.sync }
  }
  // SIGHUP reloads certificates, the password file and the ACL file (each adds itself)
  const reloader = new Reloader(log)
  const options: BrokerOptions = { ...settings.broker, logger: log, store }
  if (settings.users !== undefined) options.hooks = usersHooks(settings.users, settings.allowAnonymous)
  const broker = new Broker(options)
  // issue 13: transport
  let listening: ListenerInfo[]
  try {
    listening = await openListeners(broker, settings.listeners, reloader)
  } catch (err) {
    await broker.close().catch(() => {})
    if (err instanceof ConfigError) return fail(err.message)
    const where = err instanceof ListenFailed ? err.where : 'the listener'
    return fail(
      `cannot listen on ${where}: ${message(err instanceof ListenFailed ? err.error : err)}`,
      BrokerExit.RUNTIME,
    )
  }
  const auth = settings.users === undefined ? 'none' : `${settings.users.size} users`
  for (const l of listening) {
    const at = l.protocol === 'mqtt' ? `${l.host}:${l.port}` : l.name
    log.info(
      { protocol: l.protocol, host: l.host, port: l.port, listener: l.name, ...storeFields, auth },
      `petrel broker listening on ${at}, store: ${storeName}`,
    )
  }
  const stopReloading = reloader.onSignal()
  await stopped
  stopReloading()
  await broker.close()
  log.info({}, 'stopped')
  return BrokerExit.OK
}

/**
 * Resolves on the first SIGINT or SIGTERM (graceful: connections are closed,
 * the store is flushed). A second signal exits at once.
 */
function untilSignal(log: Logger): { stopped: Promise<void>; dispose(): void } {
  let done: (() => void) | undefined
  const stopped = new Promise<void>((resolve) => (done = resolve))
  const onSignal = (signal: NodeJS.Signals): void => {
    if (done === undefined) process.exit(signal === 'SIGINT' ? 130 : 143) // the second signal
    log.info({ signal }, 'shutting down')
    done()
    done = undefined
  }
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
  return { stopped, dispose: () => process.off('SIGINT', onSignal).off('SIGTERM', onSignal) }
}

function message(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE') return 'address already in use'
    if (code === 'EACCES') return 'permission denied'
    if (code === 'EADDRNOTAVAIL') return 'address not available on this machine'
    return err.message
  }
  return String(err)
}
