import assert from 'node:assert/strict'
import { test } from 'node:test'
import { brokerStats } from '../../../src/broker/events.js'
import { Message } from '../../../src/broker/message.js'
import { silentLogger } from '../../../src/broker/options.js'
import { Session, type SessionLink } from '../../../src/broker/session.js'
import { Decoder, type Packet, type PublishPacket, type QoS } from '../../../src/protocol/index.js'

/** A connection that keeps what the session writes to it. */
class Link implements SessionLink {
  readonly out: Buffer[] = []
  outputBacklog = 0
  flushed = 0
  send(bytes: Buffer): void {
    this.out.push(bytes)
  }
  pauseReading(): void {}
  resumeReading(): void {}
  dropSlowConsumer(): void {}
  takenOver(): void {}
  unstored(): void {}
  /** What was written, decoded as `version` would. */
  packets(version: 4 | 5): PublishPacket[] {
    const got: Packet[] = []
    const d = new Decoder((p) => got.push(p), { protocolVersion: version })
    for (const b of this.out) d.push(Buffer.from(b))
    return got as PublishPacket[]
  }
}

function session(): Session {
  const limits = {
    maxInflight: 10,
    maxQueuedMessages: 100,
    maxOutputBuffer: 1 << 20,
    slowConsumerTimeout: 30_000,
    stuckConsumerWindow: 500,
    logger: silentLogger,
    now: () => performance.now(),
  }
  return new Session(`s${Math.random()}`, true, limits, brokerStats(), null)
}

function attached(version: 4 | 5): [Session, Link] {
  const s = session()
  const link = new Link()
  s.attach(link, { protocolVersion: version })
  return [s, link]
}

const message = (qos: QoS = 0): Message => {
  const m = new Message('a/b', Buffer.from('x'), qos, false, null, true)
  m.properties = { contentType: 'text/plain', userProperties: [['k', 'v']] }
  return m
}

test('sends the Subscription Identifiers of the matching subscriptions with the message [MQTT-3.3.4-3]', () => {
  const [s, link] = attached(5)
  s.deliver(message(), 0, false, null, [7, 300])
  s.deliver(message(1), 1, false, null, [2])
  const [a, b] = link.packets(5)
  assert.deepEqual(a!.properties, {
    contentType: 'text/plain',
    userProperties: [['k', 'v']],
    subscriptionIdentifiers: [7, 300],
  })
  assert.deepEqual(b!.properties?.subscriptionIdentifiers, [2])
})

test('a 3.1.1 connection gets neither properties nor identifiers', () => {
  const [s, link] = attached(4)
  s.deliver(message(), 0, false, null, [7])
  const [a] = link.packets(4)
  assert.deepEqual([a!.topic, a!.payload.toString(), a!.properties], ['a/b', 'x', undefined])
})

test('MQTT 5 subscribers with nothing of their own share one QoS 0 buffer', () => {
  const m = message()
  const [s1, l1] = attached(5)
  const [s2, l2] = attached(5)
  s1.deliver(m, 0, false, null)
  s2.deliver(m, 0, false, null)
  assert.equal(l1.out[0], l2.out[0])
})

test('does not send a message that has expired [MQTT-3.3.2-5]', () => {
  const [s, link] = attached(5)
  const m = message(1)
  m.expiresAt = Date.now() - 1
  s.deliver(m, 1, false, null)
  assert.equal(link.out.length, 0)
})

test('without a CONNECT given, attach reads the version and properties off the link', () => {
  const s = session()
  const link = Object.assign(new Link(), {
    protocolVersion: 5 as const,
    connectProperties: { receiveMaximum: 1 },
  })
  s.attach(link)
  s.deliver(message(1), 1, false, null)
  s.deliver(message(1), 1, false, null)
  const got = link.packets(5)
  assert.equal(got.length, 1, 'Receive Maximum 1 [MQTT-3.3.4-9]')
  assert.equal(got[0]!.properties?.contentType, 'text/plain')
})
