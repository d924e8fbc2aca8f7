/**
 * `petrel top` as a user runs it: over $SYS against Petrel's broker and Mosquitto, over
 * HTTP against a fake endpoint serving the contract's JSON (and HTTPS, and a bearer token),
 * against the real endpoint of `startHttp`, on a terminal (a pty from `script`), and its
 * one-line errors for bad flags.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../src/broker/broker.js'
import { connect } from '../../src/client/client.js'
import { makePki, opensslSkip, type Pki } from '../helpers/certs.js'
import {
  findBinary,
  inCI,
  type MosquittoBroker,
  mosquittoSkip,
  startMosquitto,
} from '../helpers/mosquitto.js'
import { LOOPBACK } from '../helpers/net.js'
import { CLI, petrel, spawnPetrel } from './petrel-cli.js'
import { OVERVIEW } from './top-fixtures.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petrel-top-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** The one line a bad invocation prints, and its exit code. */
async function refused(args: string[]): Promise<string> {
  const r = await petrel(['top', ...args])
  assert.equal(r.code, 1, r.stdout + r.stderr)
  assert.equal(r.stdout, '')
  const lines = r.stderr.split('\n').filter((l) => l !== '')
  assert.equal(lines.length, 1, r.stderr)
  return lines[0]!
}

describe('petrel top: bad flags get one clear line', () => {
  const cases: [string[], RegExp][] = [
    [['--sort', 'bytesIn'], /^Error: --sort needs --http-port/],
    [
      ['--http-port', '8080', '-p', '1883'],
      /^Error: --port is for reading \$SYS over MQTT, but --http-port reads the HTTP endpoint/,
    ],
    [['--http-port', '8080', '-h', 'example'], /the endpoint host is --http-host/],
    [['--http-port', 'x'], /^Error: Invalid --http-port 'x' \(1 to 65535\)\.$/],
    [
      ['--http-port', '1', '--sort', 'size'],
      /^Error: Invalid --sort 'size' \(messagesIn, messagesOut, bytesIn, bytesOut, queued, inflight\)\.$/,
    ],
    [['--http-port', '1', '--rows', '0'], /^Error: Invalid --rows '0' \(1 to 1000\)\.$/],
    [['--interval', '0'], /^Error: Invalid --interval '0' \(seconds, 0\.1 to 3600\)\.$/],
    [
      ['--http-port', '1', '--http-token-file', '/nonexistent/token'],
      /^Error: Cannot read --http-token-file \/nonexistent\/token: no such file\.$/,
    ],
    [['--bogus'], /^Error: Unknown option '--bogus'\.$/],
    [['extra'], /^Error: Unexpected argument 'extra'\.$/],
    [['-L', 'mqtt://127.0.0.1:1/topic'], /^Error: top subscribes to \$SYS\/# itself/],
    [
      ['--http-port', '1'],
      /^Error: Connection refused by 127\.0\.0\.1:1; is the broker running with --http-port 1\?$/,
    ],
  ]
  for (const [args, message] of cases) {
    test(`petrel top ${args.join(' ')}`, async () => {
      assert.match(await refused(args), message)
    })
  }

  test('--help lists both sources and the keys', async () => {
    const r = await petrel(['top', '--help'])
    assert.equal(r.code, 0)
    assert.match(r.stdout, /--http-port <port>/)
    assert.match(r.stdout, /q or Ctrl-C quits/)
    assert.match((await petrel(['--help'])).stdout, /^ {2}top {6}a broker's figures, refreshed in place/m)
  })
})

describe('petrel top over $SYS, against petrel', () => {
  let broker: Broker
  let port: number
  before(async () => {
    broker = new Broker({ sysInterval: 1 })
    ;({ port } = await broker.listen({ port: 0, host: LOOPBACK }))
    // Known traffic: 5 PUBLISHes in, then a $SYS update that counts them (the retained values top gets first).
    const c = await connect(`mqtt://${LOOPBACK}:${port}`)
    const counted = new Promise<void>((resolve) => {
      c.on('message', (_t, payload) => {
        if (payload.toString() === '5') resolve()
      })
    })
    await c.subscribe('$SYS/broker/publish/messages/received')
    for (let i = 0; i < 5; i++) await c.publish('top/test', 'hello', { qos: 1 })
    await counted
    await c.end()
  })
  after(() => broker.close())

  test('--once prints one frame of the broker figures as soon as $SYS values arrive', async () => {
    const r = await petrel(['top', '-h', LOOPBACK, '-p', String(port), '--once'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    assert.match(
      lines[0]!,
      new RegExp(
        `^petrel top {2}mqtt://127\\.0\\.0\\.1:${port} \\$SYS {2}· {2}petrel version \\S+ {2}· {2}up \\d+s {2}· {2}\\d\\d:\\d\\d:\\d\\d$`,
      ),
    )
    // The retained values were published before top connected, maybe before the other client left.
    // "new": Petrel publishes Mosquitto's $SYS/broker/load/connections/1min
    assert.match(r.stdout, /^Clients +connected +[01] +maximum +1 +new +[\d.]+\/s$/m)
    assert.match(r.stdout, /^Totals +in +5 msgs /m)
    assert.match(r.stdout, /^Routing +subscriptions +[01] /m)
  })

  test('without --once, each $SYS update is a frame, with rates once there are two', async () => {
    const top = spawnPetrel(['top', '-h', LOOPBACK, '-p', String(port)])
    try {
      await top.waitFor(/^Rates +in +[\d.]+ msg\/s +out +[\d.]+k? msg\/s .*\(last interval\)$/m, 8000)
      const { code } = await top.stop('SIGINT')
      assert.equal(code, 0)
      assert.equal(top.stdout().includes('\x1b['), false, 'no screen control on a pipe')
    } finally {
      await top.stop('SIGKILL')
    }
  })

  test('no $SYS within --timeout: exit 27 and a line naming what to check', async () => {
    const quiet = new Broker({ sysInterval: 0 })
    const { port: p } = await quiet.listen({ port: 0, host: LOOPBACK })
    try {
      const r = await petrel(['top', '-h', LOOPBACK, '-p', String(p), '--once', '-W', '0.5'])
      assert.equal(r.code, 27)
      assert.equal(
        r.stderr,
        `Error: No $SYS messages from 127.0.0.1:${p} within 0.5 s; is $SYS on (Mosquitto: sys_interval in mosquitto.conf; petrel broker: --sys-interval) and may this client read $SYS/#?\n`,
      )
    } finally {
      await quiet.close()
    }
  })
})

describe('petrel top over $SYS, against Mosquitto (sys_interval 1)', { skip: mosquittoSkip() }, () => {
  let m: MosquittoBroker
  before(async () => {
    m = await startMosquitto({ config: ['sys_interval 1'] })
  })
  after(() => m?.stop())

  test("--once shows Mosquitto's version, clients, heap and its 1-minute loads as rates", async () => {
    const r = await petrel(['top', '-h', m.host, '-p', String(m.port), '--once'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^petrel top {2}mqtt:\/\/127\.0\.0\.1:\d+ \$SYS {2}· {2}mosquitto version 2\.\S+/)
    assert.match(r.stdout, /^Clients +connected +\d+ /m)
    assert.match(r.stdout, /^Process +heap +[\d.]+ [KM]iB +heap max +[\d.]+ [KM]iB$/m)
    assert.match(r.stdout, /^Rates +in +[\d.]+ msg\/s .*\(1 min average\)$/m)
  })

  test('live, rates come from successive updates', async () => {
    const top = spawnPetrel(['top', '-h', m.host, '-p', String(m.port)])
    try {
      // Mosquitto publishes every sys_interval + 1 seconds.
      await top.waitFor(/\(last interval\)$/m, 8000)
      assert.equal((await top.stop('SIGTERM')).code, 0)
    } finally {
      await top.stop('SIGKILL')
    }
  })
})

// --- HTTP: a fake endpoint serving the contract's JSON ------------------------------------

interface Fake {
  server: Server
  port: number
  requests: { url: string; authorization: string | undefined }[]
}

function clientItem(i: number): Record<string, unknown> {
  return {
    clientId: `client-${i}`,
    username: null,
    address: `127.0.0.1:${40000 + i}`,
    protocolVersion: 4,
    connected: true,
    connectedSince: new Date(Date.now() - 65_000).toISOString(),
    keepalive: 60,
    cleanSession: true,
    sessionExpiryInterval: 0,
    subscriptions: 1,
    inflight: 0,
    queued: i,
    bytesIn: 1000 * i,
    bytesOut: 10 * i,
    messagesIn: 100 * i,
    messagesOut: i,
  }
}

/** Answers as the contract says: the overview, and a page of clients sorted as asked. */
function fakeHandler(fake: Fake, token: string | null) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    fake.requests.push({ url: req.url ?? '', authorization: req.headers.authorization })
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (token !== null && req.headers.authorization !== `Bearer ${token}`) {
      res.setHeader('www-authenticate', 'Bearer')
      send(401, { error: { code: 'unauthorized', message: 'this path needs Authorization: Bearer <token>' } })
      return
    }
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/api/v1/overview') send(200, OVERVIEW)
    else if (url.pathname === '/api/v1/clients') {
      const limit = Number(url.searchParams.get('limit') ?? 50)
      const items = Array.from({ length: 30 }, (_, i) => clientItem(30 - i)).slice(0, limit)
      send(200, { total: 30, offset: 0, limit, items })
    } else send(404, { error: { code: 'not-found', message: `no such path: ${url.pathname}` } })
  }
}

async function startFake(token: string | null = null, pki: Pki | null = null): Promise<Fake> {
  const fake = { requests: [] } as unknown as Fake
  const handler = fakeHandler(fake, token)
  fake.server =
    pki === null
      ? createHttpServer(handler)
      : createHttpsServer({ cert: pki.serverCert, key: pki.serverKey }, handler)
  await new Promise<void>((resolve) => fake.server.listen(0, LOOPBACK, resolve))
  fake.port = (fake.server.address() as AddressInfo).port
  return fake
}

function stopFake(f: Fake | undefined): Promise<void> {
  if (f === undefined) return Promise.resolve()
  f.server.closeAllConnections()
  return new Promise((resolve) => f.server.close(() => resolve()))
}

describe('petrel top over HTTP (a fake endpoint serving the contract JSON)', () => {
  let fake: Fake
  before(async () => {
    fake = await startFake()
  })
  after(() => stopFake(fake))

  test('--once shows the overview and the busiest clients, asking the API for them', async () => {
    fake.requests.length = 0
    const r = await petrel(['top', '--http-port', String(fake.port), '--once'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    assert.match(
      lines[0]!,
      new RegExp(
        `^petrel top {2}http://127\\.0\\.0\\.1:${fake.port} {2}· {2}petrel version 9\\.9\\.9 {2}· {2}up 1d 02:03:04 {2}· `,
      ),
    )
    assert.match(r.stdout, /^Rates +in +1\.52k msg\/s +out +45k msg\/s +dropped +0\.5 msg\/s$/m)
    assert.match(r.stdout, /^Clients by msgs in \(top 10 of 30\)$/m)
    assert.match(r.stdout, /^CLIENT ID +MSGS IN↓ +MSGS OUT/m)
    // 100 columns when not on a terminal: the protocol version and age columns are left out.
    assert.match(r.stdout, /^client-30 +3k +30 +29\.3 KiB +300 B +30 +0 +1 +127\.0\.0\.1:40030$/m)
    const urls = fake.requests.map((q) => q.url).sort()
    assert.deepEqual(urls, ['/api/v1/clients?sort=messagesIn&order=desc&limit=10', '/api/v1/overview'])
  })

  test('--sort and --rows choose the table', async () => {
    fake.requests.length = 0
    const r = await petrel([
      'top',
      '--http-port',
      String(fake.port),
      '--once',
      '--sort',
      'queued',
      '--rows',
      '3',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^Clients by queued \(top 3 of 30\)$/m)
    assert.match(r.stdout, /QUEUED↓/)
    assert.ok(fake.requests.some((q) => q.url === '/api/v1/clients?sort=queued&order=desc&limit=3'))
  })

  test('without --once, frames follow one another every --interval', async () => {
    fake.requests.length = 0
    const top = spawnPetrel(['top', '--http-port', String(fake.port), '--interval', '0.2'])
    try {
      const frames = /(^petrel top .*$[\s\S]*?){3}/m
      await top.waitFor(frames, 8000)
      assert.equal((await top.stop('SIGTERM')).code, 0)
      assert.ok(fake.requests.filter((q) => q.url === '/api/v1/overview').length >= 3)
    } finally {
      await top.stop('SIGKILL')
    }
  })

  test('a path the endpoint does not have: the line says what to check', async () => {
    const other = createHttpServer((_req, res) => {
      res.writeHead(404)
      res.end()
    })
    await new Promise<void>((resolve) => other.listen(0, LOOPBACK, resolve))
    try {
      const p = (other.address() as AddressInfo).port
      assert.equal(
        await refused(['--http-port', String(p), '--once']),
        `Error: http://127.0.0.1:${p} has no /api/v1/overview; is it the --http-port of a petrel broker (version with the admin API)?`,
      )
    } finally {
      other.closeAllConnections()
      await new Promise((resolve) => other.close(resolve))
    }
  })
})

describe('petrel top over HTTP with a bearer token', () => {
  let fake: Fake
  before(async () => {
    fake = await startFake('s3cret')
  })
  after(() => stopFake(fake))

  test('sends the token of --http-token-file', async () => {
    const file = join(dir, 'token')
    await writeFile(file, 's3cret\n')
    fake.requests.length = 0
    const r = await petrel(['top', '--http-port', String(fake.port), '--http-token-file', file, '--once'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /petrel version 9\.9\.9/)
    assert.ok(fake.requests.every((q) => q.authorization === 'Bearer s3cret'))
  })

  test('without a token, or with the wrong one, one line says so', async () => {
    assert.equal(
      await refused(['--http-port', String(fake.port), '--once']),
      `Error: http://127.0.0.1:${fake.port} wants a bearer token; give the file holding it with --http-token-file.`,
    )
    const file = join(dir, 'wrong')
    await writeFile(file, 'nope')
    assert.equal(
      await refused(['--http-port', String(fake.port), '--http-token-file', file, '--once']),
      `Error: http://127.0.0.1:${fake.port} refused the token in ${file}.`,
    )
  })
})

describe('petrel top over HTTPS', { skip: opensslSkip() }, () => {
  let pki: Pki
  let fake: Fake
  before(async () => {
    pki = await makePki()
    fake = await startFake(null, pki)
  })
  after(async () => {
    await stopFake(fake)
    await pki?.remove()
  })

  test('--cafile trusts the endpoint certificate', async () => {
    const r = await petrel(['top', '--http-port', String(fake.port), '--cafile', pki.files.ca, '--once'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, new RegExp(`^petrel top {2}https://127\\.0\\.0\\.1:${fake.port} `))
  })

  test('--https without the CA, or plain HTTP to it: the line names the flag', async () => {
    assert.equal(
      await refused(['--http-port', String(fake.port), '--https', '--once']),
      `Error: https://127.0.0.1:${fake.port}: unable to verify the first certificate; give the CA that signed its certificate with --cafile (or, for a name mismatch, --insecure).`,
    )
    assert.equal(
      await refused(['--http-port', String(fake.port), '--once']),
      `Error: 127.0.0.1:${fake.port} closed the connection; does it want HTTPS (--https)?`,
    )
  })
})

// --- the real endpoint -------------------------------------------------------------------

describe('petrel top over HTTP against the broker endpoint (startHttp)', () => {
  test('shows the broker figures and its connected clients', async (t) => {
    const { startHttp } = await import('../../src/http/server.js')
    const broker = new Broker({ sysInterval: 0 })
    const { port } = await broker.listen({ port: 0, host: LOOPBACK })
    const http = await startHttp(broker, { port: 0, host: LOOPBACK })
    const clients = await Promise.all(
      ['alpha', 'beta'].map((id) => connect(`mqtt://${LOOPBACK}:${port}`, { clientId: id })),
    )
    try {
      for (let i = 0; i < 3; i++) await clients[0]!.publish('t', 'x', { qos: 1 })
      const probe = await fetch(`${http.url}/api/v1/overview`)
      if (probe.status === 404 && !inCI()) {
        // Until the dashboard's /api/v1/overview is merged into this branch.
        t.skip('GET /api/v1/overview is not served on this branch yet (helper "dashboard")')
        return
      }
      // The overview is sampled once a second: wait for one that has seen both clients.
      for (let i = 0; i < 50; i++) {
        const o = (await (await fetch(`${http.url}/api/v1/overview`)).json()) as {
          connections?: { current?: number }
        }
        if (o.connections?.current === 2) break
        await new Promise((r) => setTimeout(r, 100))
      }
      const r = await petrel(['top', '--http-port', String(http.port), '--once'])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /^petrel top {2}http:\/\/127\.0\.0\.1:\d+ {2}· {2}petrel version \d/)
      assert.match(r.stdout, /^Clients +connected +2 /m)
      assert.match(r.stdout, /^alpha +3 /m)
      assert.match(r.stdout, /^beta +0 /m)
    } finally {
      await Promise.all(clients.map((c) => c.end()))
      await http.close()
      await broker.close()
    }
  })
})

// --- on a terminal ---------------------------------------------------------------------------

const SCRIPT = findBinary('script')

describe('petrel top on a terminal', {
  skip: SCRIPT === null ? 'script (util-linux) not found: no pty to test with' : false,
}, () => {
  let fake: Fake
  before(async () => {
    fake = await startFake()
  })
  after(() => stopFake(fake))

  test('draws in place on the alternate screen; q quits and gives the screen back', async () => {
    const { spawn } = await import('node:child_process')
    const cmd = `stty cols 90 rows 30; exec ${process.execPath} ${CLI} top --http-port ${fake.port}`
    const child = spawn(SCRIPT!, ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    try {
      for (let i = 0; i < 100 && !out.includes('CLIENT ID'); i++) await new Promise((r) => setTimeout(r, 50))
      assert.ok(out.includes('CLIENT ID'), out)
      // It asks for as many clients as the 30-row terminal can show, not the 10 of a pipe.
      const limits = (): number[] => fake.requests.map((q) => Number(/limit=(\d+)/.exec(q.url)?.[1] ?? 0))
      for (let i = 0; i < 100 && !limits().some((l) => l > 10); i++)
        await new Promise((r) => setTimeout(r, 50))
      assert.ok(
        limits().some((l) => l > 10),
        limits().join(','),
      )
      // s: the next sort key, asked for at once.
      child.stdin.write('s')
      const bySent = (): boolean => fake.requests.some((q) => q.url.includes('sort=messagesOut'))
      for (let i = 0; i < 100 && !bySent(); i++) await new Promise((r) => setTimeout(r, 20))
      assert.ok(bySent(), fake.requests.map((q) => q.url).join('\n'))
      child.stdin.write('q')
      assert.equal(await exited, 0, out)
      assert.ok(out.includes('\x1b[?1049h\x1b[?25l'), 'alternate screen, cursor hidden')
      assert.ok(out.includes('\x1b[H'), 'redrawn from the top left')
      assert.ok(out.trimEnd().endsWith('\x1b[?25h\x1b[?1049l'), 'cursor and screen given back')
    } finally {
      clearTimeout(killer)
      child.kill('SIGKILL')
    }
  })
})
