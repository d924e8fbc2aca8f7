/**
 * `petrel broker` listeners from a config file: the `listeners:` list (one clear line for
 * each bad value), --port/--host on top of it, TLS files read at start (unreadable or not
 * PEM: one line, exit 2) and again on SIGHUP without dropping connections.
 */
import assert from 'node:assert/strict'
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parse as parseYaml } from 'yaml'
import { formatSecret } from '../../src/auth/password-file.js'
import { hashPassword } from '../../src/auth/password-hash.js'
import { resolveSettings } from '../../src/cli/config.js'
import { ConfigError } from '../../src/errors.js'
import { PacketType } from '../../src/protocol/index.js'
import { makePki, opensslSkip, type Pki } from '../helpers/certs.js'
import { LOOPBACK } from '../helpers/net.js'
import { RawClient } from '../helpers/raw-client.js'
import { tlsClient, tlsSocket } from '../integration/transport/helpers.js'
import { petrel, startCliBroker } from './petrel-cli.js'

const noFlags = new Map<string, string>()

describe('listeners: in the config file', () => {
  const tls = { certfile: 'c.pem', keyfile: 'k.pem' }
  const refusals: [string, unknown, RegExp][] = [
    ['not a list', { protocol: 'mqtt' }, /f.yaml: listeners must be a list of listeners/],
    ['an empty list', [], /listeners must be a list/],
    ['an item that is not a mapping', [1883], /listeners\[0\] must be a mapping/],
    [
      'an unknown protocol',
      [{ protocol: 'http' }],
      /listeners\[0\]\.protocol must be one of mqtt, mqtts, ws, wss; got 'http'/,
    ],
    [
      'a bad port',
      [{ port: 70000 }],
      /listeners\[0\]\.port must be a whole number from 0 to 65535; got 70000/,
    ],
    [
      'an unknown key, with a hint',
      [{ protocol: 'mqtts', cert_file: 'x' }],
      /listeners\[0\]: unknown key 'cert_file' \(did you mean 'certfile'\?\)/,
    ],
    [
      'mqtts without keyfile',
      [{ protocol: 'mqtts', certfile: 'c.pem' }],
      /listeners\[0\]: a mqtts listener needs keyfile/,
    ],
    [
      'a TLS key on a plain listener',
      [{ protocol: 'ws', cafile: 'ca.pem' }],
      /listeners\[0\]\.cafile applies to mqtts and wss listeners only, not ws/,
    ],
    [
      'a WebSocket key on mqtts',
      [{ protocol: 'mqtts', ...tls, path: '/mqtt' }],
      /listeners\[0\]\.path applies to ws and wss listeners only/,
    ],
    [
      'a bad minVersion',
      [{ protocol: 'mqtts', ...tls, minVersion: 'TLSv1.1' }],
      /listeners\[0\]\.minVersion must be one of TLSv1.2, TLSv1.3; got 'TLSv1.1'/,
    ],
    [
      'requireCertificate without cafile',
      [{ protocol: 'mqtts', ...tls, requireCertificate: true }],
      /listeners\[0\]\.requireCertificate needs cafile/,
    ],
    [
      'a bad requireCertificate',
      [{ protocol: 'wss', ...tls, requireCertificate: 'yes' }],
      /requireCertificate must be true or false; got 'yes'/,
    ],
    [
      'origins that are not a list',
      [{ protocol: 'ws', origins: 'https://a.example' }],
      /origins must be a list of origins/,
    ],
    [
      'a path without /',
      [{ protocol: 'ws', path: 'mqtt' }],
      /listeners\[0\]\.path must be a URL path starting with '\/'/,
    ],
    [
      'a bad maxConnections in the second item',
      [{}, { maxConnections: 0 }],
      /listeners\[1\]\.maxConnections must be a whole number >= 1; got 0/,
    ],
  ]
  for (const [what, listeners, message] of refusals) {
    test(`refuses ${what} with one line`, () => {
      assert.throws(
        () => resolveSettings({ listeners }, 'f.yaml', noFlags),
        (err: unknown) =>
          err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'),
      )
    })
  }

  test('without listeners: one mqtt listener on port and host', () => {
    assert.deepEqual(resolveSettings({ port: 1884 }, 'f', noFlags).listeners, [
      { protocol: 'mqtt', port: 1884, host: '127.0.0.1' },
    ])
  })

  test('--port/--host replace the first mqtt listener, or add one in front', () => {
    const file = {
      listeners: [
        { protocol: 'ws', port: 8080 },
        { protocol: 'mqtt', port: 1884, maxConnections: 5 },
      ],
    }
    const s = resolveSettings(file, 'f', new Map([['port', '0']]))
    assert.deepEqual(s.listeners, [
      { protocol: 'ws', port: 8080 },
      { protocol: 'mqtt', port: 0, maxConnections: 5 },
    ])
    const t = resolveSettings({ listeners: [{ protocol: 'ws' }] }, 'f', new Map([['host', '0.0.0.0']]))
    assert.deepEqual(t.listeners, [{ protocol: 'mqtt', host: '0.0.0.0' }, { protocol: 'ws' }])
  })

  test("the README's listeners: example is a valid configuration", async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8')
    const block = /<!-- readme-test: file petrel-listeners\.yaml -->\n```yaml\n([\s\S]*?)```/.exec(readme)
    assert.ok(block !== null, 'the example is in the README')
    const s = resolveSettings(parseYaml(block[1]!) as Record<string, unknown>, 'README', noFlags)
    assert.deepEqual(
      s.listeners.map((l) => `${l.protocol}:${l.port}`),
      ['mqtt:1883', 'mqtts:8883', 'mqtts:8884', 'ws:8080', 'wss:8081'],
    )
  })

  test('port: or host: at the top of a file with listeners: is refused as ambiguous', () => {
    assert.throws(
      () => resolveSettings({ port: 1883, listeners: [{ protocol: 'ws' }] }, 'f.yaml', noFlags),
      /f.yaml: port and host go inside listeners: when listeners: is given/,
    )
  })
})

describe('petrel broker with TLS listeners', { skip: opensslSkip() }, () => {
  let pki: Pki
  let dir: string
  before(async () => {
    pki = await makePki()
    dir = await mkdtemp(join(tmpdir(), 'petrel-cli-listeners-'))
  })
  after(async () => {
    await pki?.remove()
    await rm(dir, { recursive: true, force: true })
  })

  async function config(name: string, listeners: object[]): Promise<string> {
    const path = join(dir, name)
    await writeFile(path, JSON.stringify({ memory: true, sysInterval: 0, listeners }))
    return path
  }

  test('logs one line per listener; serves mqtts; SIGHUP re-reads the certificates without dropping connections', async () => {
    const cert = join(dir, 'live.pem')
    const key = join(dir, 'live.key')
    await copyFile(pki.files.serverCert, cert)
    await copyFile(pki.files.serverKey, key)
    const cfg = await config('tls.json', [
      { protocol: 'mqtt', port: 0, host: LOOPBACK },
      { protocol: 'mqtts', port: 0, host: LOOPBACK, certfile: cert, keyfile: key },
      { protocol: 'ws', port: 0, host: LOOPBACK, path: '/mqtt' },
    ])
    const b = await startCliBroker(['-c', cfg])
    try {
      await b.waitFor(/listening on ws:\/\/127\.0\.0\.1:\d+\/mqtt/)
      const lines = b
        .stdout()
        .split('\n')
        .filter((l) => l.includes('listening on'))
      assert.equal(lines.length, 3, b.stdout())
      const tlsLine = JSON.parse(lines[1]!) as {
        protocol: string
        port: number
        listener: string
        msg: string
      }
      assert.equal(tlsLine.protocol, 'mqtts')
      assert.match(
        tlsLine.msg,
        new RegExp(`listening on mqtts://127\\.0\\.0\\.1:${tlsLine.port}, store: memory`),
      )
      const port = tlsLine.port

      const old = await tlsClient(port, { ca: pki.ca })
      assert.equal((await old.connect()).returnCode, 0)
      const first = await tlsSocket(port, { ca: pki.ca })
      assert.equal(first.getPeerCertificate().subject.CN, 'localhost')
      first.destroy()

      await copyFile(pki.files.server2Cert, cert)
      await copyFile(pki.files.server2Key, key)
      b.child.kill('SIGHUP')
      await b.waitFor(`reloaded certificates of mqtts://127.0.0.1:${port}`)
      const second = await tlsSocket(port, { ca: pki.ca })
      assert.equal(second.getPeerCertificate().subject.CN, 'localhost-2')
      second.destroy()

      await writeFile(cert, 'not a certificate\n')
      b.child.kill('SIGHUP')
      const refusal = await b.waitFor(
        /"msg":"cannot reload certificates of mqtts:[^\n]*keeping the one in use"/,
      )
      assert.match(refusal, /invalid TLS settings/)
      const third = await tlsSocket(port, { ca: pki.ca })
      assert.equal(third.getPeerCertificate().subject.CN, 'localhost-2', 'the last good certificate stays')
      third.destroy()

      old.send({ type: 12 }) // PINGREQ: the connection made before both reloads still works
      await old.next(13)
      old.destroy()
    } finally {
      await b.stop()
    }
  })

  for (const [what, files, message] of [
    [
      'an unreadable certfile',
      (p: Pki) => ({ certfile: join(p.files.dir, 'missing.pem'), keyfile: p.files.serverKey }),
      /cannot read certfile .*missing\.pem: no such file/,
    ],
    [
      'a keyfile that is not PEM',
      (p: Pki) => ({ certfile: p.files.serverCert, keyfile: p.files.ca }),
      /invalid TLS settings/,
    ],
    [
      'a key that does not match its certificate',
      (p: Pki) => ({ certfile: p.files.serverCert, keyfile: p.files.server2Key }),
      /invalid TLS settings: .*key values mismatch/,
    ],
  ] as const) {
    test(`refuses ${what}: one line naming the listener, exit 2`, async () => {
      const cfg = await config(`bad-${what.length}.json`, [
        { protocol: 'mqtts', port: 0, host: LOOPBACK, ...files(pki) },
      ])
      const r = await petrel(['broker', '-c', cfg])
      assert.equal(r.code, 2, r.stderr)
      assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`)
      assert.match(r.stderr, /^petrel broker: listener mqtts:\/\/127\.0\.0\.1:0: /)
      assert.match(r.stderr, message)
    })
  }

  test('useIdentityAsUsername with passwordFile and aclFile: the certificate is the authentication, the CN the ACL user; password users as before', async () => {
    const passwd = join(dir, 'passwd')
    await writeFile(passwd, `bob:${formatSecret(await hashPassword('hunter2'))}\n`, { mode: 0o600 })
    const acl = join(dir, 'cert.acl')
    await writeFile(acl, 'user alice\ntopic readwrite alice/#\nuser bob\ntopic readwrite #\n')
    const path = join(dir, 'cert.json')
    await writeFile(
      path,
      JSON.stringify({
        memory: true,
        sysInterval: 0,
        passwordFile: passwd,
        aclFile: acl,
        listeners: [
          { protocol: 'mqtt', port: 0, host: LOOPBACK },
          {
            protocol: 'mqtts',
            port: 0,
            host: LOOPBACK,
            certfile: pki.files.serverCert,
            keyfile: pki.files.serverKey,
            cafile: pki.files.ca,
            useIdentityAsUsername: true,
          },
        ],
      }),
    )
    const b = await startCliBroker(['-c', path])
    try {
      await b.waitFor(/listening on mqtts:/)
      const ports = b
        .stdout()
        .split('\n')
        .filter((l) => l.includes('listening on'))
        .map((l) => (JSON.parse(l) as { port: number }).port)
      const [plain, secure] = ports as [number, number]
      const alice = await tlsClient(secure, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey })
      assert.equal((await alice.connect({ clientId: 'alice' })).returnCode, 0, 'no password needed')
      await alice.subscribe('#', 0)
      const bob = await RawClient.open(plain, LOOPBACK)
      assert.equal((await bob.connect({ username: 'bob', password: Buffer.from('hunter2') })).returnCode, 0)
      bob.publish('bob/1', 'not for alice')
      bob.publish('alice/1', 'for alice')
      assert.equal((await alice.next(PacketType.PUBLISH)).topic, 'alice/1')
      const noCert = await tlsClient(secure, { ca: pki.ca })
      assert.equal(
        (await noCert.connect({ username: 'bob', password: Buffer.from('hunter2') })).returnCode,
        5,
      )
      const noPassword = await RawClient.open(plain, LOOPBACK)
      assert.equal((await noPassword.connect({ username: 'alice' })).returnCode, 5)
      for (const c of [alice, bob, noCert, noPassword]) c.destroy()
    } finally {
      await b.stop()
    }
  })
})
