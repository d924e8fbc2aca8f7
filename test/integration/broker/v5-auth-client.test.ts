/**
 * Enhanced authentication end to end: Petrel's client (an AuthHandler) against the
 * broker's authenticate hook, through CONNECT, AUTH 0x18 round trips, CONNACK and a
 * re-authentication [MQTT-4.12.0-2] [MQTT-4.12.1-1].
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AuthAnswer } from '../../../src/broker/options.js'
import { connect } from '../../../src/client/client.js'
import type { AuthHandler } from '../../../src/client/options.js'
import { startBroker } from '../../helpers/raw-client.js'

const METHOD = 'COUNT'

/** The server asks for two answers: 'one', then 'two'; success data 'done'. */
function counting(
  _c: unknown,
  _u: unknown,
  _p: unknown,
  auth?: { method: string; data: Buffer | undefined },
): AuthAnswer {
  if (auth?.method !== METHOD) return undefined
  if (auth.data?.toString() !== 'hello') return false
  return {
    challenge: Buffer.from('1?'),
    next: (a) =>
      a?.toString() !== 'one'
        ? false
        : {
            challenge: Buffer.from('2?'),
            next: (b) => (b?.toString() === 'two' ? { success: Buffer.from('done') } : false),
          },
  }
}

function handler(
  seen: string[],
  answers: Record<string, string> = { '1?': 'one', '2?': 'two' },
): AuthHandler {
  return {
    method: METHOD,
    start: () => Buffer.from('hello'),
    challenge: (data) => {
      seen.push(`challenge ${data?.toString()}`)
      return Buffer.from(answers[data?.toString() ?? ''] ?? 'wrong')
    },
    done: (data) => {
      seen.push(`done ${data?.toString()}`)
    },
  }
}

const tb = await startBroker({ authenticate: counting })
const url = `mqtt://${tb.host}:${tb.port}`

test("Petrel's client authenticates through two challenges and re-authenticates", async () => {
  const seen: string[] = []
  const c = await connect(url, { protocolVersion: 5, auth: handler(seen), reconnect: false })
  try {
    assert.deepEqual(seen, ['challenge 1?', 'challenge 2?', 'done done'])
    seen.length = 0
    await c.reauthenticate()
    assert.deepEqual(seen, ['challenge 1?', 'challenge 2?', 'done done'])
    await c.publish('after/reauth', 'still connected', { qos: 1 })
  } finally {
    await c.end()
  }
})

test("Petrel's client with a wrong answer is refused with 0x87", async () => {
  const seen: string[] = []
  await assert.rejects(
    connect(url, {
      protocolVersion: 5,
      auth: handler(seen, { '1?': 'one', '2?': 'three' }),
      reconnect: false,
    }),
    (err: Error & { reasonCode?: number }) => err.reasonCode === 0x87,
  )
})
