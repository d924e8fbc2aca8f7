import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Hooks } from '../../../src/broker/hooks.js'
import type { ClientInfo, HookSet, Logger } from '../../../src/broker/options.js'

const client: ClientInfo = { id: 'c1', username: 'u', remoteAddress: undefined, protocolVersion: 4 }

function logger(): Logger & { errors: string[] } {
  const errors: string[] = []
  const noop = (): void => {}
  return { debug: noop, info: noop, warn: noop, error: (_o, msg) => errors.push(msg), errors }
}

describe('hooks', () => {
  test('with no hooks every request is granted at once, without a Promise', () => {
    const h = new Hooks([{}], logger())
    assert.equal(h.authenticate(client, 'u', undefined), true)
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
    assert.equal(await h.authenticate(client, 'u', undefined), 5)
    assert.deepEqual(calls, ['a', 'b'])
  })

  test('authenticate: false is CONNACK 4, a code outside 1-5 is 5, all true is true', async () => {
    assert.equal(new Hooks([{ authenticate: () => false }], logger()).authenticate(client, 'u', undefined), 4)
    assert.equal(new Hooks([{ authenticate: () => 0 }], logger()).authenticate(client, 'u', undefined), 5)
    assert.equal(new Hooks([{ authenticate: () => 2 }], logger()).authenticate(client, 'u', undefined), 2)
    const both = new Hooks([{ authenticate: async () => true }, { authenticate: () => true }], logger())
    assert.equal(await both.authenticate(client, 'u', undefined), true)
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
    assert.equal(h.authenticate(client, 'u', undefined), 3) // server unavailable
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
