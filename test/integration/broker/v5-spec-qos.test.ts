/**
 * MQTT 5 sessions, QoS delivery protocols, delivery retry, message receipt and ordering
 * (sections 4.1 to 4.6) on the broker, as sender and as receiver, over reconnects.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type QoS, ReasonCode } from '../../../src/protocol/index.js'
import {
  type ConnectOptions,
  delay,
  type RawClient,
  startBroker,
  uniqueId,
} from '../../helpers/raw-client.js'

const tb = await startBroker({ authorizePublish: (_c, topic) => !topic.startsWith('forbidden/') })
const v5 = (o: ConnectOptions = {}): Promise<RawClient> => tb.connect({ protocolVersion: 5, ...o })

/** A subscriber with a session that outlives its connection, and a way back to it. */
async function persistent(
  filter: string,
  qos: QoS,
): Promise<{ c: RawClient; back: (dropOld?: boolean) => Promise<RawClient> }> {
  const clientId = uniqueId('p')
  const properties = { sessionExpiryInterval: 60 }
  const c = await v5({ clientId, properties })
  await c.subscribe(filter, qos)
  let last = c
  const back = async (): Promise<RawClient> => {
    last.destroy()
    await delay(20)
    last = await v5({ clientId, clean: false, properties })
    assert.equal(last.connack!.sessionPresent, true)
    return last
  }
  return { c, back }
}

test('the session is kept while the connection is open, even past its expiry interval [MQTT-4.1.0-1]', async () => {
  const clientId = uniqueId('open')
  const topic = `open/${clientId}`
  const c = await v5({ clientId, properties: { sessionExpiryInterval: 1 } })
  await c.subscribe(topic, 1)
  await delay(1500)
  const pub = await v5()
  pub.publish(topic, 'still here', { qos: 1 })
  const m = await c.next(PacketType.PUBLISH)
  assert.equal(m.payload.toString(), 'still here')
  c.send({ type: PacketType.PUBACK, packetId: m.packetId })
  await c.disconnect()
  const again = await v5({ clientId, clean: false, properties: { sessionExpiryInterval: 1 } })
  assert.equal(again.connack!.sessionPresent, true)
})

test('QoS 1 out: a fresh id and DUP 0, unacknowledged until PUBACK, re-sent with DUP 1 only on reconnect [MQTT-4.3.2-1] [MQTT-4.3.2-2] [MQTT-4.3.2-3] [MQTT-4.4.0-1]', async () => {
  const topic = `q1out/${uniqueId()}`
  const { c, back } = await persistent(topic, 1)
  const pub = await v5()
  pub.publish(topic, 'm', { qos: 1 })
  const first = await c.next(PacketType.PUBLISH)
  assert.deepEqual([first.qos, first.dup, first.packetId > 0], [1, false, true])
  await c.nothingFor(400)
  const c2 = await back()
  const again = await c2.next(PacketType.PUBLISH)
  assert.deepEqual([again.packetId, again.dup, again.payload.toString()], [first.packetId, true, 'm'])
  c2.send({ type: PacketType.PUBACK, packetId: again.packetId })
  await c2.nothingFor(100)
  const c3 = await back()
  await c3.nothingFor(200)
})

test('QoS 1 in: PUBACK with the id; the same id after PUBACK is a new message [MQTT-4.3.2-4] [MQTT-4.3.2-5]', async () => {
  const topic = `q1in/${uniqueId()}`
  const sub = await v5()
  await sub.subscribe(topic, 0)
  const pub = await v5()
  pub.publish(topic, 'one', { qos: 1, packetId: 10 })
  assert.equal((await pub.next(PacketType.PUBACK)).packetId, 10)
  pub.publish(topic, 'two', { qos: 1, packetId: 10, dup: true })
  assert.equal((await pub.next(PacketType.PUBACK)).packetId, 10)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'one')
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'two')
})

test('QoS 2 out: PUBLISH until PUBREC, then PUBREL until PUBCOMP; never the PUBLISH again after PUBREL [MQTT-4.3.3-1] [MQTT-4.3.3-2] [MQTT-4.3.3-3] [MQTT-4.3.3-4] [MQTT-4.3.3-5] [MQTT-4.3.3-6]', async () => {
  const topic = `q2out/${uniqueId()}`
  const { c, back } = await persistent(topic, 2)
  const pub = await v5()
  pub.publish(topic, 'm', { qos: 2 })
  const first = await c.next(PacketType.PUBLISH)
  assert.deepEqual([first.qos, first.dup, first.packetId > 0], [2, false, true])
  const c2 = await back()
  const again = await c2.next(PacketType.PUBLISH)
  assert.deepEqual([again.packetId, again.dup], [first.packetId, true])
  c2.send({ type: PacketType.PUBREC, packetId: again.packetId })
  assert.equal((await c2.next(PacketType.PUBREL)).packetId, first.packetId)
  const c3 = await back()
  const rel = await c3.next()
  assert.deepEqual(
    [rel.type, rel.type === PacketType.PUBREL && rel.packetId],
    [PacketType.PUBREL, first.packetId],
  )
  c3.send({ type: PacketType.PUBCOMP, packetId: first.packetId })
  await c3.nothingFor(150)
  const c4 = await back()
  await c4.nothingFor(150)
})

test('QoS 2 out: a message already sent is not expired; it is re-sent after its expiry passed [MQTT-4.3.3-7]', async () => {
  const topic = `q2exp/${uniqueId()}`
  const { c, back } = await persistent(topic, 2)
  const pub = await v5()
  pub.publish(topic, 'short-lived', { qos: 2, properties: { messageExpiryInterval: 1 } })
  const first = await c.next(PacketType.PUBLISH)
  await delay(1600)
  const c2 = await back()
  const again = await c2.next(PacketType.PUBLISH)
  assert.deepEqual([again.packetId, again.payload.toString()], [first.packetId, 'short-lived'])
})

test('QoS 2 in: PUBREC with the id, duplicates acknowledged but delivered once, PUBCOMP with the id, then the id is new [MQTT-4.3.3-8] [MQTT-4.3.3-10] [MQTT-4.3.3-11] [MQTT-4.3.3-12]', async () => {
  const topic = `q2in/${uniqueId()}`
  const sub = await v5()
  await sub.subscribe(topic, 0)
  const pub = await v5()
  pub.publish(topic, 'one', { qos: 2, packetId: 50 })
  assert.equal((await pub.next(PacketType.PUBREC)).packetId, 50)
  pub.publish(topic, 'one', { qos: 2, packetId: 50, dup: true })
  assert.equal((await pub.next(PacketType.PUBREC)).packetId, 50)
  pub.send({ type: PacketType.PUBREL, packetId: 50 })
  assert.equal((await pub.next(PacketType.PUBCOMP)).packetId, 50)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'one')
  await sub.nothingFor(100)
  pub.publish(topic, 'two', { qos: 2, packetId: 50 })
  assert.equal((await pub.next(PacketType.PUBREC)).packetId, 50)
  pub.send({ type: PacketType.PUBREL, packetId: 50 })
  await pub.next(PacketType.PUBCOMP)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'two')
})

test('QoS 2 in across a reconnect: the PUBLISH re-sent before PUBREL is acknowledged again and delivered once [MQTT-4.3.3-10] [MQTT-4.4.0-1]', async () => {
  const topic = `q2again/${uniqueId()}`
  const sub = await v5()
  await sub.subscribe(topic, 0)
  const clientId = uniqueId('pub')
  const properties = { sessionExpiryInterval: 60 }
  const pub = await v5({ clientId, properties })
  pub.publish(topic, 'once', { qos: 2, packetId: 80 })
  await pub.next(PacketType.PUBREC)
  pub.destroy()
  await delay(20)
  const pub2 = await v5({ clientId, clean: false, properties })
  assert.equal(pub2.connack!.sessionPresent, true)
  pub2.publish(topic, 'once', { qos: 2, packetId: 80, dup: true })
  assert.equal((await pub2.next(PacketType.PUBREC)).packetId, 80)
  pub2.send({ type: PacketType.PUBREL, packetId: 80 })
  assert.equal((await pub2.next(PacketType.PUBCOMP)).packetId, 80)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'once')
  await sub.nothingFor(150)
})

test('QoS 2 in: after a PUBREC of 0x80 or above the same id is a new message [MQTT-4.3.3-9]', async () => {
  const topic = `q2new/${uniqueId()}`
  const sub = await v5()
  await sub.subscribe(topic, 0)
  const pub = await v5()
  pub.publish('forbidden/q2', 'no', { qos: 2, packetId: 60 })
  assert.equal((await pub.next(PacketType.PUBREC)).reasonCode, ReasonCode.NOT_AUTHORIZED)
  pub.publish(topic, 'yes', { qos: 2, packetId: 60 })
  const rec = await pub.next(PacketType.PUBREC)
  assert.deepEqual([rec.packetId, rec.reasonCode ?? 0], [60, 0])
  pub.send({ type: PacketType.PUBREL, packetId: 60 })
  await pub.next(PacketType.PUBCOMP)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'yes')
})

test('QoS 2 in: the handshake completes after the message expired [MQTT-4.3.3-13]', async () => {
  const pub = await v5()
  pub.publish(`q2late/${uniqueId()}`, 'x', { qos: 2, packetId: 70, properties: { messageExpiryInterval: 1 } })
  await pub.next(PacketType.PUBREC)
  await delay(1500)
  pub.send({ type: PacketType.PUBREL, packetId: 70 })
  const comp = await pub.next(PacketType.PUBCOMP)
  assert.deepEqual([comp.packetId, comp.reasonCode ?? 0], [70, 0])
})

test('a delivery refused with PUBACK or PUBREC 0x80 or above is acknowledged: never re-sent [MQTT-4.4.0-2]', async () => {
  const topic = `refuse/${uniqueId()}`
  for (const qos of [1, 2] as const) {
    const { c, back } = await persistent(topic, qos)
    const pub = await v5()
    pub.publish(topic, `q${qos}`, { qos })
    const m = await c.next(PacketType.PUBLISH)
    c.send({
      type: qos === 1 ? PacketType.PUBACK : PacketType.PUBREC,
      packetId: m.packetId,
      reasonCode: 0x80,
    })
    await c.nothingFor(150)
    const c2 = await back()
    await c2.nothingFor(200)
  }
})

test('a message for a subscriber that is away is added to its session and delivered when it comes back [MQTT-4.5.0-1]', async () => {
  const topic = `away/${uniqueId()}`
  const { c, back } = await persistent(topic, 1)
  c.destroy()
  await delay(20)
  const pub = await v5()
  pub.publish(topic, 'while away', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  const c2 = await back()
  assert.equal((await c2.next(PacketType.PUBLISH)).payload.toString(), 'while away')
})

test('messages of one publisher reach a non-shared subscriber in the order sent, per QoS [MQTT-4.6.0-5] [MQTT-4.6.0-6]', async () => {
  const topic = `order/${uniqueId()}`
  for (const qos of [0, 1, 2] as const) {
    const sub = await v5()
    await sub.subscribe(topic, 2)
    const pub = await v5()
    for (let i = 0; i < 30; i++) pub.publish(topic, String(i), { qos })
    for (let i = 0; i < 30; i++) {
      const m = await sub.next(PacketType.PUBLISH)
      assert.equal(m.payload.toString(), String(i), `QoS ${qos}`)
      if (m.qos === 1) sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
      if (m.qos === 2) sub.send({ type: PacketType.PUBREC, packetId: m.packetId })
    }
    await sub.disconnect()
  }
})

test("filters starting with a wildcard do not match topics starting with '$' [MQTT-4.7.2-1]", async () => {
  const id = uniqueId()
  const hash = await v5()
  await hash.subscribe('#', 0)
  const plus = await v5()
  await plus.subscribe(`+/${id}`, 0)
  const dollar = await v5()
  await dollar.subscribe(`$app/${id}`, 0)
  const pub = await v5()
  pub.publish(`$app/${id}`, 'x')
  assert.equal((await dollar.next(PacketType.PUBLISH)).topic, `$app/${id}`)
  await hash.nothingFor(100)
  await plus.nothingFor(50)
})
