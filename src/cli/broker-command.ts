import { resolve } from 'node:path'
import { AclFile, aclHooks } from '../auth/acl.js'
import { Broker } from '../broker/broker.js'
import type { ClusterOptions } from '../broker/cluster-options.js'
import type { ListenerInfo } from '../broker/listen-options.js'
import type { BrokerOptions, Logger } from '../broker/options.js'
import { ConfigError } from '../errors.js'
import { type HttpEndpoint, type HttpOptions, startHttp } from '../http/server.js'
import { NoStore } from '../store/memory/no-store.js'
import { SqliteStore } from '../store/sqlite/sqlite-store.js'
import type { Store } from '../store/store.js'
import { type FlagSpec, last, parseArgs, usage } from './args.js'
import { CLUSTER_FLAG_KEYS, CLUSTER_FLAGS, loadClusterOptions } from './cluster-settings.js'
import { type BrokerSettings, readConfigFile, resolveSettings } from './config.js'
import { CONFIG_KEYS, FLAG_KEYS, kebab } from './config-keys.js'
import { type Credentials, loadCredentials } from './credentials.js'
import { HTTP_FLAG_KEYS, HTTP_FLAGS, loadHttpOptions } from './http-settings.js'
import { ListenFailed, openListeners } from './listeners.js'
import { stdoutLogger } from './logging.js'
import { Reloader } from './reload.js'
import { shownSettings } from './shown-settings.js'
import {
  leavePrimary,
  onPrimaryStop,
  runPrimary,
  tellFailed,
  tellReady,
  workerIndex,
  workerLogger,
  workerSettings,
} from './workers.js'

/** Exit codes of `petrel broker`. */
export const BrokerExit = { OK: 0, RUNTIME: 1, USAGE: 2 } as const

/** The placeholder shown in --help for a flag's value, where it is not <n> (integers). */
const ARG: Record<string, string> = {
  host: 'address',
  dataDir: 'dir',
  sync: 'mode',
  logLevel: 'level',
  aclFile: 'file', // issue 13: acl
  workers: 'n|auto',
}
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
  ...HTTP_FLAGS, // issue 14
  ...CLUSTER_FLAGS,
  { name: 'help', value: false, help: 'show this help' },
]

const HELP_FOOTER = `Every option can also be set in the --config file under its camelCase name
(maxInflight: 100), plus users (a user name: SCRAM credentials map, from 'petrel passwd --scram'; plain-text
passwords need allowPlaintextUsers: true), allowAnonymous, allowPlaintextUsers and listeners (a list of
{ protocol: mqtt|mqtts|ws|wss, port, host, certfile, keyfile, ... }) and http (the --http-* flags:
{ port, host, certfile, keyfile, tokenFile }; see docs/metrics.md). SIGHUP re-reads certificates, the password file
(--password-file, made with 'petrel passwd -c FILE USER' or mosquitto_passwd) and the ACL file (--acl-file).
cluster (the --cluster* flags win: { servers, node, user, password or passwordFile, token or tokenFile,
tls: { ca, cert, key } as PEM file paths, replicas, connectTimeout }) joins a cluster over NATS JetStream;
with it, --workers N runs N processes on the same port(s), each a node named <node>-w<i>, worker i's HTTP
endpoint on the HTTP port + i.`

/** A worker of `petrel broker --workers` hands its start-up failure to the primary instead. */
let inWorker = false

/** One line on stderr, then the exit code. */
function fail(message: string, code: number = BrokerExit.USAGE): number {
  if (inWorker) tellFailed(message, code)
  else process.stderr.write(`petrel broker: ${message}\n`)
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
    for (const key of [...FLAG_KEYS, ...Object.keys(HTTP_FLAG_KEYS), ...Object.keys(CLUSTER_FLAG_KEYS)]) {
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
  if (settings.workers > 1) {
    const index = workerIndex()
    // the primary forks the workers and opens no listener; each worker runs the broker
    if (index === undefined) return runPrimary(settings, stdoutLogger(settings.logLevel))
    inWorker = true
    return serve(workerSettings(settings, index), index)
  }
  return serve(settings)
}

async function serve(settings: BrokerSettings, worker?: number): Promise<number> {
  const stdout = stdoutLogger(settings.logLevel)
  const log = worker === undefined ? stdout : workerLogger(stdout, worker)
  // Listened to from the start: a signal during start-up stops the broker as soon as it is up,
  // and a SIGHUP (whose default is to end the process) reloads what is loaded so far.
  const signal = untilSignal(log)
  const stopAsked = worker === undefined ? () => {} : onPrimaryStop((s) => signal.stop(s))
  const reloader = new Reloader(log)
  const stopReloading = reloader.onSignal()
  try {
    return await start(settings, log, signal.stopped, reloader, worker !== undefined)
  } finally {
    stopReloading()
    stopAsked()
    signal.dispose()
    if (worker !== undefined) leavePrimary()
  }
}

async function start(
  settings: BrokerSettings,
  log: Logger,
  stopped: Promise<void>,
  reloader: Reloader,
  worker: boolean,
): Promise<number> {
  // issue 13: acl (read before anything is opened: a bad file stops start-up with one line)
  let acl: AclFile | null = null
  if (settings.aclFile !== undefined) {
    try {
      acl = await AclFile.load(resolve(settings.aclFile))
    } catch (err) {
      return fail(message(err))
    }
  }
  let credentials: Credentials
  try {
    credentials = await loadCredentials(settings)
  } catch (err) {
    if (err instanceof ConfigError) return fail(err.message)
    throw err
  }
  // issue 14: the HTTP endpoint's files are read before anything is opened, like the others
  let httpOptions: HttpOptions | undefined
  if (settings.http !== undefined) {
    try {
      httpOptions = { ...(await loadHttpOptions(settings.http)), config: shownSettings(settings) }
    } catch (err) {
      if (err instanceof ConfigError) return fail(err.message)
      throw err
    }
  }
  // the cluster's files (password, token, TLS) too
  let cluster: ClusterOptions | undefined
  if (settings.cluster !== undefined) {
    try {
      cluster = await loadClusterOptions(settings.cluster)
    } catch (err) {
      if (err instanceof ConfigError) return fail(err.message)
      throw err
    }
  }
  let store: Store | undefined
  let storeName: string
  let storeFields: object
  if (cluster !== undefined) {
    // a node keeps its persistent sessions and retained messages in the cluster's JetStream
    store = undefined
    storeName = 'the cluster (NATS JetStream)'
    storeFields = { store: 'cluster' }
  } else if (settings.memory || settings.dataDir === undefined) {
    store = new NoStore()
    storeName = 'memory (nothing is kept on exit)'
    storeFields = { store: 'memory' }
  } else {
    const dataDir = resolve(settings.dataDir)
    const synchronous = settings.sync === 'full' ? 'FULL' : 'NORMAL'
    try {
      store = await SqliteStore.open({ dataDir, synchronous, logger: log })
    } catch (err) {
      return fail(`cannot open the SQLite store in ${dataDir}: ${message(err)}`, BrokerExit.RUNTIME)
    }
    storeName = `sqlite ${dataDir} (synchronous=${settings.sync})`
    storeFields = { store: 'sqlite', dataDir, synchronous: settings.sync }
  }
  // SIGHUP reloads certificates, the password file and the ACL file (each adds itself)
  for (const item of credentials.reloadable) reloader.add(item)
  const options: BrokerOptions = { ...settings.broker, logger: log }
  if (store !== undefined) options.store = store
  if (credentials.hooks.length > 0) options.hooks = [...credentials.hooks]
  if (cluster !== undefined) options.cluster = cluster
  if (acl !== null) {
    // issue 13: acl
    const file = acl
    options.hooks = [...(options.hooks ?? []), aclHooks(file)]
    reloader.add({ name: `ACL file ${file.path}`, reload: () => file.reload() })
  }
  const broker = new Broker(options)
  try {
    await broker.ready // the store loaded, the cluster joined
  } catch (err) {
    await broker.close().catch(() => {})
    return fail(message(err), BrokerExit.RUNTIME)
  }
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
  const auth = credentials.description
  for (const l of listening) {
    const at = l.protocol === 'mqtt' ? `${l.host}:${l.port}` : l.name
    log.info(
      { protocol: l.protocol, host: l.host, port: l.port, listener: l.name, ...storeFields, auth },
      `petrel broker listening on ${at}, store: ${storeName}`,
    )
  }
  if (cluster !== undefined) logCluster(log, cluster)
  for (const warning of credentials.warnings) log.warn({ auth }, warning)
  let http: HttpEndpoint | undefined
  if (httpOptions !== undefined) {
    try {
      http = await startHttp(broker, httpOptions)
    } catch (err) {
      await broker.close().catch(() => {})
      const where = `http ${httpOptions.host}:${httpOptions.port}`
      if (err instanceof ConfigError) return fail(`the HTTP endpoint: ${err.message}`)
      return fail(`cannot listen on ${where}: ${message(err)}`, BrokerExit.RUNTIME)
    }
    logHttp(log, http, httpOptions)
  }
  if (worker) tellReady()
  await stopped
  // /readyz answers 503 while the broker closes; the endpoint closes last
  await broker.close()
  await http?.close()
  log.info({}, 'stopped')
  return BrokerExit.OK
}

function logHttp(log: Logger, http: HttpEndpoint, options: HttpOptions): void {
  const protocol = options.cert === undefined ? 'http' : 'https'
  log.info(
    { protocol, host: http.host, port: http.port, url: http.url, token: options.token !== undefined },
    `petrel http endpoint on ${http.url} (/metrics, /healthz, /readyz, /api/v1/, dashboard at /)`,
  )
  if (options.token === undefined && !isLoopback(http.host)) {
    log.warn(
      { host: http.host, port: http.port },
      'the HTTP endpoint listens beyond this machine without a token (--http-token-file): anyone who reaches it can read the metrics and disconnect clients',
    )
  }
}

/** What the node joins, and how: never a password or token, only whether one is given. */
function logCluster(log: Logger, c: ClusterOptions): void {
  const auth = c.token !== undefined ? 'token' : c.user !== undefined ? `user ${c.user}` : 'none'
  const fields = {
    cluster: c.servers,
    node: c.node,
    replicas: c.replicas ?? 1,
    auth,
    tls: c.tls !== undefined || c.servers.some((u) => u.toLowerCase().startsWith('tls:')),
  }
  const node = c.node === undefined ? '' : ` as node ${c.node}`
  log.info(fields, `petrel cluster over NATS ${c.servers.join(',')}${node} (replicas ${fields.replicas})`)
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

/**
 * Resolves on the first SIGINT or SIGTERM, or `stop()` (the primary of --workers asking),
 * graceful: connections are closed, the store is flushed. A second signal exits at once; a
 * signal after `stop()` does not (Ctrl-C reaches both the primary and its workers).
 */
function untilSignal(log: Logger): {
  stopped: Promise<void>
  stop(signal: NodeJS.Signals): void
  dispose(): void
} {
  let done: (() => void) | undefined
  const stopped = new Promise<void>((resolve) => (done = resolve))
  let signalled = false
  const stop = (signal: NodeJS.Signals): void => {
    if (done === undefined) return
    log.info({ signal }, 'shutting down')
    done()
    done = undefined
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signalled) process.exit(signal === 'SIGINT' ? 130 : 143) // the second signal
    signalled = true
    stop(signal)
  }
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal)
  return { stopped, stop, dispose: () => process.off('SIGINT', onSignal).off('SIGTERM', onSignal) }
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
