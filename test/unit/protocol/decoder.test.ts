/** Decoder behaviour beyond the vectors: buffering, views, limits. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ProtocolError } from '../../../src/errors.js'
import {
  Decoder,
  ErrorCode,
  encode,
  type Packet,
  PacketType,
  type PublishPacket,
} from '../../../src/protocol/index.js'

function publish(payload: Buffer): PublishPacket {
  return { type: PacketType.PUBLISH, topic: 't', payload, qos: 1, retain: false, dup: false, packetId: 5 }
}

test('refuses an oversize packet from its header alone, before any of its body is buffered', () => {
  const d = new Decoder(() => assert.fail('no packet'), { maxPacketSize: 1024 })
  // PUBLISH announcing 2,097,152 bytes: only the 5 header bytes are pushed
  assert.throws(
    () => d.push(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x01])),
    (e) => e instanceof ProtocolError && e.code === ErrorCode.PACKET_TOO_LARGE,
  )
})

test('refuses an oversize packet whose header arrives one byte at a time, holding only header bytes', () => {
  const d = new Decoder(() => assert.fail('no packet'), { maxPacketSize: 1024 })
  d.push(Buffer.from([0x30]))
  d.push(Buffer.from([0x80]))
  assert.equal(d.buffered, 2)
  assert.throws(
    () => d.push(Buffer.from([0x08])), // 1 + 2 + 1024 bytes in all: one too many
    (e) => e instanceof ProtocolError && e.code === ErrorCode.PACKET_TOO_LARGE,
  )
})

test('accepts a packet of exactly maxPacketSize bytes, fixed header included', () => {
  const bytes = encode(publish(Buffer.alloc(1000, 1)))
  const got: Packet[] = []
  new Decoder((p) => got.push(p), { maxPacketSize: bytes.length }).push(bytes)
  assert.equal(got.length, 1)
  assert.throws(
    () => new Decoder(() => {}, { maxPacketSize: bytes.length - 1 }).push(bytes.subarray(0, 3)),
    (e) => e instanceof ProtocolError && e.code === ErrorCode.PACKET_TOO_LARGE,
  )
})

test('a packet wholly inside one chunk is delivered with a payload that is a view of the chunk (no copy)', () => {
  const chunk = encode(publish(Buffer.from('hello')))
  let payload: Buffer | undefined
  new Decoder((p) => {
    if (p.type === PacketType.PUBLISH) payload = p.payload
  }).push(chunk)
  assert.ok(payload)
  assert.equal(payload.buffer, chunk.buffer)
  assert.equal(payload.toString(), 'hello')
})

test('a packet split across chunks is gathered into its own buffer: reusing the chunks does not change it', () => {
  const bytes = encode(publish(Buffer.from('hello world')))
  const got: PublishPacket[] = []
  const d = new Decoder((p) => {
    if (p.type === PacketType.PUBLISH) got.push(p)
  })
  const a = Buffer.from(bytes.subarray(0, 6))
  const b = Buffer.from(bytes.subarray(6))
  d.push(a)
  assert.equal(d.buffered, 6)
  d.push(b)
  a.fill(0)
  b.fill(0)
  assert.equal(got[0]!.payload.toString(), 'hello world')
  assert.equal(d.buffered, 0)
})

test('buffered counts the bytes held for an incomplete packet', () => {
  const bytes = encode(publish(Buffer.alloc(300, 7)))
  const d = new Decoder(() => {})
  d.push(bytes.subarray(0, 1))
  assert.equal(d.buffered, 1)
  d.push(bytes.subarray(1, 2))
  assert.equal(d.buffered, 2)
  d.push(bytes.subarray(2, 100))
  assert.equal(d.buffered, 100)
  d.push(bytes.subarray(100))
  assert.equal(d.buffered, 0)
})

test('an empty chunk changes nothing, in any state', () => {
  const bytes = encode(publish(Buffer.alloc(200, 3))) // two-byte remaining length
  const got: Packet[] = []
  const d = new Decoder((p) => got.push(p))
  for (let i = 0; i < bytes.length; i++) {
    d.push(Buffer.alloc(0))
    d.push(bytes.subarray(i, i + 1))
  }
  d.push(Buffer.alloc(0))
  assert.deepEqual(got, [publish(Buffer.alloc(200, 3))])
  assert.equal(d.buffered, 0)
})

test('rawBytes() gives the wire bytes inside onPacket and throws outside it', () => {
  const bytes = Buffer.concat([encode({ type: PacketType.PINGREQ }), encode(publish(Buffer.from('x')))])
  const raws: string[] = []
  const d: Decoder = new Decoder(() => raws.push(d.rawBytes().toString('hex')))
  d.push(bytes)
  assert.deepEqual(raws, ['c000', encode(publish(Buffer.from('x'))).toString('hex')])
  assert.throws(
    () => d.rawBytes(),
    (e) => e instanceof ProtocolError && e.code === ErrorCode.DECODER_FAILED,
  )
})

test('an exception thrown by onPacket propagates and leaves the decoder failed', () => {
  const d = new Decoder(() => {
    throw new RangeError('handler bug')
  })
  assert.throws(() => d.push(encode({ type: PacketType.PINGREQ })), RangeError)
  assert.throws(
    () => d.push(encode({ type: PacketType.PINGREQ })),
    (e) => e instanceof ProtocolError && e.code === ErrorCode.DECODER_FAILED,
  )
})

test('a header announcing a huge packet does not reserve its size before the bytes arrive', () => {
  // PUBLISH with remaining length 268,435,455 (the MQTT maximum): ff ff ff 7f
  const header = Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x61])
  const before = process.memoryUsage().arrayBuffers
  const decoders: Decoder[] = []
  for (let i = 0; i < 50; i++) {
    const d = new Decoder(() => {})
    d.push(header)
    decoders.push(d)
  }
  const grown = process.memoryUsage().arrayBuffers - before
  assert.equal(decoders[0]!.buffered, header.length)
  // 50 x 256 MiB if reserved up front; a growing buffer holds what arrived (64 KiB each at most)
  assert.ok(grown < 64 * 1024 * 1024, `arrayBuffers grew by ${grown} bytes`)
})

test('a large packet split into many chunks is reassembled exactly', () => {
  const payload = Buffer.alloc(1_000_000)
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff
  const bytes = encode(publish(payload))
  const got: Packet[] = []
  const d = new Decoder((p) => got.push(p))
  for (let i = 0; i < bytes.length; i += 7_919) d.push(bytes.subarray(i, i + 7_919))
  assert.equal(got.length, 1)
  assert.ok((got[0] as PublishPacket).payload.equals(payload))
  assert.equal(d.buffered, 0)
})

test('a broker switching the decoder to MQTT 5 inside onPacket(CONNECT) reads the rest of the same chunk as MQTT 5', () => {
  const connect: Packet = {
    type: PacketType.CONNECT,
    protocolName: 'MQTT',
    protocolVersion: 5,
    clean: true,
    keepalive: 0,
    clientId: 'a',
    properties: { receiveMaximum: 10 },
  }
  const pub: PublishPacket = { ...publish(Buffer.from('x')), properties: { contentType: 'text' } }
  const auth: Packet = { type: PacketType.AUTH, reasonCode: 0x19, properties: { authenticationMethod: 'm' } }
  const chunk = Buffer.concat([encode(connect, 4), encode(pub, 5), encode(auth, 5)])
  const got: Packet[] = []
  const d: Decoder = new Decoder((p) => {
    got.push(p)
    if (p.type === PacketType.CONNECT) d.protocolVersion = p.protocolVersion
  })
  d.push(chunk)
  assert.deepEqual(got, [connect, pub, auth])
})

test('packet type 15 is AUTH at MQTT 5 and reserved at 3.1.1 (2.2.1)', () => {
  const bytes = Buffer.from('f000', 'hex')
  const got: Packet[] = []
  new Decoder((p) => got.push(p), { protocolVersion: 5 }).push(bytes)
  assert.deepEqual(got, [{ type: PacketType.AUTH }])
  assert.throws(
    () => new Decoder(() => {}, { protocolVersion: 4 }).push(bytes),
    (e) => e instanceof ProtocolError && e.code === ErrorCode.RESERVED_PACKET_TYPE && e.reasonCode === 0x81,
  )
})

test('with wholeUpTo raised (an authenticated peer), a large split packet is gathered in one buffer of exactly its size', () => {
  const payload = Buffer.alloc(1_000_000, 7)
  const bytes = encode(publish(payload))
  for (const wholeUpTo of [4096, 16 * 1024 * 1024]) {
    let raw: Buffer | null = null
    const d: Decoder = new Decoder(() => {
      raw = d.rawBytes()
    })
    d.wholeUpTo = wholeUpTo
    // the header and a little of the body first: a doubling buffer would start small
    d.push(bytes.subarray(0, 100))
    const held = d.buffered
    for (let i = 100; i < bytes.length; i += 65_536) d.push(bytes.subarray(i, i + 65_536))
    assert.equal(held, 100)
    const r = raw as Buffer | null
    if (r === null) throw new Error('no packet delivered')
    assert.ok(r.equals(bytes))
    // a buffer of its own either way: what it views is the whole of its memory when allocated
    // whole; grown by doubling, the last buffer is capped at the packet's size as well
    assert.equal(r.byteOffset, 0)
    assert.equal(r.buffer.byteLength, bytes.length)
  }
})

test('packetOwnsItsMemory: false for a packet inside a chunk shared with others, true for one gathered from several', () => {
  const small = encode(publish(Buffer.from('ab')))
  const big = encode(publish(Buffer.alloc(50_000, 1)))
  const seen: boolean[] = []
  const d: Decoder = new Decoder(() => seen.push(d.packetOwnsItsMemory))
  d.wholeUpTo = 1 << 20
  d.push(Buffer.concat([small, small]))
  d.push(big.subarray(0, 1000))
  d.push(big.subarray(1000))
  assert.deepEqual(seen, [false, false, true])
})
