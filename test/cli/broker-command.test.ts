/**
 * `petrel broker` as a process: what it prints at start, config files and
 * flags, users, refusals (one line, exit 2) and graceful shutdown on signals.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect } from '../../src/client/client.js'
import { ConnackRefusedError } from '../../src/client/errors.js'
import { LOOPBACK } from '../helpers/net.js'
import { petrel, startCliBroker } from './petrel-cli.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petrel-cli-broker-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

interface LogRecord {
  level: string
  msg: string
  [key: string]: unknown
}

function records(stdout: string): LogRecord[] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogRecord)
}

describe('petrel broker', () => {
  test('prints where it listens and which store it uses, as JSON lines when not on a terminal', async () => {
    const b = await startCliBroker(['--memory'])
    try {
      const start = records(b.stdout())[0]!
      assert.equal(start.level, 'info')
      assert.equal(start.host, LOOPBACK)
      assert.equal(start.port, b.port)
      assert.equal(start.store, 'memory')
      assert.match(start.msg, new RegExp(`listening on ${LOOPBACK}:${b.port}, store: memory`))
    } finally {
      await b.stop()
    }
  })

  test('uses the SQLite store in ./petrel-data by default', async () => {
    const cwd = await mkdtemp(join(dir, 'cwd-'))
    const b = await startCliBroker([], { cwd })
    try {
      const start = records(b.stdout())[0]!
      assert.equal(start.store, 'sqlite')
      assert.equal(start.dataDir, join(cwd, 'petrel-data'))
      assert.ok(existsSync(join(cwd, 'petrel-data')))
    } finally {
      await b.stop()
    }
  })

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`shuts down gracefully on ${signal}: connections closed, exit code 0`, async () => {
      const b = await startCliBroker(['--memory'])
      const client = await connect(`mqtt://${LOOPBACK}:${b.port}`, { reconnect: false })
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()))
      const exit = await b.stop(signal)
      assert.deepEqual(exit, { code: 0, signal: null })
      await closed
      const msgs = records(b.stdout()).map((r) => r.msg)
      assert.ok(msgs.includes('shutting down'), msgs.join('; '))
      assert.equal(msgs.at(-1), 'stopped')
    })
  }

  test('takes its settings from a YAML file, with flags on top', async () => {
    const file = join(dir, 'petrel.yaml')
    await writeFile(file, 'port: 1\nmemory: true\nmaxInflight: 5\nsysInterval: 0\nlogLevel: info\n')
    const b = await startCliBroker(['--config', file]) // startCliBroker's --port 0 overrides port: 1
    try {
      assert.equal(records(b.stdout())[0]!.store, 'memory')
    } finally {
      await b.stop()
    }
  })

  test('plain-text users from a JSON config: the right password connects, others get CONNACK 5', async () => {
    const file = join(dir, 'users.json')
    await writeFile(
      file,
      JSON.stringify({ memory: true, users: { alice: 'secret' }, allowPlaintextUsers: true }),
    )
    const b = await startCliBroker(['--config', file])
    const url = `mqtt://${LOOPBACK}:${b.port}`
    try {
      const ok = await connect(url, { username: 'alice', password: 'secret', reconnect: false })
      await ok.end()
      for (const opts of [
        {},
        { username: 'alice', password: 'nope' },
        { username: 'bob', password: 'secret' },
      ]) {
        await assert.rejects(
          connect(url, { ...opts, reconnect: false }),
          (err: unknown) => err instanceof ConnackRefusedError && err.returnCode === 5,
        )
      }
    } finally {
      await b.stop()
    }
  })

  const refused: [string, string[], string | null, RegExp][] = [
    [
      'an unknown flag',
      ['--bogus'],
      null,
      /^petrel broker: unknown option '--bogus'; run 'petrel broker --help'/,
    ],
    [
      'a bad flag value',
      ['--port', 'x'],
      null,
      /^petrel broker: --port must be a whole number from 0 to 65535; got 'x'$/,
    ],
    [
      'an unknown config key',
      [],
      'maxInflights: 3\n',
      /^petrel broker: .*bad\.yaml: unknown key 'maxInflights' \(did you mean 'maxInflight'\?\)/,
    ],
    [
      'a bad config value',
      [],
      'maxInflight: 0\n',
      /^petrel broker: .*bad\.yaml: maxInflight must be a whole number from 1 to 65535; got 0$/,
    ],
    ['a config file that is not YAML', [], 'port: [\n', /^petrel broker: .*bad\.yaml is not valid YAML/],
    ['a missing config file', ['--config', '/nonexistent/petrel.yaml'], null, /cannot read config file/],
    [
      'plain-text users without allowPlaintextUsers',
      [],
      'users:\n  alice: secret\n',
      /^petrel broker: .*bad\.yaml: users\.alice holds a plain-text password; put your users in a password file \('petrel passwd -c passwd alice', then passwordFile: passwd\), or set allowPlaintextUsers: true$/,
    ],
    [
      'users together with a password file',
      ['--password-file', '/nonexistent/passwd'],
      'users:\n  alice: secret\nallowPlaintextUsers: true\n',
      /^petrel broker: .*bad\.yaml: users and --password-file exclude each other; put every user in the password file$/,
    ],
    [
      'a missing password file',
      ['--password-file', '/nonexistent/passwd'],
      null,
      /^petrel broker: cannot read password file \/nonexistent\/passwd: no such file$/,
    ],
  ]
  for (const [what, args, yaml, message] of refused) {
    test(`refuses ${what} with one line and exit code 2`, async () => {
      const extra: string[] = []
      if (yaml !== null) {
        const file = join(dir, 'bad.yaml')
        await writeFile(file, yaml)
        extra.push('--config', file)
      }
      const r = await petrel(['broker', '--memory', ...args, ...extra])
      assert.equal(r.code, 2, r.stderr)
      assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`)
      assert.match(r.stderr.trim(), message)
      assert.equal(r.stdout, '')
    })
  }

  test('exits 1 with one line when the port is taken', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))
    const port = (server.address() as { port: number }).port
    try {
      const r = await petrel(['broker', '--memory', '--host', LOOPBACK, '--port', String(port)])
      assert.equal(r.code, 1)
      assert.equal(r.stderr, `petrel broker: cannot listen on ${LOOPBACK}:${port}: address already in use\n`)
    } finally {
      server.close()
    }
  })

  test('exits 1 with one line when no NATS server answers at --cluster', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))
    const port = (server.address() as { port: number }).port
    server.close() // a port nobody listens on now
    const r = await petrel(['broker', '--memory', '--port', '0', '--cluster', `nats://${LOOPBACK}:${port}`], {
      timeoutMs: 15_000,
      allowFailure: true,
    })
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      /^petrel broker: cannot join the cluster: no NATS server answered at nats:\/\/127\.0\.0\.1:\d+ \(.+\); start nats-server \(with JetStream\) there, or fix --cluster\n$/,
    )
    assert.equal(r.stdout, '')
  })

  test('a data directory that cannot be created is one error line, not a hang', async () => {
    // Node 20's recursive mkdir never returns under /proc: this hung at full CPU before
    const r = await petrel(['broker', '--port', '0', '--data-dir', '/proc/petrel-nope/data'], {
      timeoutMs: 5000,
      allowFailure: true,
    })
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      /^petrel broker: cannot open the SQLite store in \/proc\/petrel-nope\/data: .*ENOENT.*\n$/,
    )
  })

  test('--help lists every option and exits 0', async () => {
    const r = await petrel(['broker', '--help'])
    assert.equal(r.code, 0)
    for (const flag of [
      '--config',
      '--port',
      '--host',
      '--log-level',
      '--data-dir',
      '--memory',
      '--max-inflight',
    ]) {
      assert.ok(r.stdout.includes(flag), flag)
    }
  })
})

describe('petrel', () => {
  test('refuses an unknown command with exit code 2 and prints its version', async () => {
    const r = await petrel(['frobnicate'])
    assert.equal(r.code, 2)
    assert.match(
      r.stderr,
      /^petrel: unknown command 'frobnicate'; commands: broker, pub, sub, bench, top, passwd\n$/,
    )
    const v = await petrel(['--version'])
    assert.match(v.stdout, /^petrel \d+\.\d+\.\d+\n$/)
  })
})
