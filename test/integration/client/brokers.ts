/**
 * The three brokers the client suite runs against, behind one interface:
 * Petrel's own, a real Mosquitto (started here with a generated config) and
 * Aedes (in memory). All share one policy so the same assertions hold:
 *   - anonymous clients may connect; user `alice` / password `secret` too;
 *     any other credentials are refused (CONNACK 4 or 5);
 *   - subscribing to `forbidden/#` is refused (SUBACK 0x80).
 * `restart()` stops the broker and starts it again on the same port; only
 * Mosquitto (persistence on, SIGTERM saves it) keeps sessions across it.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aedes } from 'aedes'
import { Broker } from '../../../src/broker/broker.js'
import { findBinary, mosquittoSkip, runTool } from '../../helpers/mosquitto.js'
import { freePort, LOOPBACK, waitForPort } from '../../helpers/net.js'

export type BrokerName = 'petrel' | 'mosquitto' | 'aedes'

export interface TestBroker {
  readonly name: BrokerName
  readonly port: number
  readonly url: string
  /** True when persistent sessions survive `restart()`. */
  readonly restartKeepsSessions: boolean
  restart(): Promise<void>
  close(): Promise<void>
}

export interface BrokerKind {
  readonly name: BrokerName
  /** For node:test's `skip`: false, or why this broker is not available. */
  readonly skip: string | false
  start(): Promise<TestBroker>
}

const FORBIDDEN = 'forbidden/'
const isForbidden = (filter: string): boolean => filter.startsWith(FORBIDDEN)

function goodCredentials(username: string | undefined, password: Buffer | undefined): boolean {
  if (username === undefined) return true
  return username === 'alice' && password?.toString() === 'secret'
}

// --- Petrel --------------------------------------------------------------------

async function startPetrel(): Promise<TestBroker> {
  const make = (): Broker =>
    new Broker({
      sysInterval: 0,
      authenticate: (_c, u, p) => goodCredentials(u, p),
      authorizeSubscribe: (_c, filter) => !isForbidden(filter),
    })
  let broker = make()
  const { port } = await broker.listen({ port: 0, host: LOOPBACK })
  return {
    name: 'petrel',
    port,
    url: `mqtt://${LOOPBACK}:${port}`,
    restartKeepsSessions: false,
    async restart() {
      await broker.close()
      broker = make()
      await broker.listen({ port, host: LOOPBACK })
    },
    close: () => broker.close(),
  }
}

// --- Aedes ---------------------------------------------------------------------

async function startAedesBroker(): Promise<TestBroker> {
  const sockets = new Set<Socket>()
  let aedes: Aedes
  let server: Server
  const listen = async (port: number): Promise<number> => {
    aedes = await Aedes.createBroker({
      authenticate: (_c, u, p, done) => {
        if (goodCredentials(u, p)) done(null, true)
        else done(Object.assign(new Error('bad credentials'), { returnCode: 4 as const }), false)
      },
      authorizeSubscribe: (_c, sub, done) => {
        done(null, isForbidden(sub.topic) ? null : sub) // null: SUBACK 0x80
      },
    })
    const a = aedes
    server = createServer((socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
      a.handle(socket)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, LOOPBACK, () => resolve())
    })
    const addr = server.address()
    return typeof addr === 'object' && addr !== null ? addr.port : port
  }
  const stop = async (): Promise<void> => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  const port = await listen(0)
  return {
    name: 'aedes',
    port,
    url: `mqtt://${LOOPBACK}:${port}`,
    restartKeepsSessions: false,
    async restart() {
      await stop()
      await listen(port)
    },
    close: stop,
  }
}

// --- Mosquitto -----------------------------------------------------------------

async function startMosquittoBroker(): Promise<TestBroker> {
  const bin = findBinary('mosquitto')
  const passwd = findBinary('mosquitto_passwd')
  if (bin === null || passwd === null) throw new Error('mosquitto and mosquitto_passwd are needed')
  const dir = await mkdtemp(join(tmpdir(), 'petrel-client-mosquitto-'))
  await runTool(passwd, ['-c', '-b', join(dir, 'passwd'), 'alice', 'secret'])
  // Lines before any `user` apply to anonymous clients; `pattern` lines to everyone.
  await writeFile(
    join(dir, 'acl'),
    'topic deny forbidden/#\ntopic readwrite #\n\nuser alice\ntopic deny forbidden/#\ntopic readwrite #\n',
  )
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  await writeFile(
    conf,
    [
      `listener ${port} ${LOOPBACK}`,
      'allow_anonymous true',
      `password_file ${join(dir, 'passwd')}`,
      `acl_file ${join(dir, 'acl')}`,
      'persistence true',
      `persistence_location ${dir}/`,
      'autosave_interval 0',
      // As root, mosquitto would switch to its own user, who cannot read this temporary directory.
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      '',
    ].join('\n'),
  )
  let child: ChildProcess
  let log = ''
  const run = async (): Promise<void> => {
    child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr?.on('data', (b: Buffer) => {
      if (log.length < 65_536) log += b.toString()
    })
    try {
      await waitForPort(port, 5000)
    } catch (err) {
      child.kill('SIGKILL')
      throw new Error(`mosquitto did not start: ${(err as Error).message}\n${log}`)
    }
  }
  const kill = async (): Promise<void> => {
    const c = child
    if (c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
    c.kill('SIGTERM') // mosquitto saves its persistence file on SIGTERM
    const timer = setTimeout(() => c.kill('SIGKILL'), 3000)
    await exited
    clearTimeout(timer)
  }
  const onExit = (): void => {
    child?.kill('SIGKILL')
  }
  process.once('exit', onExit)
  await run()
  return {
    name: 'mosquitto',
    port,
    url: `mqtt://${LOOPBACK}:${port}`,
    restartKeepsSessions: true,
    async restart() {
      await kill()
      await run()
    },
    async close() {
      await kill()
      process.off('exit', onExit)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

function mosquittoAvailable(): string | false {
  const skip = mosquittoSkip()
  if (skip !== false) return skip
  return findBinary('mosquitto_passwd') === null ? 'mosquitto_passwd not found' : false
}

export const BROKERS: readonly BrokerKind[] = [
  { name: 'petrel', skip: false, start: startPetrel },
  { name: 'mosquitto', skip: mosquittoAvailable(), start: startMosquittoBroker },
  { name: 'aedes', skip: false, start: startAedesBroker },
]
