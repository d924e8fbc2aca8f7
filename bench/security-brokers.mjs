// The brokers of bench/security.mjs: their certificates, how each is started for a transport,
// and the wait until it answers MQTT over it. Mosquitto (Debian's /usr/sbin/mosquitto) with a
// config written here; Aedes through bench/aedes-server.mjs (TCP + WebSocket); Petrel through
// bench/petrel-secure-server.mjs (TCP + TLS + WebSocket). Children are stopped by their PID only.
// How to run: imported by bench/security.mjs (npm run bench:security); not run directly.
// `env` = { work: a temporary directory, petrelRoot: the checkout whose dist/ is served, fail(msg) }.
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { dirname, join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { WebSocket } from 'ws'

const HERE = dirname(fileURLToPath(import.meta.url))
export const HOST = '127.0.0.1'

/** Each broker's ports (Petrel and Aedes serve all of theirs at once; Mosquitto the one measured). */
export const BROKERS = {
  mosquitto: { tcp: 18930, tls: 18931, ws: 18932 },
  aedes: { tcp: 18940, ws: 18942 },
  petrel: { tcp: 18950, tls: 18951, ws: 18952 },
}

export function which(cmd) {
  for (const d of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'])
    if (existsSync(join(d, cmd))) return join(d, cmd)
  return null
}

/** A CA and a server certificate (DNS:localhost, IP:127.0.0.1) made by openssl in env.work. */
export function makeCerts(env, keyType) {
  const { work, fail } = env
  const openssl = which('openssl') ?? fail('openssl is not installed (apt-get install openssl)')
  const dir = join(work, 'pki')
  mkdirSync(dir, { recursive: true })
  const newkey =
    keyType === 'rsa'
      ? ['-newkey', 'rsa:2048']
      : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']
  const run = (args) => execFileSync(openssl, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  run(
    ['req', '-x509', ...newkey, '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2'].concat(
      ['-subj', '/CN=Petrel bench CA', '-addext', 'basicConstraints=critical,CA:TRUE'],
      ['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ),
  )
  run(['req', ...newkey, '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'])
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n',
  )
  run(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ]),
  )
  // mosquitto started as root drops to the mosquitto user: it must be able to read them (a key
  // made for this run, used on loopback only, removed with the directory at the end)
  chmodSync(work, 0o755)
  chmodSync(dir, 0o755)
  for (const f of ['server.key', 'server.pem', 'ca.pem']) chmodSync(join(dir, f), 0o644)
  return { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') }
}

function brokerCommand(env, name, transport, pki, o) {
  const { work, fail } = env
  const p = BROKERS[name]
  if (name === 'mosquitto') {
    const bin = which('mosquitto') ?? fail('mosquitto is not installed (apt-get install mosquitto)')
    // the shared bench settings (../shared/tools/loadgen/mosquitto-bench.conf) on the one listener
    // measured (so the libwebsockets service of a websockets listener cannot touch the TCP and TLS
    // figures; a websockets run has an idle TCP listener too: Mosquitto 2.0.11 does not start with
    // a websockets listener alone); TCP_NODELAY like Petrel's sockets: with Nagle on, Mosquitto's
    // CONNACK after a TLS 1.3 handshake waits for the client's delayed ACK (~60 ms a connection
    // instead of ~9 at concurrency 1); errors and warnings logged, as Petrel at --log-level warn
    // (not a line per connection while connections per second are measured)
    const listener = {
      tcp: [`listener ${p.tcp} ${HOST}`],
      tls: [`listener ${p.tls} ${HOST}`, `certfile ${pki.cert}`, `keyfile ${pki.key}`],
      ws: [`listener ${p.tcp} ${HOST}`, `listener ${p.ws} ${HOST}`, 'protocol websockets'],
    }[transport]
    const conf = [
      ...listener,
      'allow_anonymous true',
      'max_queued_messages 0',
      'max_inflight_messages 0',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'set_tcp_nodelay true',
      '',
    ].join('\n')
    const file = join(work, 'mosquitto.conf')
    writeFileSync(file, conf)
    return [bin, ['-c', file]]
  }
  if (name === 'aedes')
    return [process.execPath, [join(HERE, 'aedes-server.mjs'), String(p.tcp), String(p.ws)]]
  const server = join(HERE, 'petrel-secure-server.mjs')
  const args = ['--tcp', p.tcp, '--tls', p.tls, '--ws', p.ws, '--cert', pki.cert, '--key', pki.key]
  return [process.execPath, [server, ...args.map(String), '--via', o.petrel, '--root', env.petrelRoot]]
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const CONNECT = Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 0])
const isConnack = (b) => b.length >= 4 && b[0] === 0x20 && b[1] === 2 && b[3] === 0

/** True once an MQTT CONNECT over `transport` gets a CONNACK (0) within 2 s. */
function probe(transport, port, ca) {
  return new Promise((res) => {
    let done = false
    let sock = null
    const end = (ok) => {
      if (done) return
      done = true
      clearTimeout(timer)
      try {
        if (transport === 'ws') sock?.terminate()
        else sock?.destroy()
      } catch {}
      res(ok)
    }
    const timer = setTimeout(() => end(false), 2000)
    let got = Buffer.alloc(0)
    const onData = (d) => {
      got = Buffer.concat([got, Buffer.from(d)])
      if (got.length >= 4) end(isConnack(got))
    }
    if (transport === 'ws') {
      sock = new WebSocket(`ws://${HOST}:${port}/mqtt`, 'mqtt')
      sock.on('open', () => sock.send(CONNECT))
      sock.on('message', onData)
      sock.on('error', () => end(false))
      sock.on('close', () => end(false))
      return
    }
    sock =
      transport === 'tls'
        ? tlsConnect({ host: HOST, port, ca: readFileSync(ca) }, () => sock.write(CONNECT))
        : createConnection({ host: HOST, port }, () => sock.write(CONNECT))
    sock.on('data', onData)
    sock.on('error', () => end(false))
    sock.on('close', () => end(false))
  })
}

function portOpen(port) {
  return new Promise((res) => {
    const s = createConnection({ port, host: HOST })
    s.once('connect', () => {
      s.destroy()
      res(true)
    })
    s.once('error', () => res(false))
  })
}

/**
 * Starts `name` for a run over `transport` (Mosquitto with that listener only; Petrel and Aedes
 * serve all of theirs) and waits until it answers a CONNECT with a CONNACK over every one.
 */
export async function startBroker(env, name, transport, pki, o, info) {
  const { fail } = env
  const ports = BROKERS[name]
  const transports = name === 'mosquitto' ? [transport] : Object.keys(ports)
  for (const t of transports)
    if (await portOpen(ports[t])) fail(`port ${ports[t]} (${name} ${t}) is already in use`)
  const [cmd, args] = brokerCommand(env, name, transport, pki, o)
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d) => {
    out += d
  })
  child.stderr.on('data', (d) => {
    out += d
  })
  const deadline = Date.now() + 20_000
  const pending = new Set(transports)
  while (pending.size > 0) {
    if (child.exitCode !== null)
      fail(`${name} exited at start (${child.exitCode}): ${out.trim().split('\n').slice(-3).join(' | ')}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      fail(
        `${name} did not answer over ${[...pending].join(', ')} within 20 s: ${out.trim().split('\n').slice(-3).join(' | ')}`,
      )
    }
    for (const t of [...pending]) if (await probe(t, ports[t], pki.ca)) pending.delete(t)
    if (pending.size > 0) await sleep(100)
  }
  if (name === 'petrel') {
    const via = /petrel via (\w+)/.exec(out)?.[1] ?? 'unknown'
    if (info.petrelVia === undefined && via !== 'api')
      process.stderr.write(
        `bench: WARNING: Petrel is served through node:tls/ws + broker.handle() (--petrel ${o.petrel}), not its own listeners\n`,
      )
    info.petrelVia = via
  }
  return child
}

export async function stopBroker(child) {
  if (child.exitCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(t)
}
