/**
 * MQTT 5 connection handling, against a scripted broker: what CONNECT carries,
 * what the client takes from CONNACK (assigned client id, Server Keep Alive,
 * limits), refusals as typed errors, the broker's DISCONNECT and server
 * redirection, and the client's own DISCONNECT with a reason.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  ConfigError,
  ConnackRefusedError,
  connect,
  PacketType,
  ReasonCode,
  ServerDisconnectError,
} from '../../../src/index.js'
import { type FakeSession, startFakeBroker } from './fake-broker.js'
import { nextEvent, T, until } from './suite.js'
import { track, v5Rig } from './v5-rig.js'

/** What connect() at MQTT 5 rejects with (null if it connects) when the broker answers its CONNECT by `answer`. */
async function refusal(answer: (s: FakeSession) => void): Promise<unknown> {
  const fb = await startFakeBroker()
  const pending = connect(fb.url, { protocolVersion: 5 })
  answer(await fb.accept())
  return pending.then(
    () => null,
    (e: unknown) => e,
  )
}

describe('MQTT 5 client: connect', () => {
  test('CONNECT is level 5 and carries the v5 options as properties, the will with its own', T, async () => {
    const { s, client } = await v5Rig({
      clientId: 'props-1',
      sessionExpiryInterval: 300,
      receiveMaximum: 10,
      maximumPacketSize: 4096,
      topicAliasMaximum: 8,
      requestResponseInformation: true,
      requestProblemInformation: false,
      userProperties: [['app', 'test']],
      will: {
        topic: 'will/t',
        payload: 'gone',
        qos: 1,
        properties: {
          willDelayInterval: 5,
          messageExpiryInterval: 60,
          contentType: 'text/plain',
          responseTopic: 'will/reply',
          correlationData: Buffer.from('cd'),
          payloadFormatIndicator: 1,
          userProperties: [['w', '1']],
        },
      },
    })
    const c = s.connect
    assert.equal(c.protocolVersion, 5)
    assert.equal(c.protocolName, 'MQTT')
    assert.equal(c.clientId, 'props-1')
    assert.equal(c.clean, true)
    assert.deepEqual(c.properties, {
      sessionExpiryInterval: 300,
      receiveMaximum: 10,
      maximumPacketSize: 4096,
      topicAliasMaximum: 8,
      requestResponseInformation: true,
      requestProblemInformation: false,
      userProperties: [['app', 'test']],
    })
    assert.equal(c.will?.topic, 'will/t')
    assert.deepEqual(c.will?.properties, {
      willDelayInterval: 5,
      messageExpiryInterval: 60,
      contentType: 'text/plain',
      responseTopic: 'will/reply',
      correlationData: Buffer.from('cd'),
      payloadFormatIndicator: 1,
      userProperties: [['w', '1']],
    })
    assert.equal(client.connack?.reasonCode, 0)
  })

  test('v5-only options without protocolVersion 5 are a ConfigError', async () => {
    await assert.rejects(connect('mqtt://127.0.0.1:1', { sessionExpiryInterval: 10 }), ConfigError)
    await assert.rejects(
      connect('mqtt://127.0.0.1:1', { protocolVersion: 4, topicAliasMaximum: 1 }),
      ConfigError,
    )
  })

  test('CONNACK properties are exposed on client.connack and the connect event', T, async () => {
    const connack = {
      receiveMaximum: 7,
      maximumQoS: 1 as const,
      retainAvailable: false,
      maximumPacketSize: 1000,
      topicAliasMaximum: 4,
      reasonString: 'welcome',
      userProperties: [['x', 'y']] as [string, string][],
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
      responseInformation: 'resp/',
    }
    const { client } = await v5Rig({}, connack)
    assert.deepEqual(client.connack, { sessionPresent: false, reasonCode: 0, properties: connack })
  })

  test(
    'an empty client id is assigned by the broker and used on every reconnect [MQTT-3.2.2-16]',
    T,
    async () => {
      const fb = await startFakeBroker()
      const pending = connect(fb.url, {
        protocolVersion: 5,
        clientId: '',
        clean: false,
        reconnect: { minDelay: 10 },
      })
      const s = await fb.accept()
      assert.equal(s.connect.clientId, '')
      s.send({
        type: PacketType.CONNACK,
        sessionPresent: false,
        returnCode: 0,
        properties: { assignedClientIdentifier: 'auto-42' },
      })
      const client = track(await pending)
      assert.equal(client.clientId, 'auto-42')
      s.destroy()
      const s2 = await fb.accept()
      assert.equal(s2.connect.clientId, 'auto-42')
    },
  )

  test('the Server Keep Alive replaces the keep-alive the client asked for [MQTT-3.1.2-21]', T, async () => {
    const { s } = await v5Rig({ keepalive: 60 }, { serverKeepAlive: 1 })
    assert.equal(s.connect.keepalive, 60)
    const started = Date.now()
    await s.next(PacketType.PINGREQ, 2500)
    assert.ok(Date.now() - started < 2000, 'PINGREQ within the server keep alive of 1 s')
    s.send({ type: PacketType.PINGRESP })
  })

  test(
    'a CONNACK refusal rejects connect() with ConnackRefusedError carrying the v5 reason code and reason string',
    T,
    async () => {
      const err = await refusal((s) =>
        s.send({
          type: PacketType.CONNACK,
          sessionPresent: false,
          returnCode: ReasonCode.BANNED,
          properties: { reasonString: 'go away' },
        }),
      )
      assert.ok(err instanceof ConnackRefusedError, String(err))
      assert.equal(err.reasonCode, 0x8a)
      assert.equal(err.returnCode, 0x8a)
      assert.equal(err.reasonString, 'go away')
      assert.equal(err.permanent, true)
      assert.match(err.message, /banned \(0x8a\): go away/)
    },
  )

  test(
    'a 3.1.1 broker refusing the MQTT 5 CONNECT (CONNACK 1 of its own version) rejects with that return code',
    T,
    async () => {
      const err = await refusal((s) => s.socket.write(Buffer.from([0x20, 0x02, 0x00, 0x01])))
      assert.ok(err instanceof ConnackRefusedError, String(err))
      assert.equal(err.returnCode, 1)
      assert.match(err.message, /unacceptable protocol version/)
    },
  )

  test('a CONNACK 0x9D Server moved reports the redirection [MQTT-4.11]', T, async () => {
    const err = await refusal((s) =>
      s.send({
        type: PacketType.CONNACK,
        sessionPresent: false,
        returnCode: ReasonCode.SERVER_MOVED,
        properties: { serverReference: 'other.example:1883' },
      }),
    )
    assert.ok(err instanceof ConnackRefusedError)
    assert.equal(err.serverReference, 'other.example:1883')
  })

  test(
    "the broker's DISCONNECT is reported: 'disconnect', 'redirect' for 0x9C, then offline with ServerDisconnectError",
    T,
    async () => {
      const { fb, client, s } = await v5Rig({ reconnect: { minDelay: 10 } })
      const disconnect = nextEvent(client, 'disconnect', 2000)
      const redirect = nextEvent(client, 'redirect', 2000)
      const offline = nextEvent(client, 'offline', 2000)
      s.send({
        type: PacketType.DISCONNECT,
        reasonCode: ReasonCode.USE_ANOTHER_SERVER,
        properties: { serverReference: 'b.example', reasonString: 'maintenance' },
      })
      s.socket.end()
      const [info] = await disconnect
      assert.equal(info.reasonCode, 0x9c)
      assert.equal(info.properties.reasonString, 'maintenance')
      assert.deepEqual(await redirect, ['b.example', 0x9c])
      const [err] = await offline
      assert.ok(err instanceof ServerDisconnectError)
      assert.equal(err.reasonCode, 0x9c)
      assert.equal(err.serverReference, 'b.example')
      await fb.accept() // and it reconnects
    },
  )

  test(
    'end() sends a v5 DISCONNECT with reason code, session expiry, reason string and user properties',
    T,
    async () => {
      const { client, s } = await v5Rig({ sessionExpiryInterval: 10 })
      const ended = client.end({
        reasonCode: ReasonCode.DISCONNECT_WITH_WILL_MESSAGE,
        sessionExpiryInterval: 0,
        reasonString: 'bye',
        userProperties: [['a', 'b']],
      })
      const d = await s.next(PacketType.DISCONNECT)
      assert.equal(d.reasonCode, 0x04)
      assert.deepEqual(d.properties, {
        sessionExpiryInterval: 0,
        reasonString: 'bye',
        userProperties: [['a', 'b']],
      })
      s.destroy()
      await ended
    },
  )

  test(
    'end() refuses a non-zero Session Expiry Interval when CONNECT had none [MQTT-3.14.2-2]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      await assert.rejects(client.end({ sessionExpiryInterval: 30 }), ConfigError)
      assert.equal(client.state, 'connected')
      const ended = client.end()
      const d = await s.next(PacketType.DISCONNECT)
      assert.equal(d.reasonCode ?? 0, 0)
      s.destroy()
      await ended
    },
  )

  test(
    'with a Session Expiry Interval, Clean Start is sent on the first connection only, so reconnects resume the session',
    T,
    async () => {
      const { fb, s } = await v5Rig({ clean: true, sessionExpiryInterval: 60, reconnect: { minDelay: 10 } })
      assert.equal(s.connect.clean, true)
      s.destroy()
      const s2 = await fb.accept()
      assert.equal(s2.connect.clean, false)
      assert.equal(s2.connect.properties?.sessionExpiryInterval, 60)
    },
  )

  test('a client-side protocol error closes with a DISCONNECT naming the reason', T, async () => {
    const { client, s } = await v5Rig()
    s.send({ type: PacketType.CONNACK, sessionPresent: false, returnCode: 0 })
    const d = await s.next(PacketType.DISCONNECT)
    assert.ok((d.reasonCode ?? 0) >= 0x80)
    await until(() => client.state === 'closed', 1000, 'closed')
  })
})
