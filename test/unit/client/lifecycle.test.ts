import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConnackRefusedError, ConnectFailedError, ConnectTimeoutError } from '../../../src/client/errors.js'
import { backoffDelay, type Effect, Lifecycle } from '../../../src/client/lifecycle.js'

const backoff = { minDelay: 100, maxDelay: 1000 }
const types = (effects: readonly Effect[]): string[] => effects.map((e) => e.type)

function connected(reconnect = true): Lifecycle {
  const l = new Lifecycle(reconnect ? backoff : null, () => 0.5)
  l.start()
  l.handle({ type: 'connack', returnCode: 0, sessionPresent: false })
  return l
}

describe('client lifecycle', () => {
  test('starts by opening a transport, and CONNACK 0 makes it connected (first connection)', () => {
    const l = new Lifecycle(backoff)
    assert.equal(l.state, 'connecting')
    assert.deepEqual(l.start(), [{ type: 'open' }])
    assert.deepEqual(l.handle({ type: 'connack', returnCode: 0, sessionPresent: true }), [
      { type: 'online', sessionPresent: true, first: true },
    ])
    assert.equal(l.state, 'connected')
  })

  test('a refused first CONNECT closes with ConnackRefusedError carrying the return code', () => {
    const l = new Lifecycle(backoff)
    l.start()
    const effects = l.handle({ type: 'connack', returnCode: 4, sessionPresent: false })
    assert.deepEqual(types(effects), ['drop', 'closed'])
    const closed = effects[1] as Extract<Effect, { type: 'closed' }>
    assert.ok(closed.error instanceof ConnackRefusedError)
    assert.equal(closed.error.returnCode, 4)
    assert.equal(l.state, 'closed')
  })

  test('a first attempt that times out or fails closes without retrying', () => {
    const a = new Lifecycle(backoff)
    a.start()
    const ea = a.handle({ type: 'connect-timeout', timeout: 50 })
    assert.ok((ea[1] as Extract<Effect, { type: 'closed' }>).error instanceof ConnectTimeoutError)
    const b = new Lifecycle(backoff)
    b.start()
    const eb = b.handle({ type: 'lost', error: new Error('ECONNREFUSED') })
    assert.ok((eb[1] as Extract<Effect, { type: 'closed' }>).error instanceof ConnectFailedError)
  })

  test('a lost connection goes offline and schedules a retry; the retry opens again', () => {
    const l = connected()
    const lost = l.handle({ type: 'lost', error: new Error('reset') })
    assert.deepEqual(types(lost), ['drop', 'offline', 'schedule-retry'])
    assert.equal(l.state, 'reconnect-wait')
    assert.deepEqual(l.handle({ type: 'retry' }), [{ type: 'reconnecting', attempt: 1 }, { type: 'open' }])
    assert.equal(l.state, 'connecting')
    assert.deepEqual(l.handle({ type: 'connack', returnCode: 0, sessionPresent: true }), [
      { type: 'online', sessionPresent: true, first: false },
    ])
    assert.equal(l.attempts, 0)
  })

  test('failed reconnect attempts back off exponentially up to maxDelay', () => {
    const l = connected()
    const delays: number[] = []
    let effects = l.handle({ type: 'lost', error: undefined })
    for (let i = 0; i < 8; i++) {
      const s = effects.find((e) => e.type === 'schedule-retry') as Extract<
        Effect,
        { type: 'schedule-retry' }
      >
      delays.push(s.delay)
      l.handle({ type: 'retry' })
      effects = l.handle({ type: 'lost', error: new Error('refused') })
      assert.deepEqual(types(effects), ['drop', 'attempt-failed', 'schedule-retry'])
    }
    // random 0.5: three quarters of min(max, min * 2^(n-1))
    assert.deepEqual(delays, [75, 150, 300, 600, 750, 750, 750, 750])
  })

  test('backoff jitter stays within half and all of the exponential bound', () => {
    for (let attempt = 1; attempt < 50; attempt++) {
      const bound = Math.min(backoff.maxDelay, backoff.minDelay * 2 ** (attempt - 1))
      assert.equal(
        backoffDelay(attempt, backoff, () => 0),
        bound / 2,
      )
      assert.equal(
        backoffDelay(attempt, backoff, () => 0.999999),
        Math.round(bound / 2 + (0.999999 * bound) / 2),
      )
    }
  })

  test('on reconnect, server unavailable (3) is retried but bad credentials (4) close', () => {
    const l = connected()
    l.handle({ type: 'lost', error: undefined })
    l.handle({ type: 'retry' })
    assert.deepEqual(types(l.handle({ type: 'connack', returnCode: 3, sessionPresent: false })), [
      'drop',
      'attempt-failed',
      'schedule-retry',
    ])
    l.handle({ type: 'retry' })
    assert.deepEqual(types(l.handle({ type: 'connack', returnCode: 4, sessionPresent: false })), [
      'drop',
      'closed',
    ])
    assert.equal(l.state, 'closed')
  })

  test('MQTT 5 on reconnect: busy, unavailable, quota and rate refusals are retried; others close with their reason code', () => {
    const l = connected()
    l.handle({ type: 'lost', error: undefined })
    for (const rc of [0x88, 0x89, 0x97, 0x9f]) {
      l.handle({ type: 'retry' })
      assert.deepEqual(
        types(l.handle({ type: 'connack', returnCode: rc, sessionPresent: false, v5: true })),
        ['drop', 'attempt-failed', 'schedule-retry'],
      )
    }
    l.handle({ type: 'retry' })
    const effects = l.handle({
      type: 'connack',
      returnCode: 0x87,
      sessionPresent: false,
      v5: true,
      properties: { reasonString: 'no' },
    })
    const closed = effects.find((e) => e.type === 'closed')
    assert.ok(closed?.type === 'closed' && closed.error instanceof ConnackRefusedError)
    assert.equal((closed.error as ConnackRefusedError).reasonCode, 0x87)
    assert.equal((closed.error as ConnackRefusedError).reasonString, 'no')
  })

  test('without reconnect a lost connection closes with its error', () => {
    const l = connected(false)
    const err = new Error('reset')
    assert.deepEqual(l.handle({ type: 'lost', error: err }), [
      { type: 'drop' },
      { type: 'offline', error: err },
      { type: 'closed', error: err },
    ])
  })

  test('end sends DISCONNECT, then closes when the transport closes or the end timer fires', () => {
    const a = connected()
    assert.deepEqual(a.handle({ type: 'end', force: false }), [{ type: 'disconnect' }])
    assert.equal(a.state, 'ending')
    assert.deepEqual(a.handle({ type: 'end', force: false }), [])
    assert.deepEqual(a.handle({ type: 'lost', error: undefined }), [
      { type: 'drop' },
      { type: 'closed', error: undefined },
    ])
    const b = connected()
    b.handle({ type: 'end', force: false })
    assert.deepEqual(types(b.handle({ type: 'end-timeout' })), ['drop', 'closed'])
  })

  test('end with force drops at once; end while waiting to retry cancels the retry', () => {
    const a = connected()
    assert.deepEqual(types(a.handle({ type: 'end', force: true })), ['drop', 'closed'])
    const b = connected()
    b.handle({ type: 'lost', error: undefined })
    assert.deepEqual(types(b.handle({ type: 'end', force: false })), ['cancel-retry', 'closed'])
  })

  test('late events are ignored: a lost transport while waiting to retry, anything once closed', () => {
    const l = connected()
    l.handle({ type: 'lost', error: undefined })
    assert.deepEqual(l.handle({ type: 'lost', error: undefined }), [])
    assert.deepEqual(l.handle({ type: 'connect-timeout', timeout: 1 }), [])
    l.handle({ type: 'end', force: true })
    for (const input of [{ type: 'retry' }, { type: 'end', force: true }, { type: 'end-timeout' }] as const) {
      assert.deepEqual(l.handle(input), [])
    }
  })
})
