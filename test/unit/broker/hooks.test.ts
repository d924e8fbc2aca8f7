import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { refusalCode } from '../../../src/broker/handlers/connack.js'
import { type AuthOutcome, Hooks } from '../../../src/broker/hooks.js'
import type { ClientInfo, HookSet, Logger } from '../../../src/broker/options.js'

const client: ClientInfo = { id: 'c1', username: 'u', remoteAddress: undefined, protocolVersion: 4 }

const ACCEPTED: AuthOutcome = { kind: 'accept', handled: false, data: undefined }
const refused = (answer: false | number): AuthOutcome => ({ kind: 'refuse', answer })

function logger(): Logger & { errors: string[] } {
  const errors: string[] = []
  const noop = (): void => {}
  return { debug: noop, info: noop, warn: noop, error: (_o, msg) => errors.push(msg), errors }
}

describe('hooks', () => {
  test('with no hooks every request is granted at once, without a Promise', () => {
    const h = new Hooks([{}], logger())
    assert.deepEqual(h.authenticate(client, 'u', undefined), ACCEPTED)
    assert.equal(h.authorizePublish(client, 't', Buffer.alloc(0), 1, false), true)
    assert.equal(h.authorizeSubscribe(client, 't/#', 2), 2)
    assert.equal(h.checksPublish, false)
  })

  test('sets run in order; the first refusal answers and later sets are not asked', async () => {
    const calls: string[] = []
    const answering = (name: string, answer: boolean | number) => (): boolean | number => {
      calls.push(name)
      return answer
    }
    const sets: HookSet[] = [
      { authenticate: answering('a', true) },
      { authenticate: async () => answering('b', 5)() },
      { authenticate: answering('c', true) },
    ]
    const h = new Hooks(sets, logger())
    assert.deepEqual(await h.authenticate(client, 'u', undefined), refused(5))
    assert.deepEqual(calls, ['a', 'b'])
  })

  test('authenticate: the first refusal as the hook gave it; all true (or undefined) accepts', async () => {
    assert.deepEqual(
      new Hooks([{ authenticate: () => false }], logger()).authenticate(client, 'u', undefined),
      refused(false),
    )
    assert.deepEqual(
      new Hooks([{ authenticate: () => 0 }], logger()).authenticate(client, 'u', undefined),
      refused(0),
    )
    const both = new Hooks([{ authenticate: async () => true }, { authenticate: () => undefined }], logger())
    assert.deepEqual(await both.authenticate(client, 'u', undefined), ACCEPTED)
  })

  test('refusal codes: 3.1.1 as before (false 4, outside 1-5 is 5); MQTT 5 reason codes both ways', () => {
    assert.equal(refusalCode(false, false, false), 4)
    assert.equal(refusalCode(0, false, false), 5)
    assert.equal(refusalCode(2, false, false), 2)
    assert.equal(refusalCode(0x8a, false, false), 5, 'banned: no 3.1.1 equivalent')
    assert.equal(refusalCode(0x86, false, false), 4)
    assert.equal(refusalCode(0x88, false, false), 3)
    assert.equal(refusalCode(false, true, false), 0x86)
    assert.equal(refusalCode(false, true, true), 0x87, 'enhanced authentication failed')
    assert.equal(refusalCode(4, true, false), 0x86)
    assert.equal(refusalCode(5, true, false), 0x87)
    assert.equal(refusalCode(3, true, false), 0x88)
    assert.equal(refusalCode(0x8a, true, false), 0x8a)
    assert.equal(refusalCode(0x8e, true, false), 0x87, 'not a CONNACK reason code [MQTT-3.2.2-8]')
  })

  test('authenticate: a challenge goes on with the same hook, then with the later sets', async () => {
    const calls: string[] = []
    const h = new Hooks(
      [
        {
          authenticate: (_c, _u, _p, auth) => {
            calls.push(`a:${auth?.method}`)
            return {
              challenge: Buffer.from('1'),
              next: async (d) => (d?.toString() === '2' ? { success: Buffer.from('3') } : false),
            }
          },
        },
        {
          authenticate: () => {
            calls.push('b')
            return true
          },
        },
      ],
      logger(),
    )
    const first = h.authenticate(client, 'u', undefined, { method: 'M', data: undefined })
    assert.ok(!(first instanceof Promise) && first.kind === 'challenge')
    assert.equal(first.data.toString(), '1')
    const done = await first.next(Buffer.from('2'))
    assert.equal(done.kind, 'accept')
    assert.ok(done.kind === 'accept' && done.handled && done.data?.toString() === '3')
    assert.deepEqual(calls, ['a:M', 'b'])
    const wrong = first.next(Buffer.from('x'))
    assert.deepEqual(await wrong, refused(false))
  })

  test('a hook that throws or rejects refuses that request and logs it; nothing escapes', async () => {
    const log = logger()
    const h = new Hooks(
      [
        {
          authenticate: () => {
            throw new Error('boom')
          },
          authorizePublish: async () => {
            throw new Error('boom')
          },
          authorizeSubscribe: () => {
            throw new Error('boom')
          },
        },
      ],
      log,
    )
    assert.deepEqual(h.authenticate(client, 'u', undefined), refused(3)) // server unavailable
    assert.equal(await h.authorizePublish(client, 't', Buffer.alloc(0), 0, false), false)
    assert.equal(h.authorizeSubscribe(client, 't', 1), 0x80)
    assert.deepEqual(log.errors, [
      'authenticate hook failed: the request is refused',
      'authorizePublish hook failed: the request is refused',
      'authorizeSubscribe hook failed: the request is refused',
    ])
  })

  test('authorizeSubscribe: the lowest grant of all sets wins, never above what was asked', async () => {
    const h = new Hooks(
      [
        { authorizeSubscribe: () => 2 },
        { authorizeSubscribe: async () => 1 },
        { authorizeSubscribe: () => true },
      ],
      logger(),
    )
    assert.equal(await h.authorizeSubscribe(client, 't', 2), 1)
    assert.equal(await h.authorizeSubscribe(client, 't', 0), 0)
    const refused = new Hooks(
      [{ authorizeSubscribe: () => 1 }, { authorizeSubscribe: () => false }],
      logger(),
    )
    assert.equal(refused.authorizeSubscribe(client, 't', 2), 0x80)
  })

  test('authorizePublish: every set must allow', async () => {
    const h = new Hooks(
      [{ authorizePublish: () => true }, { authorizePublish: async (_c, t) => t !== 'no' }],
      logger(),
    )
    assert.equal(await h.authorizePublish(client, 'yes', Buffer.alloc(0), 0, false), true)
    assert.equal(await h.authorizePublish(client, 'no', Buffer.alloc(0), 0, false), false)
  })

  test('a hook set may be an object whose methods use `this`', () => {
    class Allow implements HookSet {
      topic = 'mine'
      authorizePublish(_c: ClientInfo, t: string): boolean {
        return t === this.topic
      }
    }
    const h = new Hooks([new Allow()], logger())
    assert.equal(h.authorizePublish(client, 'mine', Buffer.alloc(0), 0, false), true)
  })

  test('onConnect and onDisconnect run for every set; a failing one is logged, the others still run', async () => {
    const log = logger()
    const seen: string[] = []
    const h = new Hooks(
      [
        {
          onConnect: () => {
            throw new Error('x')
          },
          onDisconnect: async () => {
            throw new Error('x')
          },
        },
        {
          onConnect: (c) => void seen.push(`on ${c.id}`),
          onDisconnect: (c, r) => void seen.push(`off ${c.id} ${r}`),
        },
      ],
      log,
    )
    h.connected(client)
    h.disconnected(client, 'bye')
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(seen, ['on c1', 'off c1 bye'])
    assert.deepEqual(log.errors, ['onConnect hook failed', 'onDisconnect hook failed'])
  })
})
