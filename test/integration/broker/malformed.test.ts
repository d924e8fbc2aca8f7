/**
 * Malformed input closes only the connection it came on [MQTT-4.8.0-1]: every
 * malformed vector of test/vectors is sent to a live broker, which must close
 * that connection (after CONNACK with the vector's return code, if it has one)
 * and keep serving everyone else.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { hex, type RawClient, startBroker, type TestBroker, uniqueId } from '../../helpers/raw-client.js'
import { loadVectors, type MalformedVector } from '../../helpers/vectors.js'

const { malformed } = loadVectors()

/** A connected pair that must keep working while others misbehave. */
async function bystanders(tb: TestBroker): Promise<{ check: () => Promise<void> }> {
  const topic = `bystander/${uniqueId()}`
  const sub = await tb.connect()
  await sub.subscribe(topic, 1)
  const pub = await tb.connect()
  let n = 0
  return {
    async check() {
      const payload = `still here ${++n}`
      pub.publish(topic, payload, { qos: 1 })
      await pub.next(PacketType.PUBACK)
      const m = await sub.next(PacketType.PUBLISH)
      assert.equal(m.payload.toString(), payload)
      sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
    },
  }
}

/** Sends a vector: CONNECT vectors as the first packet, others after a CONNECT (when `connected`). */
async function sendVector(tb: TestBroker, v: MalformedVector, connected: boolean): Promise<void> {
  const isConnect = v.bytes[0]! >> 4 === PacketType.CONNECT
  if (v.version === 5 && v.returnCode === undefined) return sendVector5(tb, v, isConnect, connected)
  const c: RawClient = isConnect || !connected ? await tb.open() : await tb.connect()
  c.sendRaw(v.bytes)
  if (isConnect && v.returnCode !== undefined) {
    const ack = await c.next(PacketType.CONNACK)
    assert.deepEqual(c.raw(ack), Buffer.from([0x20, 2, 0, v.returnCode]), `${v.name}: CONNACK`)
  }
  await c.closed(1000, false)
}

/**
 * An MQTT 5 vector, on a connection at level 5: the server closes it, after at most
 * a CONNACK (for a CONNECT) or a DISCONNECT carrying the vector's reason code [4.13].
 */
async function sendVector5(tb: TestBroker, v: MalformedVector, isConnect: boolean, connected: boolean) {
  const c: RawClient = isConnect || !connected ? await tb.open() : await tb.connect({ protocolVersion: 5 })
  c.protocolVersion = 5
  c.sendRaw(v.bytes)
  await c.closed(1000)
  for (const p of c.received) {
    const code =
      p.type === PacketType.CONNACK ? p.returnCode : p.type === PacketType.DISCONNECT ? p.reasonCode : -1
    if ((p.type === PacketType.CONNACK && isConnect) || p.type === PacketType.DISCONNECT) {
      if (v.reasonCode !== undefined) assert.equal(code, v.reasonCode, `${v.name}: reason code`)
      else assert.ok((code ?? 0) >= 0x80, `${v.name}: reason code ${code}`)
    } else assert.fail(`${v.name}: unexpected packet type ${p.type} before the close`)
  }
}

/** The 3.1.1 vectors, and the MQTT 5 ones. */
const GROUPS = [
  { version: 4, options: {} },
  { version: 5, options: {} },
] as const
/** The broker's smallest maxPacketSize: vectors for a smaller decoder limit are the codec's tests alone. */
const BROKER_MIN_PACKET_SIZE = 16

describe('malformed vectors', () => {
  for (const { version, options } of GROUPS) {
    const ofVersion = malformed.filter((v) => v.version === version)
    const limits = [...new Set(ofVersion.map((v) => v.maxPacketSize))].filter(
      (l) => l === undefined || l >= BROKER_MIN_PACKET_SIZE,
    )
    for (const limit of limits) {
      const group = ofVersion.filter((v) => v.maxPacketSize === limit)
      test(
        `closes the connection for each of ${group.length} malformed ${version === 5 ? 'MQTT 5 ' : ''}packets${limit ? ` (maxPacketSize ${limit})` : ''}, and only that one [MQTT-4.8.0-1] [MQTT-2.2.2-2] [MQTT-3.1.4-1]`,
        options,
        async (t) => {
          const tb = await startBroker(limit === undefined ? {} : { maxPacketSize: limit }, t)
          // below ~64 bytes not even a CONNECT fits: such vectors go to unconnected sockets
          const roomy = limit === undefined || limit >= 64
          const others = roomy ? await bystanders(tb) : null
          for (const v of group) {
            await t.test(`${v.name} [${v.spec}]`, options, () => sendVector(tb, v, roomy))
          }
          await others?.check()
        },
      )
    }
  }
})

test('closes the connection for packets only a server sends [MQTT-4.8.0-1]', async (t) => {
  const tb = await startBroker({}, t)
  const others = await bystanders(tb)
  for (const bytes of ['20 02 00 00', '90 03 0001 00', 'b0 02 0001', 'd0 00']) {
    const c = await tb.connect()
    c.sendRaw(bytes)
    await c.closed(1000, false)
  }
  await others.check()
})

test('does not act on packets that follow a malformed one in the same read [MQTT-4.8.0-1]', async (t) => {
  const tb = await startBroker({}, t)
  const c = await tb.connect()
  c.sendRaw(
    Buffer.concat([
      hex('36 05 0001 61 0001'), // QoS 3
      encode({
        type: PacketType.PUBLISH,
        topic: 'after/malformed',
        payload: Buffer.from('x'),
        qos: 1,
        retain: true,
        dup: false,
        packetId: 1,
      }),
    ]),
  )
  await c.closed(1000, false)
  assert.equal(tb.broker.retainedCount, 0)
})

test('handles the packets before a malformed one in the same read, then closes', async (t) => {
  const tb = await startBroker({}, t)
  const c = await tb.connect()
  c.sendRaw(Buffer.concat([hex('c0 00'), hex('30 03 0001 23')]))
  await c.next(PacketType.PINGRESP)
  await c.closed()
})

test('closes a connection whose packet exceeds maxPacketSize, before reading its body', async (t) => {
  const tb = await startBroker({ maxPacketSize: 1024 }, t)
  const others = await bystanders(tb)
  const ok = await tb.connect()
  ok.publish('size/ok', Buffer.alloc(1000), { qos: 1 })
  await ok.next(PacketType.PUBACK)
  const big = await tb.connect()
  big.sendRaw('30 ff ff 7f') // announces about 2 MB, sends nothing more
  await big.closed(1000, false)
  await others.check()
})

test('accepts a whole session sent one byte per write', async (t) => {
  const tb = await startBroker({}, t)
  const c = await tb.open()
  const bytes = Buffer.concat([
    encode({
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
      clientId: 'dribble',
    }),
    encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'd', qos: 1 }] }),
    encode({
      type: PacketType.PUBLISH,
      topic: 'd',
      payload: Buffer.from('x'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 2,
    }),
    encode({ type: PacketType.PINGREQ }),
  ])
  for (const b of bytes) {
    c.sendRaw(Buffer.from([b]))
    await new Promise((r) => setImmediate(r))
  }
  await c.next(PacketType.CONNACK)
  await c.next(PacketType.SUBACK)
  const got = new Set<number>()
  for (let i = 0; i < 3; i++) got.add((await c.next()).type)
  assert.deepEqual([...got].sort(), [PacketType.PUBLISH, PacketType.PUBACK, PacketType.PINGRESP].sort())
})
