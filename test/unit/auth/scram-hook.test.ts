/** scramServer as the broker sees it: the authenticate hook of the enhanced authentication contract. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  type ScramCredentials,
  type ScramHookSet,
  scramClient,
  scramCredentials,
  scramServer,
} from '../../../src/auth/scram.js'

const credentials = new Map<string, ScramCredentials>([
  ['alice', await scramCredentials('wonderland')],
  ['bob', await scramCredentials('builder')],
])
const lookup = (name: string) => credentials.get(name)

type Answer = Awaited<ReturnType<ScramHookSet['authenticate']>>
const conn = (username?: string) => ({ id: 'c1', username, remoteAddress: '127.0.0.1', protocolVersion: 5 })

/** Drives the hook as the broker does: CONNECT (or AUTH 0x19), then each AUTH 0x18 answered by the client. */
async function run(
  hooks: ScramHookSet,
  client: ReturnType<typeof scramClient>,
  info = conn(),
  username: string | undefined = undefined,
): Promise<Answer> {
  let a: Answer = await hooks.authenticate(info, username, undefined, {
    method: client.method,
    data: client.start(),
  })
  while (typeof a === 'object' && 'challenge' in a) a = await a.next(await client.challenge(a.challenge))
  if (typeof a === 'object' && 'success' in a) client.done(a.success)
  return a
}

describe('scramServer hook', () => {
  test('the right password: one challenge, then success with the server signature the client verifies', async () => {
    const a = await run(scramServer({ lookup }), scramClient('alice', 'wonderland'))
    assert.ok(typeof a === 'object' && 'success' in a && a.success?.toString().startsWith('v='))
  })

  test('a wrong password or an unknown user: 0x87 Not authorized, alike', async () => {
    const hooks = scramServer({ lookup })
    assert.equal(await run(hooks, scramClient('alice', 'looking-glass')), 0x87)
    assert.equal(await run(hooks, scramClient('carol', 'wonderland')), 0x87)
  })

  test('a client-first that breaks the grammar: 0x86 Bad user name or password', async () => {
    const hooks = scramServer({ lookup })
    for (const data of [undefined, Buffer.from('n,,r=abc'), Buffer.from('p=tls-unique,,n=alice,r=abc')]) {
      assert.equal(
        await hooks.authenticate(conn(), undefined, undefined, { method: 'SCRAM-SHA-256', data }),
        0x86,
      )
    }
  })

  test('a CONNECT User Name other than the SCRAM user is refused: authorization hooks would see the wrong name', async () => {
    const hooks = scramServer({ lookup })
    assert.equal(await run(hooks, scramClient('alice', 'wonderland'), conn('bob'), 'bob'), 0x87)
    const same = await run(hooks, scramClient('alice', 'wonderland'), conn('alice'), 'alice')
    assert.ok(typeof same === 'object' && 'success' in same)
  })

  test('re-authentication on one connection succeeds for the same user and is refused for another', async () => {
    const hooks = scramServer({ lookup })
    const info = conn()
    const first = await run(hooks, scramClient('alice', 'wonderland'), info)
    assert.ok(typeof first === 'object' && 'success' in first)
    const again = await run(hooks, scramClient('alice', 'wonderland'), info)
    assert.ok(typeof again === 'object' && 'success' in again)
    assert.equal(await run(hooks, scramClient('bob', 'builder'), info), 0x87)
    const bobs = conn()
    const other = await run(hooks, scramClient('bob', 'builder'), bobs)
    assert.ok(typeof other === 'object' && 'success' in other)
    assert.equal(hooks.userOf(info), 'alice')
    assert.equal(hooks.userOf(bobs), 'bob')
    assert.equal(hooks.userOf(conn()), undefined)
  })

  test('a CONNECT without an authentication method is refused by default, or passed on with plain: "pass"', () => {
    assert.equal(
      scramServer({ lookup }).authenticate(conn('alice'), 'alice', Buffer.from('wonderland')),
      0x87,
    )
    assert.equal(
      scramServer({ lookup, plain: 'pass' }).authenticate(conn('alice'), 'alice', undefined),
      undefined,
    )
  })

  test('another authentication method is not answered: the hook abstains', () => {
    const a = scramServer({ lookup }).authenticate(conn(), undefined, undefined, {
      method: 'SCRAM-SHA-1',
      data: undefined,
    })
    assert.equal(a, undefined)
  })
})
