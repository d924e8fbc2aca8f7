/**
 * MQTT 5 enhanced authentication [MQTT-4.12], the client's side, against a
 * scripted broker: the handler's data in CONNECT, AUTH 0x18 challenges answered,
 * the broker's final data verified before the client goes online, and
 * re-authentication with AUTH 0x19.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { AuthError, type AuthHandler, connect, PacketType, ReasonCode } from '../../../src/index.js'
import { startFakeBroker } from './fake-broker.js'
import { T, until } from './suite.js'
import { track } from './v5-rig.js'

/** A toy challenge/response: the server sends a number, the client answers it plus one; `done` checks 'ok'. */
function counter(log: string[]): AuthHandler {
  return {
    method: 'TOY',
    start: () => {
      log.push('start')
      return Buffer.from('hello')
    },
    challenge: async (data) => {
      log.push(`challenge ${data?.toString()}`)
      await new Promise((r) => setTimeout(r, 5))
      return Buffer.from(String(Number(data?.toString()) + 1))
    },
    done: (data) => {
      log.push(`done ${data?.toString()}`)
      if (data?.toString() !== 'ok') throw new Error('the server did not prove itself')
    },
  }
}

describe('MQTT 5 client: enhanced authentication', () => {
  test(
    'CONNECT carries the method and first data; AUTH 0x18 challenges are answered; CONNACK data is checked [MQTT-4.12.0-3]',
    T,
    async () => {
      const fb = await startFakeBroker()
      const log: string[] = []
      const pending = connect(fb.url, { protocolVersion: 5, auth: counter(log), reconnect: false })
      const s = await fb.accept()
      assert.equal(s.connect.properties?.authenticationMethod, 'TOY')
      assert.deepEqual(s.connect.properties?.authenticationData, Buffer.from('hello'))
      for (const n of [1, 10]) {
        s.send({
          type: PacketType.AUTH,
          reasonCode: ReasonCode.CONTINUE_AUTHENTICATION,
          properties: { authenticationMethod: 'TOY', authenticationData: Buffer.from(String(n)) },
        })
        const a = await s.next(PacketType.AUTH)
        assert.equal(a.reasonCode, ReasonCode.CONTINUE_AUTHENTICATION)
        assert.equal(a.properties?.authenticationMethod, 'TOY') // [MQTT-4.12.0-5]
        assert.equal(a.properties?.authenticationData?.toString(), String(n + 1))
      }
      s.send({
        type: PacketType.CONNACK,
        sessionPresent: false,
        returnCode: 0,
        properties: { authenticationMethod: 'TOY', authenticationData: Buffer.from('ok') },
      })
      // a message right behind the CONNACK waits for the check, and is not lost
      s.send({
        type: PacketType.PUBLISH,
        topic: 'x',
        payload: Buffer.from('m'),
        qos: 0,
        retain: false,
        dup: false,
        packetId: 0,
      })
      const client = track(await pending)
      const got: string[] = []
      client.on('message', (t) => got.push(t))
      await until(() => got.length === 1, 1000, 'the message after CONNACK')
      assert.deepEqual(log, ['start', 'challenge 1', 'challenge 10', 'done ok'])
    },
  )

  test('final data that does not verify fails connect() with AuthError and a DISCONNECT', T, async () => {
    const fb = await startFakeBroker()
    const pending = connect(fb.url, { protocolVersion: 5, auth: counter([]), reconnect: false })
    const s = await fb.accept()
    s.send({
      type: PacketType.CONNACK,
      sessionPresent: false,
      returnCode: 0,
      properties: { authenticationMethod: 'TOY', authenticationData: Buffer.from('forged') },
    })
    await assert.rejects(pending, AuthError)
    const d = await s.next(PacketType.DISCONNECT)
    assert.ok((d.reasonCode ?? 0) >= 0x80)
  })

  test('a handler that throws on a challenge aborts the connection', T, async () => {
    const fb = await startFakeBroker()
    const handler: AuthHandler = {
      method: 'TOY',
      start: () => undefined,
      challenge: () => {
        throw new Error('cannot answer')
      },
    }
    const pending = connect(fb.url, { protocolVersion: 5, auth: handler, reconnect: false })
    const s = await fb.accept()
    assert.equal(s.connect.properties?.authenticationData, undefined)
    s.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'TOY' } })
    await assert.rejects(pending, AuthError)
  })

  test('a refusal (CONNACK 0x8C Bad authentication method) rejects with its reason code', T, async () => {
    const fb = await startFakeBroker()
    const pending = connect(fb.url, { protocolVersion: 5, auth: counter([]), reconnect: false })
    const s = await fb.accept()
    s.send({
      type: PacketType.CONNACK,
      sessionPresent: false,
      returnCode: ReasonCode.BAD_AUTHENTICATION_METHOD,
    })
    await assert.rejects(pending, (e: unknown) => (e as { reasonCode?: number }).reasonCode === 0x8c)
  })

  test(
    'reauthenticate() sends AUTH 0x19 with the same method and resolves on AUTH 0x00 [MQTT-4.12.1-1]',
    T,
    async () => {
      const fb = await startFakeBroker()
      const log: string[] = []
      const pending = connect(fb.url, { protocolVersion: 5, auth: counter(log), reconnect: false })
      const s = await fb.accept()
      s.send({
        type: PacketType.CONNACK,
        sessionPresent: false,
        returnCode: 0,
        properties: { authenticationMethod: 'TOY', authenticationData: Buffer.from('ok') },
      })
      const client = track(await pending)
      const re = client.reauthenticate()
      const a = await s.next(PacketType.AUTH)
      assert.equal(a.reasonCode, ReasonCode.RE_AUTHENTICATE)
      assert.equal(a.properties?.authenticationMethod, 'TOY')
      assert.equal(a.properties?.authenticationData?.toString(), 'hello')
      s.send({
        type: PacketType.AUTH,
        reasonCode: 0x18,
        properties: { authenticationMethod: 'TOY', authenticationData: Buffer.from('5') },
      })
      assert.equal((await s.next(PacketType.AUTH)).properties?.authenticationData?.toString(), '6')
      s.send({
        type: PacketType.AUTH,
        reasonCode: 0,
        properties: { authenticationMethod: 'TOY', authenticationData: Buffer.from('ok') },
      })
      await re
      assert.deepEqual(log.slice(-3), ['start', 'challenge 5', 'done ok'])
      assert.equal(client.state, 'connected')
    },
  )

  test(
    'AUTH to a client that did not ask for enhanced authentication is a protocol error [MQTT-4.12.0-6]',
    T,
    async () => {
      const fb = await startFakeBroker()
      const pending = connect(fb.url, { protocolVersion: 5, reconnect: false })
      const s = await fb.acceptWith()
      const client = track(await pending)
      s.send({ type: PacketType.AUTH, reasonCode: 0x18, properties: { authenticationMethod: 'X' } })
      assert.equal((await s.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.PROTOCOL_ERROR)
      await until(() => client.state === 'closed', 1000, 'closed')
    },
  )
})
