/**
 * Retained replays encoded straight from the retained parts (RetainedEncoder): the bytes on
 * the wire, the order beside messages sent the usual way, the client's limits and the counters.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type BrokerStats, brokerStats } from '../../../src/broker/events.js'
import { silentLogger } from '../../../src/broker/options.js'
import { RetainedStore } from '../../../src/broker/retained.js'
import { Session, type SessionLink } from '../../../src/broker/session.js'
import {
  type ConnectProperties,
  Decoder,
  type Packet,
  type PublishPacket,
  type PublishProperties,
  type QoS,
} from '../../../src/protocol/index.js'

/** A connection that keeps what the session writes, with the packet count it was given. */
class Link implements SessionLink {
  readonly out: Buffer[] = []
  readonly counts: number[] = []
  outputBacklog = 0
  flushed = 0
  /** Whether sent bytes stay in the backlog (a client that does not read). */
  holds = false
  send(bytes: Buffer, packets = 1): void {
    this.out.push(Buffer.from(bytes))
    this.counts.push(packets)
    if (this.holds) this.outputBacklog += bytes.length
  }
  pauseReading(): void {}
  resumeReading(): void {}
  dropSlowConsumer(): void {}
  takenOver(): void {}
  unstored(): void {}
  get wire(): Buffer {
    return Buffer.concat(this.out)
  }
  packets(version: 4 | 5): PublishPacket[] {
    const got: Packet[] = []
    const d = new Decoder((p) => got.push(p), { protocolVersion: version, maxPacketSize: 1 << 24 })
    d.push(this.wire)
    return got as PublishPacket[]
  }
}

interface Rig {
  s: Session
  link: Link
  stats: BrokerStats
  store: RetainedStore
  replay(filter: string, granted: QoS, subIds?: number[] | null): void
}

function rig(version: 4 | 5, properties?: ConnectProperties, maxOutputBuffer = 1 << 20): Rig {
  const stats = brokerStats()
  const limits = {
    maxInflight: 10,
    maxQueuedMessages: 100,
    maxOutputBuffer,
    slowConsumerTimeout: 30_000,
    stuckConsumerWindow: 500,
    logger: silentLogger,
    now: () => performance.now(),
  }
  const s = new Session(`s${Math.random()}`, true, limits, stats, null)
  const link = new Link()
  const store = new RetainedStore()
  return {
    s,
    link,
    stats,
    store,
    replay(filter, granted, subIds = null) {
      if (s.link === null) s.attach(link, { protocolVersion: version, properties })
      s.replay(filter, store.matching(filter), granted, subIds)
    },
  }
}

/** Lets the replay go on over turns of the event loop (it yields every millisecond) until `n` PUBLISHes are out. */
async function settle(link: Link, version: 4 | 5, n: number): Promise<void> {
  for (let turns = 0; turns < 1000 && link.packets(version).length < n; turns++)
    await new Promise((resolve) => setImmediate(resolve))
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

const retain = (
  r: Rig,
  topic: string,
  payload: Buffer | string,
  qos: QoS = 0,
  properties: PublishProperties | null = null,
  expiresAt = 0,
): void =>
  r.store.restore(
    topic,
    typeof payload === 'string' ? Buffer.from(payload) : payload,
    qos,
    properties,
    expiresAt,
  )

test('3.1.1: a retained QoS 0 PUBLISH is 0x31, remaining length, topic and payload, several in one buffer [MQTT-3.3.1-6]', () => {
  const r = rig(4)
  retain(r, 'a/b', 'hi')
  retain(r, 'a/c', '')
  retain(r, 'a/d', 'x')
  r.replay('a/+', 0)
  assert.deepEqual(r.link.wire, hex('31 07 0003 612f62 6869  31 05 0003 612f63  31 06 0003 612f64 78'))
  assert.deepEqual(r.link.counts, [3], 'handed over as one buffer of three packets')
})

test('MQTT 5: the same PUBLISH with a property length of 0', () => {
  const r = rig(5)
  retain(r, 'a/b', 'hi')
  r.replay('#', 1)
  assert.deepEqual(r.link.wire, hex('31 08 0003 612f62 00 6869'))
  const [p] = r.link.packets(5)
  assert.deepEqual([p!.topic, p!.qos, p!.retain, p!.payload.toString()], ['a/b', 0, true, 'hi'])
})

test('a multi-byte UTF-8 topic is written as UTF-8 and its byte length, binary payloads byte for byte', () => {
  const r = rig(4)
  retain(r, 'ü/€', Buffer.from([0x00, 0x80, 0xff, 0xc3]))
  r.replay('#', 0)
  // 'ü' c3 bc, '/' 2f, '€' e2 82 ac: 6 bytes
  assert.deepEqual(r.link.wire, hex('31 0c 0006 c3bc2fe282ac 0080ffc3'))
})

test('payloads over 4 KiB (kept as a Buffer) and remaining lengths of 2 and 3 bytes', () => {
  for (const version of [4, 5] as const) {
    const r = rig(version)
    const mid = Buffer.alloc(5000, 0xa5)
    const big = Buffer.alloc(20_000, 0x81)
    const huge = Buffer.alloc(70_000, 0xfe) // larger than a slab
    retain(r, 'm', mid)
    retain(r, 'n', big)
    retain(r, 'o', huge)
    r.replay('#', 0)
    const v = version === 5 ? 1 : 0
    const head = (remaining: number[], topic: number) =>
      Buffer.from([0x31, ...remaining, 0, 1, topic, ...(v === 1 ? [0] : [])])
    // 2 + 1 + 5000 (+1) = 5003 / 5004: 0x8b 0x27 / 0x8c 0x27
    // 2 + 1 + 20000 (+1) = 20003 / 20004: 0xa3 0x9c 0x01 / 0xa4 0x9c 0x01
    // 2 + 1 + 70000 (+1) = 70003 / 70004: 0xf3 0xa2 0x04 / 0xf4 0xa2 0x04
    const want = Buffer.concat([
      head([0x8b + v, 0x27], 0x6d),
      mid,
      head([0xa3 + v, 0x9c, 0x01], 0x6e),
      big,
      head([0xf3 + v, 0xa2, 0x04], 0x6f),
      huge,
    ])
    assert.deepEqual(r.link.wire, want, `version ${version}`)
    assert.equal(r.link.packets(version).length, 3)
  }
})

test('raw and usual PUBLISHes interleaved go out in the order of the walk', () => {
  const r = rig(5)
  const later = Date.now() + 60_000
  retain(r, 't/1', 'a')
  retain(r, 't/2', 'b', 0, { contentType: 'text/plain' })
  retain(r, 't/3', 'c')
  retain(r, 't/4', 'd', 0, null, later)
  retain(r, 't/5', 'e')
  retain(r, 't/6', 'f', 1)
  retain(r, 't/7', 'g')
  r.replay('t/#', 1)
  const got = r.link.packets(5)
  assert.deepEqual(
    got.map((p) => [p.topic, p.qos, p.retain, p.payload.toString()]),
    [
      ['t/1', 0, true, 'a'],
      ['t/2', 0, true, 'b'],
      ['t/3', 0, true, 'c'],
      ['t/4', 0, true, 'd'],
      ['t/5', 0, true, 'e'],
      ['t/6', 1, true, 'f'],
      ['t/7', 0, true, 'g'],
    ],
  )
  assert.equal(got[1]!.properties?.contentType, 'text/plain')
  assert.ok((got[3]!.properties?.messageExpiryInterval ?? 0) > 0, '[MQTT-3.3.2-6] the expiry left is sent')
  assert.equal(r.link.out.length, 7, 'each raw run handed over before a message sent the usual way')
})

test('subscription identifiers go with each message, as before [MQTT-3.3.4-3]', () => {
  const r = rig(5)
  retain(r, 'a', 'x')
  retain(r, 'b', 'y')
  r.replay('#', 0, [9])
  assert.deepEqual(
    r.link.packets(5).map((p) => p.properties?.subscriptionIdentifiers),
    [[9], [9]],
  )
})

test('a client with a small Maximum Packet Size does not get the larger ones, counted as dropped [MQTT-3.1.2-25]', () => {
  const r = rig(5, { maximumPacketSize: 12 })
  retain(r, 'a', 'small') // 1 + 1 + 2 + 1 + 1 + 5 = 11 bytes
  retain(r, 'b', 'larger!') // 13 bytes
  retain(r, 'c', 'twelve') // 12 bytes
  r.replay('#', 0)
  assert.deepEqual(
    r.link.packets(5).map((p) => p.topic),
    ['a', 'c'],
  )
  assert.equal(r.stats.drops.tooLarge, 1)
})

test('a client that allows Topic Aliases gets them on retained messages, as before', () => {
  const r = rig(5, { topicAliasMaximum: 5 })
  retain(r, 'a/b', 'x')
  r.replay('#', 0)
  r.replay('#', 0) // a second replay: the alias is known, the topic left out [MQTT-3.3.2-12]
  const [first, second] = r.link.packets(5)
  assert.deepEqual([first!.topic, first!.properties?.topicAlias], ['a/b', 1])
  assert.deepEqual([second!.topic, second!.properties?.topicAlias], ['', 1])
})

test('an authorizeRead hook still decides for each retained message', () => {
  const r = rig(4)
  r.s.mayRead = (topic) => !topic.startsWith('secret/')
  retain(r, 'open/1', 'a')
  retain(r, 'secret/1', 'b')
  retain(r, 'open/2', 'c')
  r.replay('#', 0)
  assert.deepEqual(
    r.link.packets(4).map((p) => p.topic),
    ['open/1', 'open/2'],
  )
  assert.equal(r.stats.denied.read, 1)
})

test('counts each raw PUBLISH once by version and QoS, with its bytes and payload bytes', async () => {
  for (const version of [4, 5] as const) {
    const r = rig(version)
    for (let i = 0; i < 1000; i++) retain(r, `c/${i}`, `payload ${i}`)
    r.replay('#', 0)
    await settle(r.link, version, 1000)
    const wire = r.link.wire
    const i = (version - 3) * 3
    assert.equal(r.stats.publishOut[i], 1000)
    assert.equal(
      r.stats.publishOut.reduce((a, b) => a + b, 0),
      1000,
    )
    assert.equal(r.stats.publishOutBytes[i], wire.length)
    const payload = r.link.packets(version).reduce((n, p) => n + p.payload.length, 0)
    assert.equal(r.stats.publishPayloadOut, payload)
    assert.equal(
      r.link.counts.reduce((a, b) => a + b, 0),
      1000,
      'the link is told how many packets',
    )
  }
})

test('stops at the output soft limit counting what is encoded and not handed over yet, and goes on when it drains', async () => {
  // soft limit: 4096 / 4 = 1024 bytes; each PUBLISH is 2 + 2 + 4 + 100 = 108 bytes
  const r = rig(4, undefined, 4096)
  r.link.holds = true
  for (let i = 0; i < 100; i++) retain(r, `k/${String(i).padStart(2, '0')}`, Buffer.alloc(100, i))
  r.replay('#', 0)
  const first = r.link.packets(4).length
  assert.ok(first >= 9 && first <= 11, `${first} PUBLISHes before the soft limit`)
  assert.ok(r.link.outputBacklog <= 1024 + 108)
  r.link.outputBacklog = 0
  r.s.drained()
  const second = r.link.packets(4).length
  assert.ok(second > first && second <= 2 * first + 1, `${second} after one drain`)
  r.link.holds = false
  r.link.outputBacklog = 0
  r.s.drained()
  await settle(r.link, 4, 100)
  assert.deepEqual(
    r.link.packets(4).map((p) => p.payload[0]),
    Array.from({ length: 100 }, (_, i) => i),
  )
})
