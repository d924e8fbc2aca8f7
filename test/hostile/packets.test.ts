import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { test } from 'node:test'
import { encode, PacketType, ReasonCode, SUBACK_FAILURE } from '../../src/protocol/index.js'
import { rawConnect, sleep } from '../helpers/flood.js'
import { assertBelow, MB, Probe, peakGrowth, waitFor } from '../helpers/hostile.js'
import { startBroker, uniqueId } from '../helpers/raw-client.js'

/**
 * Packets a connected client has no business sending, or sends to wear the broker down:
 * the server's own packets, the same QoS 2 id over and over without PUBREL, 10 000 filters
 * in one SUBSCRIBE, 50 sockets taking one client id over from each other. Each is answered
 * as the protocol says; memory stays bounded; a well-behaved client is served throughout.
 */

// The server's packets, with valid bodies, as a client would send them.
const SERVER_ONLY: [string, string, string][] = [
  ['CONNACK', '20 02 00 00', '20 03 00 00 00'],
  ['SUBACK', '90 03 00 01 00', '90 04 00 01 00 00'],
  ['UNSUBACK', 'b0 02 00 01', 'b0 04 00 01 00 00'],
  ['PINGRESP', 'd0 00', 'd0 00'],
]

for (const [name, v4, v5] of SERVER_ONLY) {
  test(`a client sending ${name} (a server's packet) is closed; MQTT 5 is told why with DISCONNECT 0x82 or 0x81`, async (t) => {
    const tb = await startBroker({}, t)
    const c = await tb.connect()
    c.sendRaw(v4)
    await c.closed(1000, false)
    const c5 = await tb.connect({ protocolVersion: 5 })
    c5.sendRaw(v5)
    const d = await c5.next(PacketType.DISCONNECT)
    assert.ok(
      d.reasonCode === ReasonCode.PROTOCOL_ERROR || d.reasonCode === ReasonCode.MALFORMED_PACKET,
      `reason code 0x${d.reasonCode?.toString(16)}`,
    )
    await c5.closed()
  })
}

test('AUTH from a 3.1.1 client (a reserved type there) and reserved type 0 are closed as malformed [MQTT-2.2.1]', async (t) => {
  const tb = await startBroker({}, t)
  for (const bytes of ['f0 00', 'f0 02 00 00', '00 00']) {
    const c = await tb.connect()
    c.sendRaw(bytes)
    await c.closed(1000, false)
  }
  // AUTH before CONNECT, at either version: the first packet must be CONNECT
  const c = await tb.open()
  c.sendRaw('f0 02 18 00')
  await c.closed(1000, false)
})

// the same QoS 2 id over and over without PUBREL: cve.test.ts, CVE-2023-28366

test('QoS 2 PUBLISHes with every packet id and no PUBREL: bounded by the ids (3.1.1) or by Receive Maximum (MQTT 5, DISCONNECT 0x93)', async (t) => {
  const tb = await startBroker({ receiveMaximum: 100 }, t)
  const c5 = await tb.connect({ protocolVersion: 5 })
  for (let id = 1; id <= 101; id++) c5.publish('qos2/ids', 'x', { qos: 2, packetId: id })
  for (let i = 0; i < 100; i++) await c5.next(PacketType.PUBREC)
  const d = await c5.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.RECEIVE_MAXIMUM_EXCEEDED)
  // 3.1.1 has no Receive Maximum: 65 535 ids at most, each held once (a socket that discards the PUBRECs)
  const c = await rawConnect(tb.port, uniqueId('ids'))
  t.after(() => c.destroy())
  let answered = 0
  c.on('data', (chunk: Buffer) => {
    answered += chunk.length
  })
  const all = Buffer.concat(
    Array.from({ length: 65_535 }, (_, i) =>
      encode({
        type: PacketType.PUBLISH,
        topic: 'q',
        payload: Buffer.alloc(0),
        qos: 2,
        retain: false,
        dup: false,
        packetId: i + 1,
      }),
    ),
  )
  const grown = await peakGrowth(async () => {
    for (let round = 1; round <= 3; round++) {
      c.write(all)
      await waitFor('a PUBREC for each', () => answered >= round * 65_535 * 4, 10_000)
    }
  })
  assertBelow(grown, 16 * MB, 'memory grew')
})

test('10 000 filters in one SUBSCRIBE: one SUBACK with 10 000 codes, those past maxSubscriptionsPerClient (1000) refused; others served', async (t) => {
  const tb = await startBroker({}, t)
  const probe = await Probe.start(tb, t)
  const grown = await peakGrowth(async () => {
    for (const version of [4, 5] as const) {
      const c = await tb.connect({ protocolVersion: version })
      const subscriptions = Array.from({ length: 10_000 }, (_, i) => ({
        topic: `many/${i}/+/#`,
        qos: 1 as const,
      }))
      const ack = await c.subscribe(subscriptions, 0, 10_000)
      assert.equal(ack.granted.length, 10_000)
      assert.ok(ack.granted.slice(0, 1000).every((g) => g === 1))
      const refused = version === 4 ? SUBACK_FAILURE : ReasonCode.QUOTA_EXCEEDED
      assert.ok(ack.granted.slice(1000).every((g) => g === refused))
      c.destroy()
    }
  })
  assertBelow(grown, 24 * MB, 'memory grew')
  await waitFor('the subscriptions gone with their clients', () => tb.broker.subscriptionCount === 1)
  await probe.stop('10 000-filter SUBSCRIBEs')
})

test('a takeover storm: 50 sockets connecting with one client id, over and over for 1.5 s; one session, bounded memory, others served', async (t) => {
  const tb = await startBroker({}, t)
  const probe = await Probe.start(tb, t)
  const id = uniqueId('stormed')
  let connects = 0
  const grown = await peakGrowth(async () => {
    const end = performance.now() + 1500
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (performance.now() < end) {
          const s: Socket = await rawConnect(tb.port, id, {
            clean: false,
            will: { topic: 'storm/will', payload: Buffer.from('w'), qos: 1, retain: false },
          })
          connects++
          s.write(
            encode({
              type: PacketType.SUBSCRIBE,
              packetId: 1,
              subscriptions: [{ topic: 'storm/#', qos: 1 }],
            }),
          )
          await sleep(5)
          s.destroy()
        }
      }),
    )
  })
  assert.ok(connects > 100, `${connects} connects`)
  assertBelow(grown, 24 * MB, 'memory grew')
  await waitFor('the storm over', () => tb.broker.connectedCount === 1)
  assert.equal(tb.broker.sessionCount, 2) // the probe's and the stormed id's
  await probe.stop('a takeover storm')
})
