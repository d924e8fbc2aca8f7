import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Hooks } from '../../../src/broker/hooks.js'
import { type ClientInfo, silentLogger } from '../../../src/broker/options.js'

/** authorizeSubscribe answering MQTT 5 reason codes, composed over several hook sets. */

const client: ClientInfo = { id: 'c1', username: 'u', remoteAddress: undefined, protocolVersion: 5 }

test('a hook may refuse with an MQTT 5 reason code; false is 0x80 Unspecified error [MQTT-3.9.3-1]', async () => {
  const answer = (a: boolean | number) => new Hooks([{ authorizeSubscribe: () => a }], silentLogger)
  assert.equal(answer(0x87).authorizeSubscribe(client, 't', 1), 0x87)
  assert.equal(answer(0x97).authorizeSubscribe(client, 't', 1), 0x97)
  assert.equal(answer(false).authorizeSubscribe(client, 't', 1), 0x80)
  // neither a QoS nor a failure code: refused with 0x80
  for (const odd of [3, 0x10, -1, 1.5, 0x100])
    assert.equal(answer(odd).authorizeSubscribe(client, 't', 1), 0x80)
  const later = new Hooks([{ authorizeSubscribe: async () => 0x8f }], silentLogger)
  assert.equal(await later.authorizeSubscribe(client, 't', 2), 0x8f)
})

test('composed sets: a failure code from any set wins over every grant, the first failure answers', async () => {
  const h = new Hooks(
    [
      { authorizeSubscribe: () => 1 },
      { authorizeSubscribe: async () => 0x97 },
      { authorizeSubscribe: () => 0x87 },
    ],
    silentLogger,
  )
  assert.equal(await h.authorizeSubscribe(client, 't', 2), 0x97)
  const low = new Hooks([{ authorizeSubscribe: () => 0 }, { authorizeSubscribe: () => 0x87 }], silentLogger)
  assert.equal(low.authorizeSubscribe(client, 't', 2), 0x87)
  const grants = new Hooks(
    [{ authorizeSubscribe: () => 2 }, { authorizeSubscribe: async () => 1 }],
    silentLogger,
  )
  assert.equal(await grants.authorizeSubscribe(client, 't', 2), 1, 'the lowest grant still wins')
})
