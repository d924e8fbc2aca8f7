/**
 * `petrel passwd FILE ...` with mosquitto_passwd's flags, and `petrel broker --password-file`:
 * logins, refusals, and reloading on SIGHUP without dropping anyone.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parsePasswordFile } from '../../src/auth/password-file.js'
import { verifyPassword } from '../../src/auth/password-hash.js'
import { connect } from '../../src/client/client.js'
import { ConnackRefusedError } from '../../src/client/errors.js'
import { findBinary } from '../helpers/mosquitto.js'
import { LOOPBACK } from '../helpers/net.js'
import { CLI, petrel, startCliBroker } from './petrel-cli.js'

const T = { timeout: 30_000 }
const LINE_7 = /^[^:]+:\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petrel-passwd-file-'))
})
after(() => rm(dir, { recursive: true, force: true }))

/** Whether `password` is `username`'s in the file. */
async function holds(file: string, username: string, password: string): Promise<boolean> {
  const stored = parsePasswordFile(await readFile(file, 'utf8'), file).get(username)
  return stored !== undefined && (await verifyPassword(stored, Buffer.from(password)))
}

function lines(text: string): string[] {
  return text.split('\n').slice(0, -1)
}

describe('petrel passwd FILE', () => {
  test(
    '-c -b creates a 0600 file with one $7$ line (101 iterations, as mosquitto_passwd 2.0 writes), atomically',
    T,
    async () => {
      const sub = await mkdtemp(join(dir, 'create-'))
      const file = join(sub, 'passwd')
      const r = await petrel(['passwd', '-c', '-b', file, 'alice', 'secret'])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout + r.stderr, '')
      const text = await readFile(file, 'utf8')
      assert.match(lines(text)[0]!, LINE_7)
      assert.equal(lines(text).length, 1)
      assert.ok(await holds(file, 'alice', 'secret'))
      assert.equal((await stat(file)).mode & 0o777, 0o600)
      assert.deepEqual(await readdir(sub), ['passwd'], 'no temporary file is left behind')
    },
  )

  test(
    "adds a user last, sets a user's password again in its place, keeps comments, blank lines and the file's mode",
    T,
    async () => {
      const file = join(dir, 'keep')
      await petrel(['passwd', '-c', '-b', file, 'alice', 'a1'])
      await petrel(['passwd', '-b', file, 'bob', 'b1'])
      const before = lines(await readFile(file, 'utf8'))
      await writeFile(file, `# site users\n${before[0]}\n\n${before[1]}\n`)
      await chmod(file, 0o640)
      assert.equal((await petrel(['passwd', '-b', file, 'carol', 'c1'])).code, 0)
      assert.equal((await petrel(['passwd', '-b', file, 'alice', 'a2'])).code, 0)
      const after = lines(await readFile(file, 'utf8'))
      assert.equal(after.length, 5)
      assert.deepEqual([after[0], after[2], after[3]], ['# site users', '', before[1]])
      assert.match(after[1]!, /^alice:/)
      assert.notEqual(after[1], before[0])
      assert.match(after[4]!, /^carol:/)
      assert.ok(await holds(file, 'alice', 'a2'))
      assert.ok(await holds(file, 'bob', 'b1'))
      assert.ok(await holds(file, 'carol', 'c1'))
      assert.equal((await stat(file)).mode & 0o777, 0o640)
    },
  )

  test('-c overwrites an existing file; -D deletes a user', T, async () => {
    const file = join(dir, 'overwrite')
    await petrel(['passwd', '-c', '-b', file, 'alice', 'a'])
    await petrel(['passwd', '-b', file, 'bob', 'b'])
    assert.equal((await petrel(['passwd', '-c', '-b', file, 'carol', 'c'])).code, 0)
    assert.deepEqual(
      lines(await readFile(file, 'utf8')).map((l) => l.split(':')[0]),
      ['carol'],
    )
    await petrel(['passwd', '-b', file, 'dave', 'd'])
    assert.equal((await petrel(['passwd', '-D', file, 'carol'])).code, 0)
    assert.deepEqual(
      lines(await readFile(file, 'utf8')).map((l) => l.split(':')[0]),
      ['dave'],
    )
  })

  test(
    'without -b: the first two lines of standard input when it is not a terminal, which must match',
    T,
    async () => {
      const file = join(dir, 'stdin')
      const ok = await petrel(['passwd', '-c', file, 'alice'], { input: 'pencil\npencil\n' })
      assert.equal(ok.code, 0, ok.stderr)
      assert.equal(ok.stdout, '', 'no prompt when standard input is not a terminal')
      assert.ok(await holds(file, 'alice', 'pencil'))
      for (const [input, why] of [
        ['pencil\npen\n', /^petrel passwd: passwords do not match\n$/],
        [
          'pencil\n',
          /^petrel passwd: standard input must hold the password twice, on two lines \(or give -b\)\n$/,
        ],
        ['', /^petrel passwd: empty password\n$/],
        ['\n\n', /^petrel passwd: empty password\n$/],
      ] as const) {
        const r = await petrel(['passwd', file, 'bob'], { input })
        assert.equal(r.code, 2)
        assert.match(r.stderr, why)
      }
      assert.ok(!(await readFile(file, 'utf8')).includes('bob:'), 'nothing was written')
    },
  )

  const script = findBinary('script')
  test('on a terminal: asks "Password:" and "Reenter password:" and does not echo what is typed', {
    ...T,
    skip: script === null ? 'script (util-linux) not found' : false,
  }, async () => {
    const file = join(dir, 'tty')
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} passwd -c ${JSON.stringify(file)} alice`
    const child = spawn(script!, ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    const seen = (text: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no '${text}' in ${JSON.stringify(out)}`)), 10_000)
        const check = (): void => {
          if (!out.includes(text)) return
          clearTimeout(timer)
          child.stdout.off('data', check)
          resolve()
        }
        child.stdout.on('data', check)
        check()
      })
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
    try {
      await seen('Password: ')
      child.stdin.write('tty-secret\r')
      await seen('Reenter password: ')
      child.stdin.end('tty-secret\r')
      assert.equal(await exited, 0, out)
    } finally {
      child.kill('SIGKILL')
    }
    assert.ok(!out.includes('tty-secret'), `the password was echoed: ${JSON.stringify(out)}`)
    assert.ok(await holds(file, 'alice', 'tty-secret'))
  })

  test(
    '-U hashes the plain-text passwords of a file, leaving hashed lines, comments and blank lines as they are',
    T,
    async () => {
      const file = join(dir, 'plain')
      await petrel(['passwd', '-c', '-b', file, 'hashed', 'h'])
      const hashed = lines(await readFile(file, 'utf8'))[0]!
      await writeFile(file, `# converted\nalice:secret\n\n${hashed}\nbob:with:colons\n`)
      const r = await petrel(['passwd', '-U', file])
      assert.equal(r.code, 0, r.stderr)
      const after = lines(await readFile(file, 'utf8'))
      assert.deepEqual([after[0], after[2], after[3]], ['# converted', '', hashed])
      assert.match(after[1]!, LINE_7)
      assert.ok(await holds(file, 'alice', 'secret'))
      assert.ok(await holds(file, 'bob', 'with:colons'))
      assert.ok(await holds(file, 'hashed', 'h'))
    },
  )

  test('-H sha512 writes a $6$ line; -i sets the PBKDF2 iterations', T, async () => {
    const file = join(dir, 'kinds')
    assert.equal((await petrel(['passwd', '-c', '-H', 'sha512', '-b', file, 'old', 'o'])).code, 0)
    assert.equal((await petrel(['passwd', '-i', '5000', '-b', file, 'slow', 's'])).code, 0)
    const [six, seven] = lines(await readFile(file, 'utf8'))
    assert.match(six!, /^old:\$6\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/)
    assert.match(seven!, /^slow:\$7\$5000\$/)
    assert.ok(await holds(file, 'old', 'o'))
    assert.ok(await holds(file, 'slow', 's'))
  })

  const refusals: [string, string[], number, RegExp][] = [
    [
      'a missing file without -c',
      ['-b', 'FILE-missing', 'u', 'p'],
      1,
      /^cannot open password file .*refusals-missing: no such file \(give -c to create it\)$/,
    ],
    ['-D of a user not in the file', ['-D', 'FILE', 'nobody'], 1, /^user nobody is not in .*refusals$/],
    ['a user name with a colon', ['-b', 'FILE', 'a:b', 'p'], 2, /^the user name must not contain ':'$/],
    ['a user name starting with #', ['-b', 'FILE', '#a', 'p'], 2, /^the user name must not start with '#'/],
    ['an empty password', ['-b', 'FILE', 'u', ''], 2, /^empty password$/],
    [
      '-c with -D',
      ['-c', '-D', 'FILE', 'u'],
      2,
      /^-c and -D exclude each other; run 'petrel passwd --help' for the forms$/,
    ],
    ['-U with a user', ['-U', 'FILE', 'u'], 2, /^-U takes only the file; unexpected 'u'/],
    ['a password without -b', ['FILE', 'u', 'p'], 2, /^give -b to pass the password on the command line/],
    ['-b without a password', ['-b', 'FILE', 'u'], 2, /^-b needs the password after the user name/],
    [
      'an unknown algorithm',
      ['-H', 'md5', '-b', 'FILE', 'u', 'p'],
      2,
      /^-H must be sha512-pbkdf2 or sha512; got 'md5'$/,
    ],
    [
      'fewer iterations than mosquitto_passwd',
      ['-i', '100', '-b', 'FILE', 'u', 'p'],
      2,
      /^--iterations must be a whole number from 101 to 1000000/,
    ],
    ['a file flag with --scram', ['--scram', '-c'], 2, /^--create needs a password file, not --scram$/],
  ]
  for (const [what, args, code, why] of refusals) {
    test(`refuses ${what} with one line and exit code ${code}`, T, async () => {
      const file = join(dir, 'refusals')
      await petrel(['passwd', '-c', '-b', file, 'alice', 'secret'])
      const before = await readFile(file, 'utf8')
      const r = await petrel(['passwd', ...args.map((a) => a.replace('FILE', file))])
      assert.equal(r.code, code, r.stderr)
      assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`)
      assert.match(r.stderr.replace(/^petrel passwd: /, '').trim(), why)
      assert.equal(await readFile(file, 'utf8'), before, 'the file is unchanged')
    })
  }
})

describe('petrel broker --password-file', () => {
  const refused = (code: number) => (err: unknown) =>
    err instanceof ConnackRefusedError && err.returnCode === code

  test(
    'its users log in with their password; a wrong one, an unknown user or anonymous get CONNACK 5',
    T,
    async () => {
      const file = join(dir, 'broker-passwd')
      await petrel(['passwd', '-c', '-b', file, 'alice', 'secret'])
      const b = await startCliBroker(['--memory', '--password-file', file])
      const url = `mqtt://${LOOPBACK}:${b.port}`
      try {
        assert.match(b.stdout(), /"auth":"password file .*broker-passwd \(1 users\)"/)
        assert.doesNotMatch(b.stdout(), /can be read by every user/, 'petrel passwd made it 0600')
        for (const protocolVersion of [4, 5] as const) {
          const ok = await connect(url, {
            protocolVersion,
            username: 'alice',
            password: 'secret',
            reconnect: false,
          })
          await ok.end()
        }
        for (const opts of [
          {},
          { username: 'alice', password: 'nope' },
          { username: 'bob', password: 'secret' },
        ]) {
          await assert.rejects(connect(url, { ...opts, reconnect: false }), refused(5))
        }
        await assert.rejects(
          connect(url, { protocolVersion: 5, username: 'alice', password: 'nope', reconnect: false }),
          (err: unknown) => err instanceof ConnackRefusedError && err.reasonCode === 0x87, // as Mosquitto 2.0
        )
      } finally {
        await b.stop()
      }
    },
  )

  test(
    'allowAnonymous: true in the config lets clients without a user name in; a world-readable file is warned about',
    T,
    async () => {
      const file = join(dir, 'anon-passwd')
      await petrel(['passwd', '-c', '-b', file, 'alice', 'secret'])
      const config = join(dir, 'anon.yaml')
      await writeFile(config, `memory: true\npasswordFile: ${file}\nallowAnonymous: true\n`)
      await chmod(file, 0o644)
      const b = await startCliBroker(['--config', config])
      const url = `mqtt://${LOOPBACK}:${b.port}`
      try {
        await b.waitFor(
          /"level":"warn".*"msg":"password file .*anon-passwd can be read by every user of this machine; chmod 600 it/,
        )
        await (await connect(url, { reconnect: false })).end()
        await assert.rejects(connect(url, { username: 'alice', password: 'x', reconnect: false }), refused(5))
      } finally {
        await b.stop()
      }
    },
  )

  test(
    'a password file with a bad line stops the start with one line naming the file and the line (exit 2)',
    T,
    async () => {
      const file = join(dir, 'bad-passwd')
      await writeFile(file, '# users\nalice:secret\n')
      const r = await petrel(['broker', '--memory', '--password-file', file])
      assert.equal(r.code, 2)
      assert.equal(
        r.stderr,
        `petrel broker: password file ${file}, line 2: user 'alice': the password is in plain text; ` +
          "hash the file with 'petrel passwd -U FILE'\n",
      )
    },
  )

  test(
    'SIGHUP reloads the file: new passwords work, connected clients stay, a broken file keeps the old one',
    T,
    async () => {
      const file = join(dir, 'hup-passwd')
      await petrel(['passwd', '-c', '-b', file, 'alice', 'old'])
      const b = await startCliBroker(['--memory', '--password-file', file])
      const url = `mqtt://${LOOPBACK}:${b.port}`
      const stayed = await connect(url, {
        username: 'alice',
        password: 'old',
        clientId: 'stayed',
        reconnect: false,
      })
      try {
        await stayed.subscribe('hup/t', { qos: 1 })
        const inbox = stayed.messages()

        await petrel(['passwd', '-b', file, 'alice', 'new'])
        await petrel(['passwd', '-b', file, 'bob', 'builder'])
        b.child.kill('SIGHUP')
        await b.waitFor(/"msg":"reloaded password file [^"]*hup-passwd"/)
        await assert.rejects(
          connect(url, { username: 'alice', password: 'old', reconnect: false }),
          refused(5),
        )
        const bob = await connect(url, { username: 'bob', password: 'builder', reconnect: false })
        await bob.publish('hup/t', 'still here', { qos: 1 })
        const got = await inbox.next()
        assert.equal(
          got.value?.payload.toString(),
          'still here',
          'the client connected before the reload is served',
        )
        await bob.end()

        await writeFile(file, `${await readFile(file, 'utf8')}carol:plain\n`)
        b.child.kill('SIGHUP')
        await b.waitFor(
          /"msg":"cannot reload password file [^"]*hup-passwd: [^"]*line 3: user 'carol'[^"]*; keeping the one in use"/,
        )
        const alice = await connect(url, { username: 'alice', password: 'new', reconnect: false })
        await alice.end()
        await assert.rejects(
          connect(url, { username: 'carol', password: 'plain', reconnect: false }),
          refused(5),
        )
        assert.equal(b.child.exitCode, null, 'the broker is still running')
      } finally {
        await stayed.end().catch(() => {})
        await b.stop()
      }
    },
  )
})
