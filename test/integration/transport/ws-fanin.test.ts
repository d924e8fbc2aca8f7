/**
 * Fan-in over the ws listener: many publishers flooding QoS 0 into one subscriber that
 * reads promptly. The subscriber is slow only for a moment (its publishers are slowed
 * meanwhile), so nothing may be dropped: over WebSocket as over TCP, the broker's output to
 * it must leave in large writes, not one frame per packet (then libuv writes only IOV_MAX
 * iovecs, about 40 KiB, per event-loop turn, and the watch takes it for a stuck subscriber).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect as netConnect, type Socket } from 'node:net'
import { after, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { LOOPBACK } from '../../helpers/net.js'
import { connectPacket } from '../../helpers/raw-client.js'
import { eventually, upgrade } from './helpers.js'

const PUBLISHERS = 20
const PER_PUBLISHER = 10_000
const PAYLOAD = 64
/** Bound on the whole exchange: it takes about a second on a loaded laptop. */
const DEADLINE_MS = 20_000
/** The stuck-subscriber watch's window, shorter than its default (500 ms): a subscriber must take 256 KiB in each. */
const WINDOW_MS = 250

const brokers: Broker[] = []
const sockets: Socket[] = []
after(async () => {
  for (const s of sockets) s.destroy()
  await Promise.all(brokers.map((b) => b.close()))
})

/** A client's binary frame around `payload`: masked, as RFC 6455 5.3 requires (a zero key leaves the bytes as they are). */
function maskedFrame(payload: Buffer): Buffer {
  const n = payload.length
  const head = n < 126 ? Buffer.from([0x82, 0x80 | n]) : Buffer.from([0x82, 0x80 | 126, n >> 8, n & 0xff])
  return Buffer.concat([head, Buffer.alloc(4), payload])
}

/** A raw WebSocket to the broker's ws listener (the upgrade done by hand), MQTT-connected. */
async function rawWsPublisher(port: number, clientId: string): Promise<Socket> {
  const socket = netConnect({ port, host: LOOPBACK, noDelay: true })
  sockets.push(socket)
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write(
    `GET /mqtt HTTP/1.1\r\nHost: ${LOOPBACK}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      'Sec-WebSocket-Protocol: mqtt\r\n\r\n',
  )
  socket.write(maskedFrame(encode(connectPacket({ clientId }))))
  // the 101 answer, then a CONNACK frame (2 + 4 bytes)
  await new Promise<void>((resolve, reject) => {
    let got = Buffer.alloc(0)
    const timer = setTimeout(
      () => reject(new Error(`${clientId}: no upgrade and CONNACK within 3000 ms`)),
      3000,
    )
    const onData = (c: Buffer): void => {
      got = Buffer.concat([got, c])
      const end = got.indexOf('\r\n\r\n')
      if (end < 0) return
      assert.match(got.subarray(0, end).toString('latin1'), /^HTTP\/1\.1 101 /)
      if (got.length < end + 4 + 6) return
      assert.deepEqual([...got.subarray(end + 4, end + 10)], [0x82, 4, 0x20, 2, 0, 0], 'CONNACK 0')
      clearTimeout(timer)
      socket.off('data', onData)
      resolve()
    }
    socket.on('data', onData)
  })
  return socket
}

/** Publisher `p`'s flood: its number and sequence in each payload; `frame` wraps each PUBLISH (one WebSocket frame per PUBLISH, as client libraries send them, or none over TCP). */
function flood(p: number, frame: (packet: Buffer) => Buffer = maskedFrame): Buffer {
  const packets: Buffer[] = []
  for (let i = 0; i < PER_PUBLISHER; i++) {
    const payload = Buffer.alloc(PAYLOAD, 0x78)
    payload.writeUInt16BE(p, 0)
    payload.writeUInt32BE(i, 2)
    const packet = {
      type: PacketType.PUBLISH,
      topic: `fanin/${p}`,
      payload,
      qos: 0,
      retain: false,
      dup: false,
    }
    packets.push(frame(encode({ ...packet, packetId: 0 } as Parameters<typeof encode>[0])))
  }
  return Buffer.concat(packets)
}

/** Waits until the subscriber has every message (or the broker drops one, or the deadline passes), then checks. */
async function expectEveryMessage(b: Broker, counter: FanInCounter, start: number): Promise<void> {
  const expected = PUBLISHERS * PER_PUBLISHER
  while (counter.count < expected && b.stats.dropped === 0 && performance.now() - start < DEADLINE_MS)
    await new Promise((r) => setTimeout(r, 20))
  const ms = Math.round(performance.now() - start)
  assert.equal(
    b.stats.dropped,
    0,
    `the broker dropped messages (received ${counter.count} of ${expected} in ${ms} ms)`,
  )
  assert.equal(counter.count, expected, `received ${counter.count} of ${expected} within ${ms} ms`)
  assert.equal(counter.outOfOrder, 0, 'each publisher’s messages arrive in order [MQTT-4.6.0-6]')
}

/**
 * Counts QoS 0 PUBLISHes in a byte stream that may split them anywhere (WebSocket messages
 * carry MQTT packets whole, in pieces or several at once [MQTT-6.0.0-2]), and checks each
 * publisher's sequence.
 */
class FanInCounter {
  count = 0
  outOfOrder = 0
  subacked = false
  private rest: Buffer = Buffer.alloc(0)
  private readonly next = new Array<number>(PUBLISHERS).fill(0)

  push(data: Buffer): void {
    const b = this.rest.length === 0 ? data : Buffer.concat([this.rest, data])
    let at = 0
    for (;;) {
      // fixed header: type, then a remaining length of 1 to 4 bytes
      let len = 0
      let mult = 1
      let i = at + 1
      let complete = false
      while (i < b.length && i < at + 5) {
        const byte = b[i++]!
        len += (byte & 127) * mult
        mult *= 128
        if ((byte & 128) === 0) {
          complete = true
          break
        }
      }
      if (!complete || i + len > b.length) break
      if (b[at]! >> 4 === PacketType.PUBLISH) {
        const topicLength = b.readUInt16BE(i)
        const payload = i + 2 + topicLength
        const p = b.readUInt16BE(payload)
        const seq = b.readUInt32BE(payload + 2)
        if (seq !== this.next[p]) this.outOfOrder++
        this.next[p] = seq + 1
        this.count++
      } else if (b[at]! >> 4 === PacketType.SUBACK) this.subacked = true
      at = i + len
    }
    this.rest = b.subarray(at)
  }
}

test(`ws fan-in: ${PUBLISHERS} publishers flooding QoS 0 into one subscriber that reads promptly: nothing is dropped, in order per publisher`, async () => {
  const b = new Broker({ sysInterval: 0, stuckConsumerWindow: WINDOW_MS })
  brokers.push(b)
  const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
  const u = await upgrade(`ws://${LOOPBACK}:${l.port}/mqtt`)
  assert.ok(u.ok, 'upgrade accepted')
  const sub = u.ws
  const counter = new FanInCounter()
  sub.on('message', (d: Buffer) => counter.push(d))
  sub.send(encode(connectPacket({ clientId: 'fanin-sub' })))
  sub.send(encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'fanin/+', qos: 0 }] }))
  await eventually(() => counter.subacked, 3000, 'the SUBACK')
  const publishers = await Promise.all(
    Array.from({ length: PUBLISHERS }, (_, p) => rawWsPublisher(l.port, `fanin-pub-${p}`)),
  )
  const floods = publishers.map((_, p) => flood(p))
  // all at once, as fast as the sockets take them
  const start = performance.now()
  for (let p = 0; p < PUBLISHERS; p++) publishers[p]!.write(floods[p]!)

  await expectEveryMessage(b, counter, start)
  sub.terminate()
})

/** A raw TCP client to the broker's mqtt listener, MQTT-connected (CONNACK read and dropped). */
async function rawTcpClient(port: number, clientId: string, onData?: (d: Buffer) => void): Promise<Socket> {
  const socket = netConnect({ port, host: LOOPBACK, noDelay: true })
  sockets.push(socket)
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write(encode(connectPacket({ clientId })))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${clientId}: no CONNACK within 3000 ms`)), 3000)
    socket.once('data', (c: Buffer) => {
      clearTimeout(timer)
      assert.deepEqual([...c.subarray(0, 4)], [0x20, 2, 0, 0], 'CONNACK 0')
      if (c.length > 4) onData?.(c.subarray(4))
      if (onData !== undefined) socket.on('data', onData)
      resolve()
    })
  })
  return socket
}

test(`tcp fan-in: the same flood over plain TCP: nothing is dropped (a flush of more packets than one writev takes is gathered)`, async () => {
  const b = new Broker({ sysInterval: 0, stuckConsumerWindow: WINDOW_MS })
  brokers.push(b)
  const l = await b.listen({ port: 0, host: LOOPBACK })
  const counter = new FanInCounter()
  const sub = await rawTcpClient(l.port, 'tcp-fanin-sub', (d) => counter.push(d))
  sub.write(
    encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'fanin/+', qos: 0 }] }),
  )
  await eventually(() => counter.subacked, 3000, 'the SUBACK')
  const publishers = await Promise.all(
    Array.from({ length: PUBLISHERS }, (_, p) => rawTcpClient(l.port, `tcp-fanin-pub-${p}`)),
  )
  const floods = publishers.map((_, p) => flood(p, (packet) => packet))
  const start = performance.now()
  for (let p = 0; p < PUBLISHERS; p++) publishers[p]!.write(floods[p]!)
  await expectEveryMessage(b, counter, start)
})
