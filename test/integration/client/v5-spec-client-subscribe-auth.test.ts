/**
 * MQTT 5.0 sections 3.8-3.15 and 4.8-4.13 from the client's side, against the scripted
 * broker: the bytes Petrel's client puts on the wire for SUBSCRIBE, UNSUBSCRIBE,
 * DISCONNECT and AUTH, what it refuses to send, and how it closes.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type AuthHandler, connect, PacketType, PetrelError, ReasonCode } from '../../../src/index.js'
import { startFakeBroker } from './fake-broker.js'
import { T } from './suite.js'
import { track, v5Rig } from './v5-rig.js'

const refusedLocally = (e: unknown): boolean => e instanceof PetrelError

describe('MQTT 5 client: statements of sections 3.8-3.15 and 4.8-4.13', () => {
  test(
    'SUBSCRIBE goes with flags 0010 and option bytes whose reserved bits are 0 [MQTT-3.8.1-1] [MQTT-3.8.3-5]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      const done = client.subscribe('spec/a', {
        qos: 2,
        noLocal: true,
        retainAsPublished: true,
        retainHandling: 2,
      })
      const sub = await s.next(PacketType.SUBSCRIBE)
      const raw = s.raw(sub)
      assert.equal(raw[0], 0x82)
      assert.equal(raw.at(-1)! & 0xc0, 0, 'reserved bits 6 and 7 of the options')
      assert.equal(raw.at(-1), 0b101110)
      s.send({ type: PacketType.SUBACK, packetId: sub.packetId, granted: [2] })
      assert.deepEqual(await done, [2])
    },
  )

  test('UNSUBSCRIBE goes with flags 0010 [MQTT-3.10.1-1]', T, async () => {
    const { client, s } = await v5Rig()
    const done = client.unsubscribe('spec/a')
    const u = await s.next(PacketType.UNSUBSCRIBE)
    assert.equal(s.raw(u)[0], 0xa2)
    s.send({ type: PacketType.UNSUBACK, packetId: u.packetId, reasonCodes: [0] })
    assert.deepEqual(await done, [0])
  })

  test(
    'no SUBSCRIBE or UNSUBSCRIBE without a topic filter, nor with a filter that is no UTF-8 string [MQTT-3.8.3-1] [MQTT-3.8.3-2] [MQTT-3.10.3-1] [MQTT-3.10.3-2]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      await assert.rejects(client.subscribe([]), refusedLocally)
      await assert.rejects(client.unsubscribe([]), refusedLocally)
      await assert.rejects(client.subscribe('bad/\ud800'), refusedLocally)
      await assert.rejects(client.unsubscribe('bad/\ud800'), refusedLocally)
      await s.nothingFor(100)
    },
  )

  test('no malformed shared subscription is sent [MQTT-4.8.2-1] [MQTT-4.8.2-2]', T, async () => {
    const { client, s } = await v5Rig()
    for (const f of ['$share//a', '$share/g', '$share/g+/a', '$share/g#/a', '$share/g/']) {
      await assert.rejects(client.subscribe(f), refusedLocally, f)
    }
    await s.nothingFor(100)
  })

  test(
    'end() sends DISCONNECT with flags 0, then nothing more, and closes the connection [MQTT-3.14.1-1] [MQTT-3.14.4-1] [MQTT-3.14.4-2]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      const ended = client.end()
      const d = await s.next(PacketType.DISCONNECT)
      assert.equal(s.raw(d)[0], 0xe0)
      await s.closed()
      await ended
      await s.nothingFor(0)
    },
  )

  test(
    'a DISCONNECT reason code that is not a DISCONNECT reason is refused before anything is sent [MQTT-3.14.2-1]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      await assert.rejects(client.end({ reasonCode: 0x03 }), refusedLocally)
      await s.nothingFor(100)
      assert.equal(client.connected, true)
    },
  )

  test(
    'a DISCONNECT Reason String and User Properties are left out when they would pass the broker Maximum Packet Size [MQTT-3.14.2-3] [MQTT-3.14.2-4]',
    T,
    async () => {
      const { client, s } = await v5Rig({}, { maximumPacketSize: 20 })
      const ended = client.end({
        reasonCode: ReasonCode.DISCONNECT_WITH_WILL_MESSAGE,
        reasonString: 'a reason far longer than twenty bytes',
        userProperties: [['key', 'a value that does not fit either']],
      })
      const d = await s.next(PacketType.DISCONNECT)
      assert.ok(s.raw(d).length <= 20, `${s.raw(d).length} bytes`)
      assert.equal(d.reasonCode, ReasonCode.DISCONNECT_WITH_WILL_MESSAGE, 'the reason itself stays')
      await ended
    },
  )

  test(
    'a DISCONNECT of 0x80 or more from the broker: the client closes the connection [MQTT-4.13.2-1]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      const gone = new Promise((resolve) => client.once('close', resolve))
      s.send({ type: PacketType.DISCONNECT, reasonCode: ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR })
      await s.closed()
      await gone
      assert.equal(client.connected, false)
    },
  )

  test(
    'without an auth handler the client sends no AUTH: reauthenticate() rejects, nothing on the wire [MQTT-4.12.0-7]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      await assert.rejects(client.reauthenticate(), PetrelError)
      await s.nothingFor(100)
      assert.equal(client.connected, true)
    },
  )

  test(
    'AUTH goes with flags 0, reason 0x18 to answer a challenge and 0x19 to re-authenticate, with the method [MQTT-3.15.1-1] [MQTT-3.15.2-1] [MQTT-4.12.0-3] [MQTT-4.12.1-1]',
    T,
    async () => {
      const handler: AuthHandler = {
        method: 'SPEC',
        start: () => Buffer.from('hello'),
        challenge: (data) => Buffer.from(`re:${data?.toString()}`),
      }
      const broker = await startFakeBroker()
      const pending = connect(broker.url, {
        protocolVersion: 5,
        reconnect: false,
        keepalive: 0,
        auth: handler,
      })
      const s = await broker.accept()
      assert.equal(s.connect.properties?.authenticationMethod, 'SPEC')
      s.send({
        type: PacketType.AUTH,
        reasonCode: ReasonCode.CONTINUE_AUTHENTICATION,
        properties: { authenticationMethod: 'SPEC', authenticationData: Buffer.from('nonce') },
      })
      const a = await s.next(PacketType.AUTH)
      assert.equal(s.raw(a)[0], 0xf0)
      assert.equal(a.reasonCode, ReasonCode.CONTINUE_AUTHENTICATION)
      assert.equal(a.properties?.authenticationMethod, 'SPEC')
      assert.equal(a.properties?.authenticationData?.toString(), 're:nonce')
      s.send({
        type: PacketType.CONNACK,
        sessionPresent: false,
        returnCode: 0,
        properties: { authenticationMethod: 'SPEC' },
      })
      const client = track(await pending)
      const again = client.reauthenticate()
      const r = await s.next(PacketType.AUTH)
      assert.equal(s.raw(r)[0], 0xf0)
      assert.equal(r.reasonCode, ReasonCode.RE_AUTHENTICATE)
      assert.equal(r.properties?.authenticationMethod, 'SPEC')
      s.send({
        type: PacketType.AUTH,
        reasonCode: ReasonCode.SUCCESS,
        properties: { authenticationMethod: 'SPEC' },
      })
      await again
    },
  )

  test(
    'a re-authentication whose final data does not verify: DISCONNECT, and the connection closes [MQTT-4.12.1-2]',
    T,
    async () => {
      let rounds = 0
      const handler: AuthHandler = {
        method: 'SPEC',
        start: () => Buffer.from('hello'),
        challenge: () => Buffer.from('x'),
        done: (data) => {
          rounds++
          if (data?.toString() !== 'good') throw new Error('the server did not prove itself')
        },
      }
      const broker = await startFakeBroker()
      const pending = connect(broker.url, {
        protocolVersion: 5,
        reconnect: false,
        keepalive: 0,
        auth: handler,
      })
      const s = await broker.accept()
      s.send({
        type: PacketType.CONNACK,
        sessionPresent: false,
        returnCode: 0,
        properties: { authenticationMethod: 'SPEC', authenticationData: Buffer.from('good') },
      })
      const client = track(await pending)
      const again = client.reauthenticate()
      again.catch(() => {})
      await s.next(PacketType.AUTH)
      s.send({
        type: PacketType.AUTH,
        reasonCode: ReasonCode.SUCCESS,
        properties: { authenticationMethod: 'SPEC', authenticationData: Buffer.from('forged') },
      })
      await assert.rejects(again)
      const d = await s.next(PacketType.DISCONNECT)
      assert.ok(d.reasonCode! >= 0x80, `reason 0x${d.reasonCode!.toString(16)}`)
      await s.closed()
      assert.equal(rounds, 2)
    },
  )

  test(
    'a CONNACK of 0x80 or more: connect() rejects and the client closes the connection [MQTT-4.13.2-1]',
    T,
    async () => {
      const broker = await startFakeBroker()
      const pending = connect(broker.url, { protocolVersion: 5, reconnect: false, keepalive: 0 })
      pending.catch(() => {})
      const s = await broker.accept()
      s.send({ type: PacketType.CONNACK, sessionPresent: false, returnCode: ReasonCode.NOT_AUTHORIZED })
      await assert.rejects(pending)
      await s.closed()
    },
  )

  for (const [name, bytes, id] of [
    ['DISCONNECT', 'e1 00', 'MQTT-3.14.1-1'],
    ['AUTH', 'f1 00', 'MQTT-3.15.1-1'],
  ] as const) {
    test(
      `a ${name} from the broker with a reserved flag set is malformed: the client closes [${id}]`,
      T,
      async () => {
        const { client, s } = await v5Rig()
        s.socket.write(Buffer.from(bytes.replace(' ', ''), 'hex'))
        const d = await s.next(PacketType.DISCONNECT).catch(() => null)
        if (d !== null) assert.equal(d.reasonCode, ReasonCode.MALFORMED_PACKET)
        await s.closed()
        assert.equal(client.connected, false)
      },
    )
  }
})
