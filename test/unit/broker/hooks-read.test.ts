import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Hooks } from '../../../src/broker/hooks.js'
import { type ClientInfo, type Logger, resolveOptions } from '../../../src/broker/options.js'
import { ConfigError } from '../../../src/errors.js'

const client: ClientInfo = { id: 'c1', username: 'u', remoteAddress: undefined, protocolVersion: 4 }

function logger(): Logger & { errors: string[] } {
  const errors: string[] = []
  const noop = (): void => {}
  return { debug: noop, info: noop, warn: noop, error: (_o, msg) => errors.push(msg), errors }
}

describe('authorizeRead hooks', () => {
  test('with no authorizeRead hook there is nothing to ask per message', () => {
    assert.equal(new Hooks([{}, { authorizePublish: () => true }], logger()).readerFor(client), null)
  })

  test('every set must allow; each is asked with the client and the topic', () => {
    const asked: string[] = []
    const refusing = (name: string, refused: string) => (c: ClientInfo, t: string) => {
      asked.push(`${name}:${c.id}:${t}`)
      return t !== refused
    }
    const h = new Hooks(
      [{ authorizeRead: refusing('a', 'x') }, { authorizeRead: refusing('b', 'y') }],
      logger(),
    )
    const read = h.readerFor(client)!
    assert.equal(read('ok'), true)
    assert.equal(read('x'), false)
    assert.equal(read('y'), false)
    assert.deepEqual(asked, ['a:c1:ok', 'b:c1:ok', 'a:c1:x', 'a:c1:y', 'b:c1:y'])
  })

  test('a hook that throws refuses the message, and is logged once, not per message', () => {
    const log = logger()
    const h = new Hooks(
      [
        {
          authorizeRead: () => {
            throw new Error('boom')
          },
        },
      ],
      log,
    )
    const read = h.readerFor(client)!
    for (let i = 0; i < 5; i++) assert.equal(read('t'), false)
    assert.deepEqual(log.errors, ['authorizeRead hook failed: the request is refused'])
  })

  test('an answer other than true refuses', () => {
    const h = new Hooks([{ authorizeRead: () => 1 as unknown as boolean }], logger())
    assert.equal(h.readerFor(client)!('t'), false)
  })

  test('an authorizeRead that is not a function is refused with a ConfigError', () => {
    assert.throws(
      () => resolveOptions({ hooks: [{ authorizeRead: 'yes' as unknown as () => boolean }] }),
      (err: unknown) => err instanceof ConfigError && err.option === 'hooks[0].authorizeRead',
    )
  })
})
