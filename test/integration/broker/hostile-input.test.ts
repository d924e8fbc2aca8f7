import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { heapAfterGc, sleep } from '../../helpers/flood.js'
import { connectPacket, hex, type RawClient, startBroker, type TestBroker } from '../../helpers/raw-client.js'

/**
 * Input that would make the broker buffer: a first packet that is not a CONNECT, a
 * CONNECT or PUBLISH announcing more than the broker takes, a packet trickled forever.
 * Each is closed on its header (or after packetTimeout), and a healthy client on the
 * same broker is answered throughout.
 */

/** Round-trip time of a PINGREQ from a healthy client, in ms. */
async function ping(c: RawClient): Promise<number> {
  const t0 = performance.now()
  c.send({ type: PacketType.PINGREQ })
  await c.next(PacketType.PINGRESP)
  return performance.now() - t0
}

/** Sends `head`, then filler every 20 ms until the server closes; resolves with ms until then. */
async function trickleUntilClosed(c: RawClient, head: Buffer, limitMs: number): Promise<number> {
  const t0 = performance.now()
  c.sendRaw(head)
  const filler = Buffer.alloc(16 * 1024, 0x61)
  while (!c.ended && performance.now() - t0 < limitMs) {
    c.sendRaw(filler)
    await sleep(20)
  }
  assert.ok(c.ended, `still open after ${limitMs} ms`)
  return performance.now() - t0
}

/** The remaining-length field for `n`. */
function varint(n: number): number[] {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return out
}

function publishBytes(topic: string, payload: Buffer): Buffer {
  return encode({ type: PacketType.PUBLISH, topic, payload, qos: 0, retain: false, dup: false, packetId: 0 })
}

/** A CONNECT of exactly `size` bytes: 3.1.1, clean, the rest of its room in the password. */
function connectOfSize(size: number, clientId = 'big-connect'): Buffer {
  const fixed = 10 + 2 + clientId.length + 2 + 1 + 2 // variable header, id, user name 'u', password length
  let remaining = size - 2
  const header = remaining < 128 ? 2 : remaining < 16_384 ? 3 : 4
  remaining = size - header
  const password = Buffer.alloc(remaining - fixed, 0x70)
  const body = Buffer.concat([
    hex('00 04 4d 51 54 54 04 c2 00 00'), // 'MQTT', level 4, user name + password + clean session, keep-alive 0
    Buffer.from([0, clientId.length]),
    Buffer.from(clientId),
    hex('00 01 75'),
    Buffer.from([password.length >> 8, password.length & 0xff]),
    password,
  ])
  const packet = Buffer.concat([Buffer.from([0x10, ...varint(body.length)]), body])
  assert.equal(packet.length, size)
  return packet
}

async function healthyClient(tb: TestBroker): Promise<RawClient> {
  const c = await tb.connect()
  await ping(c)
  return c
}

test('closes a connection whose first byte is not a CONNECT, before anything else arrives [MQTT-3.1.0-1]', async (t) => {
  const tb = await startBroker({}, t)
  // a PUBLISH header announcing 256 MB: refused on its first byte, nothing buffered
  for (const first of ['30', '30 ff ff ff 7f', '82', 'c0 00']) {
    const c = await tb.open()
    const t0 = performance.now()
    c.sendRaw(first)
    await c.closed(500, false)
    assert.ok(performance.now() - t0 < 500)
  }
})

test('closes a CONNECT announcing more than maxConnectSize on its header, with nothing buffered', async (t) => {
  const tb = await startBroker({}, t)
  const healthy = await healthyClient(tb)
  const heapBefore = heapAfterGc()
  const attackers = await Promise.all(Array.from({ length: 20 }, () => tb.open()))
  // 256 MB announced, and its bytes trickled
  const closedIn = await Promise.all(attackers.map((c) => trickleUntilClosed(c, hex('10 ff ff ff 7f'), 3000)))
  for (const ms of closedIn) assert.ok(ms < 500, `closed after ${ms.toFixed(0)} ms`)
  assert.ok(heapAfterGc() - heapBefore < 4 * 1024 * 1024)
  assert.ok((await ping(healthy)) < 200)
  assert.equal(tb.broker.connectedCount, 1)
})

test('takes a CONNECT up to maxConnectSize (64 KiB by default) and refuses one byte more', async (t) => {
  const tb = await startBroker({ authenticate: () => true }, t)
  const ok = await tb.open()
  ok.sendRaw(connectOfSize(65_536, 'fits'))
  assert.equal((await ok.next(PacketType.CONNACK)).returnCode, 0)
  const big = await tb.open()
  big.sendRaw(connectOfSize(65_537, 'too-big'))
  await big.closed(500, false)
})

test('maxConnectSize is an option', async (t) => {
  const tb = await startBroker({ maxConnectSize: 1024, authenticate: () => true }, t)
  const ok = await tb.open()
  ok.sendRaw(connectOfSize(1024, 'fits'))
  assert.equal((await ok.next(PacketType.CONNACK)).returnCode, 0)
  const big = await tb.open()
  big.sendRaw(connectOfSize(1025, 'too-big'))
  await big.closed(500, false)
})

test('a packet sent right behind the CONNECT may be as large as maxPacketSize once the client is in', async (t) => {
  const tb = await startBroker({ maxConnectSize: 1024 }, t)
  const sub = await tb.connect()
  await sub.subscribe('behind/t', 0)
  const c = await tb.open()
  const payload = Buffer.alloc(100_000, 0x62)
  // CONNECT and PUBLISH in one write: the PUBLISH is judged by the limit of a connected client
  const connect = connectOfSize(200, 'behind')
  const publish = publishBytes('behind/t', payload)
  c.sendRaw(Buffer.concat([connect, publish]))
  assert.equal((await c.next(PacketType.CONNACK)).returnCode, 0)
  assert.equal((await sub.next(PacketType.PUBLISH)).payload.length, 100_000)
})

test('closes a connected client announcing a PUBLISH over maxPacketSize (4 MiB by default) on its header', async (t) => {
  const tb = await startBroker({}, t)
  const healthy = await healthyClient(tb)
  await healthy.subscribe('#', 0)
  const c = await tb.connect({
    will: { topic: 'big/will', payload: Buffer.from('w'), qos: 0, retain: false },
  })
  // 4 MiB + 1 byte in all: 5 bytes of fixed header, then the rest
  const head = Buffer.from([0x30, ...varint(4 * 1024 * 1024 + 1 - 5), 0x00, 0x01, 0x74])
  const closedIn = await trickleUntilClosed(c, head, 3000)
  assert.ok(closedIn < 500, `closed after ${closedIn.toFixed(0)} ms`)
  // nothing delivered but the will of the abnormally closed client
  const got = await healthy.next(PacketType.PUBLISH)
  assert.equal(got.topic, 'big/will')
  await healthy.nothingFor(100)
})

test('delivers a PUBLISH of exactly maxPacketSize (4 MiB by default), sent in pieces', async (t) => {
  const tb = await startBroker({}, t)
  const sub = await tb.connect()
  await sub.subscribe('big/t', 0)
  const c = await tb.connect()
  // 5 bytes of fixed header, 7 of topic
  const payload = Buffer.alloc(4 * 1024 * 1024 - 5 - 7, 0x63)
  const packet = publishBytes('big/t', payload)
  assert.equal(packet.length, 4 * 1024 * 1024)
  for (let i = 0; i < packet.length; i += 256 * 1024) c.sendRaw(packet.subarray(i, i + 256 * 1024))
  const got = await sub.next(PacketType.PUBLISH, 5000)
  assert.equal(got.payload.length, payload.length)
})

test('closes a client that trickles one packet for longer than packetTimeout; others are served meanwhile', async (t) => {
  const tb = await startBroker({ packetTimeout: 600 }, t)
  const healthy = await healthyClient(tb)
  await healthy.subscribe('trickle/will', 0)
  const c = await tb.connect({
    will: { topic: 'trickle/will', payload: Buffer.from('gone'), qos: 0, retain: false },
  })
  // a 1 MB PUBLISH, 100 bytes every 50 ms
  c.sendRaw(hex('30 80 80 40 00 01 74'))
  const t0 = performance.now()
  let worstPing = 0
  while (!c.ended && performance.now() - t0 < 3000) {
    c.sendRaw(Buffer.alloc(100, 0x64))
    worstPing = Math.max(worstPing, await ping(healthy))
    await sleep(50)
  }
  const closedIn = performance.now() - t0
  assert.ok(c.ended, 'still open after 3 s')
  assert.ok(closedIn >= 500 && closedIn < 1500, `closed after ${closedIn.toFixed(0)} ms`)
  assert.ok(worstPing < 200, `healthy client waited ${worstPing.toFixed(0)} ms for PINGRESP`)
  assert.equal((await healthy.next(PacketType.PUBLISH)).payload.toString(), 'gone')
})

test('a packet that takes its time but arrives within packetTimeout is delivered, and the clock starts afresh for the next', async (t) => {
  const tb = await startBroker({ packetTimeout: 600 }, t)
  const sub = await tb.connect()
  await sub.subscribe('slowly/t', 0)
  const c = await tb.connect()
  for (let round = 0; round < 3; round++) {
    // each packet 400 ms in the coming: three of them take longer than packetTimeout together
    const packet = Buffer.concat([hex('30 0e 00 08'), Buffer.from('slowly/t'), Buffer.from(`p${round}-x`)])
    for (let i = 0; i < packet.length; i += 4) {
      c.sendRaw(packet.subarray(i, i + 4))
      await sleep(100)
    }
    assert.equal((await sub.next(PacketType.PUBLISH)).payload.toString(), `p${round}-x`)
  }
  assert.equal(c.ended, false)
})

test('packets sent behind a CONNECT while authenticate is pending are held within maxConnectSize, not without bound', async (t) => {
  let release: (ok: boolean) => void = () => {}
  const tb = await startBroker({ authenticate: () => new Promise<boolean>((r) => (release = r)) }, t)
  const c = await tb.open()
  const heapBefore = heapAfterGc()
  c.send(connectPacket({ clientId: 'held-behind-connect' }))
  // 200 SUBSCRIBEs of 60 000-character filters: 12 MB if the broker kept them all
  const filter = 'f'.repeat(60_000)
  for (let i = 0; i < 200; i++)
    c.send({ type: PacketType.SUBSCRIBE, packetId: i + 1, subscriptions: [{ topic: filter, qos: 0 }] })
  await sleep(500)
  const grown = heapAfterGc() - heapBefore
  assert.ok(grown < 4 * 1024 * 1024, `heap grew ${(grown / 1048576).toFixed(1)} MB`)
  // once in, the held SUBSCRIBEs are all answered, in order
  release(true)
  assert.equal((await c.next(PacketType.CONNACK, 2000)).returnCode, 0)
  for (let i = 0; i < 200; i++) assert.equal((await c.next(PacketType.SUBACK, 5000)).packetId, i + 1)
})
