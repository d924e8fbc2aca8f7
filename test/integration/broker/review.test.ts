/**
 * Edge cases found in review: hooks still pending when a connection ends or is
 * taken over, acknowledgements a client should not send, order and state kept
 * across a restart, keep-alive while the broker itself holds a publisher back,
 * a will that fails to publish, retained topics deeper than the call stack.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { encode, type Packet, PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import { delay, RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

function isPublish(p: Packet): p is PublishPacket {
  return p.type === PacketType.PUBLISH
}

/** A hook answer the test settles when it wants. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open = (): void => {}
  const wait = new Promise<void>((resolve) => {
    open = resolve
  })
  return { wait, open }
}

test('handles what a client sent before closing its socket, while authorizePublish is pending: its PUBLISHes go out and its DISCONNECT drops the will [MQTT-3.14.4-3]', async (t) => {
  const g = gate()
  const tb = await startBroker({ authorizePublish: () => g.wait.then(() => true) }, t)
  const topic = `review/${uniqueId()}`
  const sub = await tb.connect()
  await sub.subscribe(`${topic}/#`, 0)
  const c = await tb.connect({
    will: { topic: `${topic}/will`, payload: Buffer.from('gone'), qos: 0, retain: false },
  })
  c.socket.write(
    Buffer.concat([
      encode({
        type: PacketType.PUBLISH,
        topic: `${topic}/a`,
        payload: Buffer.from('1'),
        qos: 0,
        retain: false,
        dup: false,
        packetId: 0,
      }),
      encode({
        type: PacketType.PUBLISH,
        topic: `${topic}/a`,
        payload: Buffer.from('2'),
        qos: 0,
        retain: false,
        dup: false,
        packetId: 0,
      }),
      encode({ type: PacketType.DISCONNECT }),
    ]),
  )
  c.socket.end()
  await delay(50)
  g.open()
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), '1')
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), '2')
  await sub.nothingFor(100)
})

test('leaves nothing of a dropped persistent session in the store when its old connection’s authorizePublish settles after a clean-session takeover [MQTT-3.1.2-6]', async (t) => {
  const g = gate()
  const store = new MemoryStore()
  const tb = await startBroker({ store, authorizePublish: () => g.wait.then(() => true) }, t)
  const id = uniqueId()
  const old = await tb.connect({ clientId: id, clean: false })
  old.publish(`review/${uniqueId()}`, 'x', { qos: 2 })
  await delay(20)
  await tb.connect({ clientId: id, clean: true }) // takes over, and ends the persistent session
  await old.closed()
  g.open()
  await delay(20)
  assert.deepEqual(
    store.load().sessions.map((s) => s.clientId),
    [],
    'the store keeps no state for a session that ended',
  )
})

test('does not mark a QoS 1 delivery released when the client answers it with PUBREC', async (t) => {
  const store = new MemoryStore()
  const tb = await startBroker({ store }, t)
  const id = uniqueId()
  const topic = `review/${uniqueId()}`
  const sub = await tb.connect({ clientId: id, clean: false })
  await sub.subscribe(topic, 1)
  const pub = await tb.connect()
  pub.publish(topic, 'q1', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  const m = await sub.next(PacketType.PUBLISH)
  sub.send({ type: PacketType.PUBREC, packetId: m.packetId }) // wrong: QoS 1 wants PUBACK
  sub.send({ type: PacketType.PINGREQ })
  await sub.next(PacketType.PINGRESP)
  await delay(20)
  const d = store.load().sessions.find((s) => s.clientId === id)?.deliveries
  assert.equal(d?.length, 1)
  assert.equal(d[0]!.released, false, 'still a QoS 1 PUBLISH awaiting PUBACK')
})

test('re-sends messages in their original order after a restart, those sent from the queue included [MQTT-4.6.0-1] [MQTT-4.4.0-1]', async (t) => {
  const store = new MemoryStore()
  const first = new Broker({ store, sysInterval: 0 })
  const { port } = await first.listen({ port: 0 })
  const id = uniqueId()
  const topic = `review/${uniqueId()}`
  const connect = async (p: number, clean: boolean): Promise<RawClient> => {
    const c = await RawClient.open(p)
    assert.equal((await c.connect({ clientId: id, clean })).returnCode, 0)
    return c
  }
  let sub = await connect(port, false)
  await sub.subscribe(topic, 1)
  await sub.disconnect()
  const pub = await RawClient.open(port)
  await pub.connect()
  pub.publish(topic, 'm1', { qos: 1 }) // queued while the subscriber is away
  await pub.next(PacketType.PUBACK)
  sub = await connect(port, false)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'm1') // sent from the queue, not acked
  pub.publish(topic, 'm2', { qos: 1 }) // sent at once, not acked
  await pub.next(PacketType.PUBACK)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), 'm2')
  sub.destroy()
  pub.destroy()
  await first.close()

  const second = new Broker({ store, sysInterval: 0 })
  t.after(() => second.close())
  const l = await second.listen({ port: 0 })
  sub = await connect(l.port, false)
  const a = (await sub.until(isPublish)) as PublishPacket
  const b = (await sub.until(isPublish)) as PublishPacket
  assert.deepEqual([a.payload.toString(), b.payload.toString()], ['m1', 'm2'])
  assert.equal(a.dup, true, 'm1 was sent before: DUP 1, its original id')
  sub.destroy()
})

test('does not close a publisher for keep-alive while the broker itself is not reading it [MQTT-3.1.2-24]', async (t) => {
  const tb = await startBroker({ maxOutputBuffer: 65_536, slowConsumerTimeout: 60_000 }, t)
  const topic = `review/${uniqueId()}`
  const sub = await tb.connect()
  await sub.subscribe(topic, 0)
  sub.socket.pause() // a subscriber that stops reading
  const pub = await tb.connect({ keepalive: 1 })
  const payload = Buffer.alloc(64 * 1024, 1)
  const chunk = Buffer.concat(
    Array.from({ length: 16 }, () =>
      encode({ type: PacketType.PUBLISH, topic, payload, qos: 0, retain: false, dup: false, packetId: 0 }),
    ),
  )
  // keep writing (and pinging) for 2.5 s: the broker stops reading this publisher soon
  const until = Date.now() + 2500
  while (Date.now() < until && !pub.ended) {
    if (pub.socket.writableLength < 4 * 1024 * 1024) {
      pub.socket.write(chunk)
      pub.send({ type: PacketType.PINGREQ })
    }
    await delay(100)
  }
  assert.equal(pub.ended, false, 'the publisher was closed while the broker held it back')
})

test('keeps running when publishing a will fails, with authorizePublish sync, async or absent', async (t) => {
  for (const authorizePublish of [undefined, () => true, async () => true]) {
    const tb = await startBroker(authorizePublish === undefined ? {} : { authorizePublish }, t)
    const topic = `review/${uniqueId()}`
    tb.broker.on('published', (m) => {
      if (m.topic === topic) throw new Error('a listener that fails')
    })
    const c = await tb.connect({ will: { topic, payload: Buffer.from('x'), qos: 0, retain: false } })
    c.destroy()
    await c.closed()
    await delay(20)
    const other = await tb.connect()
    other.send({ type: PacketType.PINGREQ })
    await other.next(PacketType.PINGRESP)
  }
})

test('serves a # subscriber when a retained message has a topic of 30 000 levels [MQTT-4.7.1-2] [MQTT-4.7.3-3]', async (t) => {
  // deeper than the default maxTopicLevels (128): allowed here, and still no recursion that deep
  const tb = await startBroker({ maxTopicLevels: 65_536 }, t)
  const deep = `review/${'/'.repeat(30_000)}`
  const pub = await tb.connect()
  pub.publish(deep, 'deep', { qos: 1, retain: true })
  pub.publish('review/shallow', 'shallow', { qos: 1, retain: true })
  await pub.next(PacketType.PUBACK)
  await pub.next(PacketType.PUBACK)
  const sub = await tb.connect()
  const ack = await sub.subscribe('#', 0)
  assert.deepEqual(ack.granted, [0])
  const got = [(await sub.next(PacketType.PUBLISH)).topic, (await sub.next(PacketType.PUBLISH)).topic]
  assert.deepEqual(got.sort(), [deep, 'review/shallow'].sort())
})

test('counts the packets it receives, for $SYS/broker/messages/received', async (t) => {
  const tb = await startBroker({}, t)
  const c = await tb.connect() // CONNECT
  c.send({ type: PacketType.PINGREQ })
  await c.next(PacketType.PINGRESP)
  c.publish('review/count', 'x', { qos: 1 })
  await c.next(PacketType.PUBACK)
  assert.equal(tb.broker.stats.messagesReceived, 3)
})
