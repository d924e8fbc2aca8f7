/**
 * A broker with a password file, seen from the wire: the CONNACK bytes a refused client
 * gets at MQTT 3.1.1 and MQTT 5, and other clients served while a slow PBKDF2 computes.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatSecret } from '../../../src/auth/password-file.js'
import { PasswordFile, passwordFileHooks } from '../../../src/auth/password-file-hooks.js'
import { hashPassword } from '../../../src/auth/password-hash.js'
import { PacketType, ReasonCode } from '../../../src/protocol/constants.js'
import { startBroker } from '../../helpers/raw-client.js'

const T = { timeout: 20_000 }

const file = PasswordFile.fromText(
  `# test users\nalice:${formatSecret(await hashPassword('secret'))}\n` +
    `slow:${formatSecret(await hashPassword('patience', { iterations: 400_000 }))}\n`,
  'test',
)
const hooks = (allowAnonymous: boolean) => ({ hooks: [passwordFileHooks(file, { allowAnonymous })] })

describe('a broker with a password file', () => {
  test('accepts the right password at MQTT 3.1.1 and MQTT 5 (CONNACK 0)', T, async (t) => {
    const b = await startBroker(hooks(false), t)
    for (const protocolVersion of [4, 5] as const) {
      const c = await b.open()
      const ack = await c.connect({ protocolVersion, username: 'alice', password: Buffer.from('secret') })
      assert.equal(ack.returnCode, 0)
    }
  })

  test(
    'refuses a wrong password at MQTT 3.1.1 with CONNACK 5 (20 02 00 05), then closes [MQTT-3.2.2-5]',
    T,
    async (t) => {
      const b = await startBroker(hooks(false), t)
      for (const [username, password] of [
        ['alice', 'wrong'],
        ['mallory', 'secret'],
        ['alice', undefined],
      ] as const) {
        const c = await b.open()
        const ack = await c.connect({
          username,
          ...(password === undefined ? {} : { password: Buffer.from(password) }),
        })
        assert.equal(c.raw(ack).toString('hex'), '20020005')
        await c.closed()
      }
    },
  )

  test(
    'refuses a wrong password at MQTT 5 with CONNACK 0x87 Not authorized, then closes [MQTT-3.2.2-7]',
    T,
    async (t) => {
      const b = await startBroker(hooks(false), t)
      const c = await b.open()
      const ack = await c.connect({ protocolVersion: 5, username: 'alice', password: Buffer.from('wrong') })
      assert.equal(ack.returnCode, ReasonCode.NOT_AUTHORIZED)
      await c.closed()
    },
  )

  test('refuses a client without a user name unless anonymous clients are allowed', T, async (t) => {
    const closed = await startBroker(hooks(false), t)
    const refused = await closed.open()
    assert.equal((await refused.connect({})).returnCode, 5)
    const open = await startBroker(hooks(true), t)
    await open.connect({})
  })

  test(
    'MQTT 5: a method no hook knows is refused with 0x8C Bad authentication method [MQTT-4.12.0-1]',
    T,
    async (t) => {
      const b = await startBroker(hooks(true), t)
      const c = await b.open()
      const ack = await c.connect({
        protocolVersion: 5,
        username: 'alice',
        password: Buffer.from('secret'),
        properties: {
          authenticationMethod: 'SCRAM-SHA-256',
          authenticationData: Buffer.from('n,,n=alice,r=abc'),
        },
      })
      assert.equal(ack.returnCode, ReasonCode.BAD_AUTHENTICATION_METHOD)
    },
  )

  test('serves other clients while a slow PBKDF2 (400,000 iterations) checks a password', T, async (t) => {
    const b = await startBroker(hooks(true), t)
    const other = await b.connect({})
    const slow = await b.open()
    slow.send({
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
      clientId: 'slow',
      username: 'slow',
      password: Buffer.from('patience'),
    })
    const started = Date.now()
    other.send({ type: PacketType.PINGREQ })
    await other.next(PacketType.PINGRESP, 5000)
    const pinged = Date.now() - started
    const ack = await slow.next(PacketType.CONNACK, 10_000)
    const checked = Date.now() - started
    assert.equal(ack.returnCode, 0)
    assert.ok(pinged * 4 < checked, `PINGRESP after ${pinged} ms, CONNACK after ${checked} ms`)
  })
})
