/**
 * Petrel's client at MQTT 5, statement by statement, against a scripted broker
 * (fake-broker.ts): packet identifiers, keep-alive, Session Present, acknowledging
 * every PUBLISH, the QoS flows as receiver, and the order of acknowledgements and
 * re-sent messages.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type AuthHandler, type Client, connect, PacketType, ReasonCode } from '../../../src/index.js'
import type { PublishPacket } from '../../../src/protocol/index.js'
import { startFakeBroker } from './fake-broker.js'
import { T, until } from './suite.js'
import { track, v5Rig } from './v5-rig.js'

/** The messages `client` delivers to the application, as topic=payload. */
function inbox(client: Client): string[] {
  const got: string[] = []
  client.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`))
  return got
}

/** An operation left unsettled when the client ends with the test. */
const quiet = (p: Promise<unknown>): void => void p.catch(() => {})

/** A session that outlives the connection (60 s), and a client that reconnects to it at once. */
const resumable = { clean: false, sessionExpiryInterval: 60, reconnect: { minDelay: 10, maxDelay: 20 } }

const publish = (
  topic: string,
  qos: 0 | 1 | 2,
  packetId: number,
  payload = 'x',
  dup = false,
): PublishPacket => ({
  type: PacketType.PUBLISH,
  topic,
  payload: Buffer.from(payload),
  qos,
  retain: false,
  dup,
  packetId,
})

describe('MQTT 5 client: normative statements', () => {
  test('the first packet on a connection is CONNECT [MQTT-3.1.0-1]', T, async () => {
    const { s } = await v5Rig()
    assert.equal(s.raw(s.connect)[0], 0x10)
    assert.equal(s.connect.protocolVersion, 5)
  })

  test(
    'SUBSCRIBE, UNSUBSCRIBE and QoS 1/2 PUBLISH get distinct non-zero packet ids [MQTT-2.2.1-3]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      quiet(client.publish('ids/a', 'x', { qos: 1 }))
      quiet(client.publish('ids/b', 'x', { qos: 2 }))
      quiet(client.subscribe('ids/c', { qos: 1 }))
      quiet(client.unsubscribe('ids/d'))
      const ids: number[] = []
      for (let i = 0; i < 4; i++) {
        const p = await s.next()
        if ('packetId' in p) ids.push(p.packetId)
      }
      assert.equal(ids.length, 4)
      assert.ok(ids.every((id) => id > 0))
      assert.equal(new Set(ids).size, 4)
    },
  )

  test('with a keep-alive and nothing to send, the client sends PINGREQ [MQTT-3.1.2-20]', T, async () => {
    const { s } = await v5Rig({ keepalive: 1 })
    await s.next(PacketType.PINGREQ, 2500)
  })

  test(
    'a client that started clean and is told Session Present 1 closes the connection [MQTT-3.2.2-4]',
    T,
    async () => {
      const fb = await startFakeBroker()
      const pending = connect(fb.url, { protocolVersion: 5, reconnect: false, keepalive: 0, clean: true })
      const result = pending.then(track, (e: unknown) => e)
      await fb.acceptWith(undefined, true).then((s) => s.closed())
      const r = await result
      if (!(r instanceof Error)) assert.equal((r as Client).connected, false)
    },
  )

  test(
    'told Session Present 0 after a lost connection, the client forgets its QoS 2 receipts: a known id is a new message [MQTT-3.2.2-5]',
    T,
    async () => {
      const { fb, client, s: s1 } = await v5Rig(resumable)
      const got = inbox(client)
      s1.send(publish('sp0/a', 2, 7, 'first'))
      assert.equal((await s1.next(PacketType.PUBREC)).packetId, 7)
      s1.destroy()
      const s2 = await fb.acceptWith(undefined, false)
      s2.send(publish('sp0/a', 2, 7, 'second'))
      assert.equal((await s2.next(PacketType.PUBREC)).packetId, 7)
      s2.send({ type: PacketType.PUBREL, packetId: 7 })
      await s2.next(PacketType.PUBCOMP)
      await until(() => got.includes('sp0/a=second'), 2000, 'the second message')
    },
  )

  test(
    'every PUBLISH is acknowledged by its QoS, even one matching no subscription [MQTT-4.5.0-2] [MQTT-3.3.4-1]',
    T,
    async () => {
      const { s } = await v5Rig()
      s.send(publish('unasked/0', 0, 0))
      s.send(publish('unasked/1', 1, 11))
      assert.equal((await s.next()).type, PacketType.PUBACK)
      s.send(publish('unasked/2', 2, 12))
      const rec = await s.next()
      assert.deepEqual([rec.type, 'packetId' in rec && rec.packetId], [PacketType.PUBREC, 12])
    },
  )

  test(
    'QoS 1 received: PUBACK with the id; the same id after PUBACK is a new message [MQTT-4.3.2-4] [MQTT-4.3.2-5] [MQTT-2.2.1-5]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      const got = inbox(client)
      s.send(publish('q1/a', 1, 21, 'one'))
      assert.equal((await s.next(PacketType.PUBACK)).packetId, 21)
      s.send(publish('q1/a', 1, 21, 'two', true))
      assert.equal((await s.next(PacketType.PUBACK)).packetId, 21)
      await until(() => got.length === 2, 2000, 'two messages')
      assert.deepEqual(got, ['q1/a=one', 'q1/a=two'])
    },
  )

  test(
    'QoS 2 received: PUBREC, duplicates acknowledged and delivered once, PUBCOMP, then the id is new [MQTT-4.3.3-8] [MQTT-4.3.3-10] [MQTT-4.3.3-11] [MQTT-4.3.3-12]',
    T,
    async () => {
      const { client, s } = await v5Rig()
      const got = inbox(client)
      s.send(publish('q2/a', 2, 31, 'one'))
      assert.equal((await s.next(PacketType.PUBREC)).packetId, 31)
      s.send(publish('q2/a', 2, 31, 'one', true))
      assert.equal((await s.next(PacketType.PUBREC)).packetId, 31)
      s.send({ type: PacketType.PUBREL, packetId: 31 })
      assert.equal((await s.next(PacketType.PUBCOMP)).packetId, 31)
      s.send(publish('q2/a', 2, 31, 'two'))
      await s.next(PacketType.PUBREC)
      s.send({ type: PacketType.PUBREL, packetId: 31 })
      await s.next(PacketType.PUBCOMP)
      await until(() => got.length === 2, 2000, 'two messages')
      assert.deepEqual(got, ['q2/a=one', 'q2/a=two'])
    },
  )

  test(
    'PUBACKs and PUBRECs go out in the order the PUBLISHes came [MQTT-4.6.0-2] [MQTT-4.6.0-3]',
    T,
    async () => {
      const { s } = await v5Rig()
      for (let i = 1; i <= 5; i++) s.send(publish('ord/1', 1, 100 + i))
      for (let i = 1; i <= 5; i++) s.send(publish('ord/2', 2, 200 + i))
      for (let i = 1; i <= 5; i++) assert.equal((await s.next(PacketType.PUBACK)).packetId, 100 + i)
      for (let i = 1; i <= 5; i++) assert.equal((await s.next(PacketType.PUBREC)).packetId, 200 + i)
    },
  )

  test('PUBRELs go out in the order the PUBRECs came [MQTT-4.6.0-4]', T, async () => {
    const { client, s } = await v5Rig()
    for (let i = 0; i < 3; i++) quiet(client.publish('rel/x', String(i), { qos: 2 }))
    const ids: number[] = []
    for (let i = 0; i < 3; i++) ids.push((await s.next(PacketType.PUBLISH)).packetId)
    const order = [ids[2]!, ids[0]!, ids[1]!]
    for (const id of order) s.send({ type: PacketType.PUBREC, packetId: id })
    const rels: number[] = []
    for (let i = 0; i < 3; i++) rels.push((await s.next(PacketType.PUBREL)).packetId)
    assert.deepEqual(rels, order)
  })

  test(
    'unacknowledged PUBLISHes are re-sent only on reconnect to the session, in their order, with their ids and DUP 1, under the same client id; a refused one never [MQTT-4.4.0-1] [MQTT-4.6.0-1] [MQTT-4.4.0-2] [MQTT-3.3.1-1] [MQTT-4.3.2-3] [MQTT-3.1.3-2]',
    T,
    async () => {
      const { fb, client, s: s1 } = await v5Rig(resumable)
      for (let i = 0; i < 4; i++) quiet(client.publish('again/x', String(i), { qos: 1 }))
      const sent: PublishPacket[] = []
      for (let i = 0; i < 4; i++) sent.push(await s1.next(PacketType.PUBLISH))
      assert.ok(sent.every((p) => !p.dup))
      s1.send({ type: PacketType.PUBACK, packetId: sent[1]!.packetId, reasonCode: 0x80 })
      await s1.nothingFor(300)
      s1.destroy()
      const s2 = await fb.acceptWith(undefined, true)
      assert.equal(s2.connect.clientId, s1.connect.clientId)
      assert.equal(s2.connect.clean, false)
      const expected = [sent[0]!, sent[2]!, sent[3]!]
      for (const e of expected) {
        const p = await s2.next(PacketType.PUBLISH)
        assert.deepEqual([p.packetId, p.dup, p.payload.toString()], [e.packetId, true, e.payload.toString()])
        s2.send({ type: PacketType.PUBACK, packetId: p.packetId })
      }
      await s2.nothingFor(150)
    },
  )

  test(
    'QoS 2 sent: PUBLISH until PUBREC, then PUBREL until PUBCOMP; after a reconnect the PUBREL, never the PUBLISH [MQTT-4.3.3-1] [MQTT-4.3.3-2] [MQTT-4.3.3-3] [MQTT-4.3.3-4] [MQTT-4.3.3-5] [MQTT-4.3.3-6]',
    T,
    async () => {
      const { fb, client, s: s1 } = await v5Rig(resumable)
      const done = client.publish('q2out/x', 'exactly once', { qos: 2 })
      const p = await s1.next(PacketType.PUBLISH)
      assert.deepEqual([p.qos, p.dup, p.packetId > 0], [2, false, true])
      s1.destroy()
      const s2 = await fb.acceptWith(undefined, true)
      const again = await s2.next(PacketType.PUBLISH)
      assert.deepEqual([again.packetId, again.dup], [p.packetId, true])
      s2.send({ type: PacketType.PUBREC, packetId: p.packetId })
      assert.equal((await s2.next(PacketType.PUBREL)).packetId, p.packetId)
      s2.destroy()
      const s3 = await fb.acceptWith(undefined, true)
      const rel = await s3.next()
      assert.deepEqual([rel.type, 'packetId' in rel && rel.packetId], [PacketType.PUBREL, p.packetId])
      await s3.nothingFor(100)
      s3.send({ type: PacketType.PUBCOMP, packetId: p.packetId })
      assert.deepEqual(await done, { reasonCode: 0 })
    },
  )

  test(
    'a QoS 2 PUBLISH already sent is not expired: re-sent after its Message Expiry Interval passed [MQTT-4.3.3-7]',
    T,
    async () => {
      const { fb, client, s: s1 } = await v5Rig(resumable)
      quiet(client.publish('exp/q2', 'x', { qos: 2, properties: { messageExpiryInterval: 1 } }))
      const p = await s1.next(PacketType.PUBLISH)
      await new Promise((r) => setTimeout(r, 1200))
      s1.destroy()
      const s2 = await fb.acceptWith(undefined, true)
      const again = await s2.next(PacketType.PUBLISH)
      assert.deepEqual([again.packetId, again.dup], [p.packetId, true])
    },
  )

  test(
    'a Will QoS outside 0..2 is refused before connecting; will topic and user name go out as UTF-8 [MQTT-3.1.2-12] [MQTT-3.1.3-11] [MQTT-3.1.3-12]',
    T,
    async () => {
      const fb = await startFakeBroker()
      const bad = await Promise.resolve()
        .then(() =>
          connect(fb.url, {
            protocolVersion: 5,
            reconnect: false,
            will: { topic: 'w', payload: 'x', qos: 3 as 2 },
          }),
        )
        .then(track, (e: unknown) => e)
      assert.ok(bad instanceof Error, 'Will QoS 3 refused')
      const pending = connect(fb.url, {
        protocolVersion: 5,
        reconnect: false,
        keepalive: 0,
        username: 'ü',
        will: { topic: 'wé', payload: 'x', qos: 2 },
      })
      const s = await fb.acceptWith()
      track(await pending)
      assert.equal(s.raw(s.connect)[9]! & 0x18, 0x10, 'Will QoS 2')
      assert.ok(s.raw(s.connect).includes(Buffer.from([0, 3, 0x77, 0xc3, 0xa9])), 'will topic wé')
      assert.ok(s.raw(s.connect).includes(Buffer.from([0, 2, 0xc3, 0xbc])), 'user name ü')
    },
  )

  test(
    'with an Authentication Method, only AUTH goes out until the CONNACK, even with messages waiting [MQTT-3.1.2-30]',
    T,
    async () => {
      const fb = await startFakeBroker()
      const auth: AuthHandler = {
        method: 'TOY',
        start: () => Buffer.from('hi'),
        challenge: () => Buffer.from('answer'),
      }
      const pending = connect(fb.url, {
        protocolVersion: 5,
        auth,
        keepalive: 0,
        reconnect: { minDelay: 10, maxDelay: 20 },
      })
      const s1 = await fb.acceptWith({ authenticationMethod: 'TOY' })
      const client = track(await pending)
      s1.destroy()
      await until(() => !client.connected, 2000, 'the client to notice the drop')
      quiet(client.publish('auth/wait', 'queued', { qos: 1 }))
      const s2 = await fb.accept()
      assert.equal(s2.connect.properties?.authenticationMethod, 'TOY')
      s2.send({
        type: PacketType.AUTH,
        reasonCode: ReasonCode.CONTINUE_AUTHENTICATION,
        properties: { authenticationMethod: 'TOY', authenticationData: Buffer.from('1') },
      })
      assert.equal((await s2.next()).type, PacketType.AUTH)
      await s2.nothingFor(200)
      s2.send({
        type: PacketType.CONNACK,
        sessionPresent: false,
        returnCode: 0,
        properties: { authenticationMethod: 'TOY' },
      })
      assert.equal((await s2.next(PacketType.PUBLISH)).payload.toString(), 'queued')
    },
  )
})
