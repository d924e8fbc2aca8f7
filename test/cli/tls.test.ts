/**
 * `petrel pub`, `petrel sub` and `petrel bench` over TLS and WebSocket: mosquitto's
 * --cafile, --capath, --cert, --key, --insecure, --tls-version and -L mqtts://, ws://,
 * wss://, against TLS and WebSocket servers made in the test in front of a Petrel broker.
 */
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../src/broker/broker.js'
import { makePki, opensslSkip, type Pki } from '../helpers/certs.js'
import { LOOPBACK } from '../helpers/net.js'
import { type TestServer, tlsBrokerServer, wsBrokerServer } from '../helpers/secure-servers.js'
import { type Background, petrel, spawnPetrel } from './petrel-cli.js'

const skip = opensslSkip()
/** Another loopback address, absent from the server certificate (which names localhost and 127.0.0.1). */
const OTHER_LOOPBACK = '127.0.0.2'

describe('petrel pub/sub/bench over TLS and WebSocket', { skip }, () => {
  let pki: Pki
  let broker: Broker
  let tlsServer: TestServer
  let mtlsServer: TestServer
  let tls12Server: TestServer
  let otherName: TestServer
  let wsServer: TestServer
  let wssServer: TestServer

  before(async () => {
    pki = await makePki()
    broker = new Broker({ sysInterval: 0 })
    const tls = { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca }
    tlsServer = await tlsBrokerServer(broker, tls)
    mtlsServer = await tlsBrokerServer(broker, { ...tls, requestCert: true, rejectUnauthorized: true })
    tls12Server = await tlsBrokerServer(broker, { ...tls, maxVersion: 'TLSv1.2' })
    otherName = await tlsBrokerServer(broker, tls, OTHER_LOOPBACK)
    wsServer = await wsBrokerServer(broker)
    wssServer = await wsBrokerServer(broker, { tls })
  })

  after(async () => {
    for (const s of [tlsServer, mtlsServer, tls12Server, otherName, wsServer, wssServer]) await s?.close()
    await broker?.close()
    await pki?.remove()
  })

  let n = 0
  const topic = (name: string): string => `tls-cli/${process.pid}/${++n}/${name}`

  function subscribed(filter: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const on = (subs: { topic: string }[]): void => {
        if (!subs.some((s) => s.topic === filter)) return
        clearTimeout(timer)
        broker.off('subscribed', on)
        resolve()
      }
      const timer = setTimeout(() => {
        broker.off('subscribed', on)
        reject(new Error(`no SUBSCRIBE for ${filter}`))
      }, 10_000)
      broker.on('subscribed', on)
    })
  }

  /** Starts `petrel sub -t filter -C 1 ...args` and returns once the broker has its subscription. */
  async function sub(filter: string, args: string[]): Promise<Background> {
    const ready = subscribed(filter)
    const s = spawnPetrel(['sub', '-t', filter, '-C', '1', '-W', '10', ...args])
    await Promise.race([
      ready,
      s.exited.then(() => {
        throw new Error(`petrel sub exited early: ${s.stderr()}`)
      }),
    ])
    return s
  }

  async function pubThenSub(pubArgs: string[], subArgs: string[], name: string): Promise<void> {
    const t = topic(name)
    const s = await sub(t, subArgs)
    const r = await petrel(['pub', '-t', t, '-m', `hello ${name}`, ...pubArgs])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr, '')
    const done = await s.exited
    assert.equal(done.code, 0, s.stderr())
    assert.equal(s.stdout(), `hello ${name}\n`)
  }

  /** Runs `petrel pub` expecting a failure: exit code 1 and exactly one line on stderr. */
  async function pubFails(args: string[]): Promise<string> {
    const r = await petrel(['pub', '-t', 'x', '-m', 'y', ...args])
    assert.equal(r.code, 1, `exit ${r.code}, stderr: ${r.stderr}`)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /^[^\n]+\n$/, `one line: ${JSON.stringify(r.stderr)}`)
    return r.stderr.trimEnd()
  }

  test('--cafile turns on TLS: pub and sub by host name', async () => {
    const tls = ['--cafile', pki.files.ca, '-h', 'localhost', '-p', String(tlsServer.port)]
    await pubThenSub(tls, tls, 'cafile')
    assert.equal(tlsServer.seen.at(-1)?.servername, 'localhost')
  })

  test('-L mqtts://host:port/topic with --cafile, and --capath', async () => {
    const dir = join(pki.files.dir, 'capath')
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'test-ca.crt'), pki.ca)
    const t = topic('url')
    const s = await sub(t, ['--capath', dir, '-h', 'localhost', '-p', String(tlsServer.port)])
    const r = await petrel([
      'pub',
      '-L',
      `mqtts://localhost:${tlsServer.port}/${t}`,
      '--cafile',
      pki.files.ca,
      '-m',
      'via -L',
    ])
    assert.equal(r.code, 0, r.stderr)
    assert.equal((await s.exited).code, 0, s.stderr())
    assert.equal(s.stdout(), 'via -L\n')
  })

  test('--cert and --key present a client certificate', async () => {
    const tls = [
      '--cafile',
      pki.files.ca,
      '--cert',
      pki.files.clientCert,
      '--key',
      pki.files.clientKey,
      '-h',
      'localhost',
      '-p',
      String(mtlsServer.port),
    ]
    await pubThenSub(tls, tls, 'client-cert')
    assert.equal(mtlsServer.seen.at(-1)?.clientCn, 'alice')
  })

  test('a server that wants a client certificate refuses a client without one, in one line', async () => {
    const line = await pubFails(['--cafile', pki.files.ca, '-h', 'localhost', '-p', String(mtlsServer.port)])
    assert.match(
      line,
      /^Error: Unable to connect to localhost:\d+: the server refused the TLS client certificate \(.+\); give one it trusts with --cert and --key\.$/,
    )
  })

  test('a client certificate from a CA the server does not trust: one line that points at --cert', async () => {
    const line = await pubFails([
      ...['--cafile', pki.files.ca, '--cert', pki.files.rogueCert, '--key', pki.files.rogueKey],
      ...['-h', 'localhost', '-p', String(mtlsServer.port)],
    ])
    // node:tls servers close without a TLS alert after a TLS 1.3 handshake; OpenSSL ones send one.
    assert.match(
      line,
      /^Error: Unable to connect to localhost:\d+: (connection lost: closed by the peer, before CONNACK: the broker may have refused the client certificate; check --cert and --key|the server refused the TLS client certificate \(.+\); give one it trusts with --cert and --key)\.$/,
    )
  })

  test('a server certificate from an unknown CA is refused in one line that says what to do', async () => {
    const line = await pubFails(['-L', `mqtts://localhost:${tlsServer.port}`])
    assert.match(
      line,
      new RegExp(
        `^Error: Unable to connect to localhost:${tlsServer.port}: the server's TLS certificate is not trusted \\(.+\\); give the CA that signed it with --cafile\\.$`,
      ),
    )
    const rogue = await pubFails([
      '--cafile',
      pki.files.rogueCa,
      '-h',
      'localhost',
      '-p',
      String(tlsServer.port),
    ])
    assert.match(rogue, /certificate is not trusted/)
  })

  test('--insecure skips the host name check only, as mosquitto_pub does', async () => {
    const at = ['--cafile', pki.files.ca, '-h', OTHER_LOOPBACK, '-p', String(otherName.port)]
    const line = await pubFails(at)
    assert.match(
      line,
      /the server's TLS certificate is for another name .*; use -h with a name it holds, or --insecure\.$/,
    )
    await pubThenSub([...at, '--insecure'], [...at, '--insecure'], 'insecure')
    // The chain is still checked.
    const untrusted = await pubFails(['--insecure', '-h', OTHER_LOOPBACK, '-p', String(otherName.port)])
    assert.match(untrusted, /certificate is not trusted/)
  })

  test('--tls-version is the lowest version offered', async () => {
    const at = ['--cafile', pki.files.ca, '-h', 'localhost', '-p', String(tls12Server.port)]
    const line = await pubFails([...at, '--tls-version', 'tlsv1.3'])
    assert.match(
      line,
      /^Error: Unable to connect to localhost:\d+: TLS handshake failed: no TLS version in common with the server \(.+\)\.$/,
    )
    await pubThenSub([...at, '--tls-version', 'tlsv1.2'], at, 'tls12')
    const bad = await pubFails([...at, '--tls-version', 'sslv3'])
    assert.equal(bad, "Error: --tls-version must be tlsv1.3, tlsv1.2 or tlsv1.1; got 'sslv3'.")
  })

  test('-L ws:// and -L wss://: the path is the WebSocket path (default /mqtt)', async () => {
    const wss = ['-L', `wss://localhost:${wssServer.port}/mqtt`, '--cafile', pki.files.ca]
    await pubThenSub(['-L', `ws://${LOOPBACK}:${wsServer.port}`], wss, 'ws')
    assert.equal(wsServer.seen.at(-1)?.path, '/mqtt')
    assert.deepEqual(wsServer.seen.at(-1)?.protocols, ['mqtt'])
    assert.equal(wssServer.seen.at(-1)?.path, '/mqtt')
  })

  test('--cafile with no -p connects to port 8883', async () => {
    const line = await pubFails(['--cafile', pki.files.ca, '-h', LOOPBACK])
    assert.match(line, /127\.0\.0\.1:8883/)
  })

  describe('bad TLS flags are one line naming the fix', () => {
    const cases: [string, () => string[], RegExp][] = [
      [
        'a --cafile that does not exist',
        () => ['--cafile', '/nonexistent/ca.pem'],
        /^Error: Cannot read --cafile \/nonexistent\/ca\.pem: no such file or directory\.$/,
      ],
      [
        'a directory as --cafile',
        () => ['--cafile', pki.files.dir],
        /^Error: Cannot read --cafile .+: a directory \(use --capath for a directory\)\.$/,
      ],
      [
        'a --cafile that is not PEM',
        () => ['--cafile', '/etc/hostname'],
        /^Error: --cafile \/etc\/hostname is not a PEM file/,
      ],
      [
        'a --capath without certificates',
        () => ['--capath', '/var/empty-does-not-exist'],
        /^Error: Cannot read --capath \/var\/empty-does-not-exist: no such file or directory\.$/,
      ],
      [
        '--cert without --key',
        () => ['--cafile', pki.files.ca, '--cert', pki.files.clientCert],
        /^Error: Both --cert and --key are needed for a client certificate\.$/,
      ],
      [
        'a --key that is not the --cert one',
        () => ['--cafile', pki.files.ca, '--cert', pki.files.clientCert, '--key', pki.files.rogueKey],
        /^Error: --key: key is not the private key of cert\.$/,
      ],
      [
        'a TLS flag with -L mqtt://',
        () => ['-L', 'mqtt://localhost/t', '--cafile', pki.files.ca],
        /^Error: --cafile is for TLS, but -L gives mqtt:\/\/; write mqtts:\/\/ to use TLS\.$/,
      ],
      [
        'an unknown -L scheme',
        () => ['-L', 'http://localhost/t'],
        /^Error: Unsupported URL scheme http:\/\/ for -L; use mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/\.$/,
      ],
    ]
    for (const [what, args, message] of cases) {
      test(what, async () => {
        assert.match(await pubFails(args()), message)
        const r = await petrel(['sub', '-t', 'x', ...args()])
        assert.equal(r.code, 1)
        assert.match(r.stderr.trimEnd(), message)
      })
    }
  })

  describe('petrel bench', () => {
    for (const [name, url, tls] of [
      ['mqtts://', () => `mqtts://localhost:${tlsServer.port}`, true],
      ['ws://', () => `ws://${LOOPBACK}:${wsServer.port}`, false],
      ['wss://', () => `wss://localhost:${wssServer.port}/mqtt`, true],
    ] as const) {
      test(`benches a broker at ${name}`, async () => {
        const r = await petrel(
          [
            'bench',
            'one2one',
            '-L',
            url(),
            ...(tls ? ['--cafile', pki.files.ca] : []),
            '-n',
            '300',
            '-q',
            '1',
            '--json',
          ],
          { timeoutMs: 30_000 },
        )
        assert.equal(r.code, 0, r.stderr)
        const result = JSON.parse(r.stdout) as { received: number; lost: number; broker: string }
        assert.equal(result.received, 300)
        assert.equal(result.lost, 0)
        assert.equal(result.broker, url())
      })
    }

    test("the report shows a ws:// URL's query names, not its values", async () => {
      const url = `ws://${LOOPBACK}:${wsServer.port}/mqtt?token=s3cret`
      const r = await petrel(['bench', 'one2one', '-L', url, '-n', '10', '--json'], { timeoutMs: 30_000 })
      assert.equal(r.code, 0, r.stderr)
      assert.equal(wsServer.seen.at(-1)?.path, '/mqtt?token=s3cret')
      const result = JSON.parse(r.stdout) as { received: number; broker: string }
      assert.equal(result.received, 10)
      assert.equal(result.broker, `ws://${LOOPBACK}:${wsServer.port}/mqtt?token=***`)
      assert.doesNotMatch(r.stdout + r.stderr, /s3cret/)
    })

    test('a refused TLS connection is one line naming the flag that fixes it', async () => {
      const untrusted = await petrel(['bench', 'one2one', '-L', `wss://localhost:${wssServer.port}`])
      assert.equal(untrusted.code, 2)
      assert.match(
        untrusted.stderr,
        /^petrel bench: cannot connect to wss:\/\/localhost:\d+: the server's TLS certificate is not trusted \([^)]+\); give the CA that signed it with --cafile\n$/,
      )
      const noCert = await petrel([
        'bench',
        'one2one',
        '--cafile',
        pki.files.ca,
        '-p',
        String(mtlsServer.port),
      ])
      assert.equal(noCert.code, 2)
      assert.match(
        noCert.stderr,
        /^petrel bench: cannot connect to mqtts:\/\/localhost:\d+: the server refused the TLS client certificate \([^)]+\); give one it trusts with --cert and --key\n$/,
      )
    })

    test('a bad --cafile is a usage error', async () => {
      const r = await petrel(['bench', 'one2one', '--cafile', '/nonexistent.pem'])
      assert.equal(r.code, 2)
      assert.match(
        r.stderr,
        /^petrel bench: cannot read --cafile \/nonexistent\.pem: no such file or directory; see petrel bench --help\n$/,
      )
    })
  })
})
