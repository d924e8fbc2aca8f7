/**
 * Password files cross over: one written by Debian's mosquitto_passwd (`$7$`, and `$6$`
 * with -H sha512) is read by a Petrel broker, and one written by `petrel passwd` is read by
 * a real Mosquitto broker. Right passwords connect, wrong ones are refused, with Petrel's
 * client and with mosquitto_pub.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { PasswordFile, passwordFileHooks } from '../../src/auth/password-file-hooks.js'
import { Broker } from '../../src/broker/broker.js'
import { connect } from '../../src/client/client.js'
import { ConnackRefusedError } from '../../src/client/errors.js'
import { petrel } from '../cli/petrel-cli.js'
import {
  findBinary,
  inCI,
  type MosquittoBroker,
  mosquittoClientsSkip,
  mosquittoPub,
  mosquittoSkip,
  runTool,
  startMosquitto,
} from '../helpers/mosquitto.js'
import { LOOPBACK } from '../helpers/net.js'

const T = { timeout: 20_000 }

function passwdSkip(): string | false {
  if (findBinary('mosquitto_passwd') !== null) return false
  const reason = 'mosquitto_passwd not found on PATH (Debian: apt-get install mosquitto)'
  if (inCI()) throw new Error(`${reason}; CI=true, so interop tests must not be skipped`)
  return reason
}

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petrel-pwfile-interop-'))
})
after(() => rm(dir, { recursive: true, force: true }))

const refused = (err: unknown) => err instanceof ConnackRefusedError && err.returnCode === 5

describe('a password file written by mosquitto_passwd, read by Petrel', {
  skip: passwdSkip() || mosquittoClientsSkip(),
}, () => {
  let broker: Broker
  let port: number
  before(async () => {
    const file = join(dir, 'mosquitto-made')
    const bin = findBinary('mosquitto_passwd')!
    await runTool(bin, ['-c', '-b', file, 'alice', 'secret'])
    await runTool(bin, ['-H', 'sha512', '-b', file, 'bob', 'builder'])
    const passwords = await PasswordFile.load(file)
    assert.equal(passwords.size, 2)
    broker = new Broker({ sysInterval: 0, hooks: [passwordFileHooks(passwords, { allowAnonymous: false })] })
    port = (await broker.listen({ port: 0, host: LOOPBACK })).port
  })
  after(() => broker?.close())

  test(
    'its $7$ and $6$ users connect with their passwords (Petrel client, MQTT 3.1.1 and 5)',
    T,
    async () => {
      for (const [username, password] of [
        ['alice', 'secret'],
        ['bob', 'builder'],
      ] as const) {
        for (const protocolVersion of [4, 5] as const) {
          const c = await connect(`mqtt://${LOOPBACK}:${port}`, {
            protocolVersion,
            username,
            password,
            reconnect: false,
          })
          await c.end()
        }
      }
    },
  )

  test('wrong passwords, unknown users and anonymous clients are refused with CONNACK 5', T, async () => {
    for (const opts of [
      { username: 'alice', password: 'builder' },
      { username: 'bob', password: 'secret' },
      { username: 'eve', password: 'secret' },
      {},
    ]) {
      await assert.rejects(connect(`mqtt://${LOOPBACK}:${port}`, { ...opts, reconnect: false }), refused)
    }
  })

  test('mosquitto_pub gets in with the right password and is refused with a wrong one', T, async () => {
    const ok = await mosquittoPub(port, ['-u', 'alice', '-P', 'secret', '-t', 'pw/t', '-m', 'x'])
    assert.equal(ok.code, 0)
    const v5 = await mosquittoPub(port, ['-V', '5', '-u', 'bob', '-P', 'builder', '-t', 'pw/t', '-m', 'x'])
    assert.equal(v5.code, 0)
    const bad = await mosquittoPub(port, ['-u', 'alice', '-P', 'wrong', '-t', 'pw/t', '-m', 'x'], {
      allowFailure: true,
    })
    assert.equal(bad.code, 5, bad.stderr)
    assert.match(bad.stderr, /not authori[sz]ed/i)
  })
})

describe('a password file written by petrel passwd, read by Mosquitto', {
  skip: mosquittoSkip() || mosquittoClientsSkip(),
}, () => {
  let m: MosquittoBroker
  before(async () => {
    const file = join(dir, 'petrel-made')
    for (const args of [
      ['-c', '-b', file, 'alice', 'secret'],
      ['-H', 'sha512', '-b', file, 'bob', 'builder'],
      ['-i', '1000', '-b', file, 'carol', 'pencil'],
    ]) {
      const r = await petrel(['passwd', ...args])
      assert.equal(r.code, 0, r.stderr)
    }
    m = await startMosquitto({
      config: [
        // Started as root, Mosquitto would read the file as user 'mosquitto', which cannot enter our temp dir
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        `password_file ${file}`,
        'allow_anonymous false',
      ],
    })
  })
  after(() => m?.stop())

  test('its users connect with their passwords ($7$ at 101 and 1000 iterations, and $6$)', T, async () => {
    for (const [u, p] of [
      ['alice', 'secret'],
      ['bob', 'builder'],
      ['carol', 'pencil'],
    ]) {
      const r = await mosquittoPub(m.port, ['-u', u!, '-P', p!, '-t', 'pw/t', '-m', 'x'], {
        allowFailure: true,
      })
      assert.equal(r.code, 0, `${u}: ${r.stderr}\n${m.log()}`)
    }
    const c = await connect(m.url, { username: 'alice', password: 'secret', reconnect: false })
    await c.end()
  })

  test('a wrong password, an unknown user and an anonymous client are refused', T, async () => {
    for (const args of [['-u', 'alice', '-P', 'wrong'], ['-u', 'eve', '-P', 'secret'], []]) {
      const r = await mosquittoPub(m.port, [...args, '-t', 'pw/t', '-m', 'x'], { allowFailure: true })
      assert.equal(r.code, 5, r.stderr)
    }
    await assert.rejects(connect(m.url, { username: 'alice', password: 'nope', reconnect: false }), refused)
  })
})
