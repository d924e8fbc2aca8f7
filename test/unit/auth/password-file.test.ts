/**
 * Mosquitto's password file: parsing `$7$` and `$6$` lines, verifying passwords against
 * them (lines made by Debian's mosquitto_passwd 2.0.11), the decoy an unknown user is
 * checked against, the holder's reload, and the broker hook.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import {
  formatSecret,
  MAX_PASSWORD_ITERATIONS,
  type PasswordHash,
  parsePasswordFile,
} from '../../../src/auth/password-file.js'
import { PasswordFile, passwordFileHooks } from '../../../src/auth/password-file-hooks.js'
import { decoyHash, hashPassword, verifyPassword } from '../../../src/auth/password-hash.js'
import type { AuthAnswer, ClientInfo } from '../../../src/broker/options.js'
import { ConfigError } from '../../../src/errors.js'

// Written by `mosquitto_passwd -c -b f alice secret` (2.0.11) and `mosquitto_passwd -H sha512 -b f bob builder`
const ALICE_7 =
  'alice:$7$101$EswDkZR/Rn1g3EF6$ZH1aobE6YXSNETb+LejAkc7tidkWhCdm8bvGDeEsD+NgESEXgLZaYd6yj9pW2N8TvCjhGA0ULNb6JP/2XDJt7g=='
const BOB_6 =
  'bob:$6$tmHFlXKUBhzQMVqq$ZOTf9Z9blnBnJahfCNARkNP01gYe+2DG3bLM4Lbrb8BheFNdUppBW7iyw6TzHd5FGYLlGsT92uc6q3shGzWI/g=='
const FILE = `${ALICE_7}\n${BOB_6}\n`
const ZED_7 = ALICE_7.replace(/^alice/, 'zed')

function user(file: Map<string, PasswordHash>, name: string): PasswordHash {
  const h = file.get(name)
  assert.ok(h !== undefined, `no ${name}`)
  return h
}

describe('password file: parsing', () => {
  test("reads mosquitto_passwd's $7$ line: PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt, 64-byte hash", async () => {
    const alice = user(parsePasswordFile(FILE, 'f'), 'alice')
    assert.equal(alice.kind, 'pbkdf2-sha512')
    assert.equal(alice.kind === 'pbkdf2-sha512' && alice.iterations, 101)
    assert.equal(alice.salt.length, 12)
    assert.equal(alice.hash.length, 64)
    assert.equal(await verifyPassword(alice, Buffer.from('secret')), true)
    assert.equal(await verifyPassword(alice, Buffer.from('Secret')), false)
    assert.equal(await verifyPassword(alice, Buffer.alloc(0)), false)
  })

  test("reads mosquitto_passwd -H sha512's $6$ line: SHA-512 over the password, then the salt", async () => {
    const bob = user(parsePasswordFile(FILE, 'f'), 'bob')
    assert.equal(bob.kind, 'sha512')
    assert.equal(await verifyPassword(bob, Buffer.from('builder')), true)
    assert.equal(await verifyPassword(bob, Buffer.from('builder ')), false)
  })

  test('a $6$ line computed here as sha512(password || salt) verifies, and salt || password does not', async () => {
    const salt = Buffer.from('0123456789ab')
    const good = createHash('sha512').update('pencil').update(salt).digest()
    const swapped = createHash('sha512').update(salt).update('pencil').digest()
    const file = parsePasswordFile(
      `carol:$6$${salt.toString('base64')}$${good.toString('base64')}\n` +
        `dave:$6$${salt.toString('base64')}$${swapped.toString('base64')}\n`,
      'f',
    )
    assert.equal(await verifyPassword(user(file, 'carol'), Buffer.from('pencil')), true)
    assert.equal(await verifyPassword(user(file, 'dave'), Buffer.from('pencil')), false)
  })

  test('skips comments and blank lines, and reads CRLF line ends and blanks around a line', () => {
    const file = parsePasswordFile(`# users\r\n\r\n   \n  ${ALICE_7}  \r\n\t# bob\n${BOB_6}`, 'f')
    assert.deepEqual([...file.keys()], ['alice', 'bob'])
  })

  test('an empty file (or only comments) has no users', () => {
    assert.equal(parsePasswordFile('', 'f').size, 0)
    assert.equal(parsePasswordFile('# none yet\n', 'f').size, 0)
  })

  const hash64 = Buffer.alloc(64, 1).toString('base64')
  const salt = 'c2FsdHNhbHRzYWx0'
  for (const [what, line, why] of [
    [
      'a plain-text password',
      'alice:secret',
      /line 2: user 'alice': .*plain text; hash the file with 'petrel passwd -U FILE'/,
    ],
    ['no colon', 'alice', /line 2: not 'user:password hash'/],
    ['no user name', `:$6$${salt}$${hash64}`, /line 2: no user name/],
    ['an unknown hash type', `alice:$5$${salt}$${hash64}`, /unknown hash type '\$5\$'/],
    ['a $7$ line with a missing part', `alice:$7$101$${hash64}`, /not '\$7\$<iterations>\$<salt>\$<hash>'/],
    ['a $6$ line with an extra part', `alice:$6$${salt}$${hash64}$x`, /not '\$6\$<salt>\$<hash>'/],
    [
      'zero iterations',
      `alice:$7$0$${salt}$${hash64}`,
      /iteration count must be a whole number from 1 to 1000000; got '0'/,
    ],
    ['too many iterations', `alice:$7$${MAX_PASSWORD_ITERATIONS + 1}$${salt}$${hash64}`, /got '1000001'/],
    ['a huge iteration count', `alice:$7$99999999999999999999$${salt}$${hash64}`, /iteration count/],
    ['a salt that is not base64', `alice:$7$101$s@lt!$${hash64}`, /the salt is not base64/],
    [
      'a hash of the wrong size',
      `alice:$6$${salt}$${hash64.slice(0, 40)}`,
      /the hash is not 64 bytes of base64/,
    ],
    ['a user named twice', ZED_7, /line 2: user 'zed' is already on line 1; keep one of them/],
  ] as const) {
    test(`refuses the whole file for ${what}, naming the file and the line`, () => {
      assert.throws(
        () => parsePasswordFile(`${ZED_7}\n${line}\n`, '/etc/petrel/passwd'),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.option === 'passwordFile' &&
          err.message.startsWith('password file /etc/petrel/passwd, line 2: ') &&
          why.test(err.message),
      )
    })
  }

  test('formatSecret writes what parsePasswordFile reads', async () => {
    for (const h of [await hashPassword('pw'), await hashPassword('pw', { kind: 'sha512' })]) {
      const back = user(parsePasswordFile(`u:${formatSecret(h)}\n`, 'f'), 'u')
      assert.deepEqual(back, h)
    }
  })
})

describe('password file: hashing and the decoy', () => {
  test('hashPassword makes $7$ with 101 iterations and a 12-byte random salt by default, like mosquitto_passwd', async () => {
    const a = await hashPassword('pw')
    const b = await hashPassword('pw')
    assert.equal(a.kind === 'pbkdf2-sha512' && a.iterations, 101)
    assert.equal(a.salt.length, 12)
    assert.notDeepEqual(a.salt, b.salt)
    assert.match(formatSecret(a), /^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/)
    assert.equal(await verifyPassword(a, Buffer.from('pw')), true)
  })

  test('the decoy takes the scheme and iteration count most users have, with a hash no password gives', () => {
    const file = parsePasswordFile(FILE, 'f')
    const many = new Map(file)
    const seven = (n: number): PasswordHash => ({ ...user(file, 'alice'), iterations: n }) as PasswordHash
    many.set('c', seven(5000))
    many.set('d', seven(5000))
    const d = decoyHash(many.values())
    assert.equal(d.kind === 'pbkdf2-sha512' && d.iterations, 5000)
    assert.equal(decoyHash([user(file, 'bob')]).kind, 'sha512')
    const empty = decoyHash([])
    assert.equal(empty.kind === 'pbkdf2-sha512' && empty.iterations, 101)
  })

  test('a $7$ check runs off the event loop: timers keep firing while PBKDF2 computes', async () => {
    const slow = await hashPassword('pw', { iterations: 200_000 })
    let ticks = 0
    const timer = setInterval(() => ticks++, 5)
    const started = Date.now()
    try {
      assert.equal(await verifyPassword(slow, Buffer.from('pw')), true)
    } finally {
      clearInterval(timer)
    }
    const elapsed = Date.now() - started
    assert.ok(
      ticks >= Math.floor(elapsed / 5 / 3),
      `${ticks} ticks in ${elapsed} ms: the event loop was blocked`,
    )
  })
})

const dir = await mkdtemp(join(tmpdir(), 'petrel-pwfile-'))
after(() => rm(dir, { recursive: true, force: true }))

describe('PasswordFile', () => {
  const spy = () => {
    const calls: PasswordHash[] = []
    return {
      calls,
      verify: (stored: PasswordHash, password: Buffer) => {
        calls.push(stored)
        return verifyPassword(stored, password)
      },
    }
  }

  test("checks a user's password against the file", async () => {
    const f = PasswordFile.fromText(FILE, 'f')
    assert.equal(f.size, 2)
    assert.equal(await f.check('alice', Buffer.from('secret')), true)
    assert.equal(await f.check('bob', Buffer.from('builder')), true)
    assert.equal(await f.check('alice', Buffer.from('builder')), false)
  })

  test('an unknown user is checked against the decoy, then refused (the same work as a wrong password)', async () => {
    const s = spy()
    const f = PasswordFile.fromText(FILE, 'f', { verify: s.verify })
    assert.equal(await f.check('mallory', Buffer.from('secret')), false)
    assert.deepEqual(s.calls, [f.decoy])
    assert.equal(await f.check('__proto__', Buffer.from('x')), false)
    assert.deepEqual(s.calls, [f.decoy, f.decoy])
  })

  test("a user without a password is checked against its own hash, then refused, even if the hash is of ''", async () => {
    const s = spy()
    const empty = formatSecret(await hashPassword(''))
    const f = PasswordFile.fromText(`${ALICE_7}\nnopw:${empty}\n`, 'f', { verify: s.verify })
    assert.equal(await f.check('alice', undefined), false)
    assert.equal(await f.check('nopw', undefined), false)
    assert.equal(s.calls.length, 2)
    assert.notEqual(s.calls[0], f.decoy)
    assert.equal(await f.check('nopw', Buffer.alloc(0)), true)
  })

  test('load names a missing file; reload swaps in a good file whole and keeps the old one on a bad file', async () => {
    const path = join(dir, 'passwd')
    await assert.rejects(PasswordFile.load(path), /cannot read password file .*passwd: no such file/)
    await writeFile(path, `${ALICE_7}\n`)
    const f = await PasswordFile.load(path)
    assert.equal(await f.check('alice', Buffer.from('secret')), true)

    await writeFile(path, `${BOB_6}\n`)
    await f.reload()
    assert.equal(await f.check('bob', Buffer.from('builder')), true)
    assert.equal(await f.check('alice', Buffer.from('secret')), false, 'alice was removed')

    await writeFile(path, `${ALICE_7}\nbob:builder\n`)
    await assert.rejects(f.reload(), /password file .*passwd, line 2: user 'bob': .*plain text/)
    assert.equal(await f.check('bob', Buffer.from('builder')), true, 'the old file stays in use')
    assert.equal(await f.check('alice', Buffer.from('secret')), false)

    await rm(path)
    await assert.rejects(f.reload(), /no such file/)
    assert.equal(await f.check('bob', Buffer.from('builder')), true)
  })
})

describe('passwordFileHooks', () => {
  const client = (protocolVersion: number): ClientInfo => ({
    id: 'c',
    username: undefined,
    remoteAddress: '127.0.0.1',
    protocolVersion,
  })
  const file = PasswordFile.fromText(FILE, 'f')
  const answer = async (a: AuthAnswer | Promise<AuthAnswer>) => await a

  test('the right password is let in; a wrong one, an unknown user or no password gets CONNACK 5', async () => {
    const auth = passwordFileHooks(file, { allowAnonymous: false }).authenticate!
    for (const v of [4, 5]) {
      assert.equal(await answer(auth(client(v), 'alice', Buffer.from('secret'))), true)
      assert.equal(await answer(auth(client(v), 'alice', Buffer.from('wrong'))), 5)
      assert.equal(await answer(auth(client(v), 'carol', Buffer.from('secret'))), 5)
      assert.equal(await answer(auth(client(v), 'alice', undefined)), 5)
    }
  })

  test('a client without a user name comes in only with allowAnonymous', async () => {
    assert.equal(
      await answer(
        passwordFileHooks(file, { allowAnonymous: false }).authenticate!(client(4), undefined, undefined),
      ),
      5,
    )
    assert.equal(
      await answer(
        passwordFileHooks(file, { allowAnonymous: true }).authenticate!(client(4), undefined, undefined),
      ),
      true,
    )
  })

  test('MQTT 5 enhanced authentication is left to the hook that knows the method (undefined)', () => {
    const auth = passwordFileHooks(file, { allowAnonymous: false }).authenticate!
    const request = { method: 'SCRAM-SHA-256', data: Buffer.from('n,,n=alice,r=x') }
    assert.equal(auth(client(5), 'alice', undefined, request), undefined)
  })
})
