import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import { Core } from '../../../src/broker/core.js'
import { type BrokerEvents, brokerStats } from '../../../src/broker/events.js'
import { onSubscribe, onUnsubscribe } from '../../../src/broker/handlers/subscribe.js'
import { Hooks } from '../../../src/broker/hooks.js'
import { type BrokerOptions, resolveOptions } from '../../../src/broker/options.js'
import type { Peer } from '../../../src/broker/peer.js'
import { Router } from '../../../src/broker/router.js'
import { Sessions } from '../../../src/broker/sessions.js'
import { Wills } from '../../../src/broker/wills.js'
import {
  Decoder,
  type Packet,
  PacketType,
  type ProtocolVersion,
  ReasonCode,
  type SubackPacket,
  type Subscription,
  type UnsubackPacket,
} from '../../../src/protocol/index.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'

/**
 * The SUBSCRIBE and UNSUBSCRIBE handlers with a fake connection: the SUBACK and UNSUBACK
 * bytes each protocol version gets, decoded back, and the subscriptions made.
 */

interface Fake {
  core: Core
  peer: Peer
  out: Packet[]
  violations: string[]
}

function setup(version: ProtocolVersion, options: BrokerOptions = {}): Fake {
  const o = resolveOptions(options)
  const store = new MemoryStore()
  const stats = brokerStats()
  const router = new Router(store)
  const sessions = new Sessions(o, stats, store, router)
  const core = new Core(
    o,
    stats,
    sessions,
    router,
    new Hooks(o.hooks, o.logger),
    new Wills(() => {}),
    new EventEmitter<BrokerEvents>(),
  )
  const out: Packet[] = []
  const violations: string[] = []
  const decoder = new Decoder((p) => out.push(p), { protocolVersion: version })
  const session = sessions.create('c', true)
  const peer = {
    id: 'c',
    username: undefined,
    remoteAddress: undefined,
    protocolVersion: version,
    state: 'open',
    session,
    send: (bytes: Buffer) => decoder.push(bytes),
    violation: (message: string, rule: string) => violations.push(`${rule}: ${message}`),
  } as unknown as Peer
  return { core, peer, out, violations }
}

function subscribe(f: Fake, subscriptions: Subscription[], subscriptionIdentifier?: number): SubackPacket {
  const r = onSubscribe(f.core, f.peer, {
    type: PacketType.SUBSCRIBE,
    packetId: 7,
    subscriptions,
    ...(subscriptionIdentifier === undefined ? {} : { properties: { subscriptionIdentifier } }),
  })
  assert.equal(r, undefined)
  const p = f.out.shift()
  assert.equal(p?.type, PacketType.SUBACK)
  return p as SubackPacket
}

test('v5 SUBACK: the granted QoS, 0x8F for an invalid filter or shared subscription, the hook’s reason code [MQTT-3.9.3-1] [MQTT-4.8.2-2]', () => {
  const f = setup(5, {
    authorizeSubscribe: (_c, filter, qos) =>
      filter === 'secret' ? 0x87 : filter === 'many' ? 0x97 : filter === 'no' ? false : qos > 1 ? 1 : true,
  })
  const ack = subscribe(f, [
    { topic: 'ok', qos: 2 },
    { topic: 'a/#/b', qos: 1 },
    { topic: '$share/g', qos: 1 },
    { topic: 'secret', qos: 0 },
    { topic: 'many', qos: 0 },
    { topic: 'no', qos: 0 },
    { topic: '$share/g/jobs', qos: 0 },
  ])
  assert.equal(ack.packetId, 7)
  assert.deepEqual(ack.granted, [
    1,
    ReasonCode.TOPIC_FILTER_INVALID,
    ReasonCode.TOPIC_FILTER_INVALID,
    ReasonCode.NOT_AUTHORIZED,
    ReasonCode.QUOTA_EXCEEDED,
    ReasonCode.UNSPECIFIED_ERROR,
    0,
  ])
  assert.deepEqual([...f.peer.session!.subscriptions.keys()], ['ok', '$share/g/jobs'])
})

test('3.1.1 SUBACK: every failure is 0x80, whatever the hook answered [MQTT-3.9.3-2]', () => {
  const f = setup(4, { authorizeSubscribe: (_c, filter) => (filter === 'secret' ? 0x87 : true) })
  const ack = subscribe(f, [
    { topic: 'ok', qos: 1 },
    { topic: '$share//x', qos: 1 },
    { topic: 'secret', qos: 1 },
  ])
  assert.deepEqual(ack.granted, [1, 0x80, 0x80])
})

test('a reason code SUBACK cannot carry is sent as 0x80', () => {
  const f = setup(5, { authorizeSubscribe: () => 0x86 })
  assert.deepEqual(subscribe(f, [{ topic: 't', qos: 1 }]).granted, [0x80])
})

test('keeps the options and the Subscription Identifier of each subscription of the packet [MQTT-3.8.4-3]', () => {
  const f = setup(5)
  subscribe(
    f,
    [
      { topic: 'a', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
      { topic: 'b', qos: 0 },
    ],
    99,
  )
  const subs = f.peer.session!.subscriptions
  assert.deepEqual(subs.get('a'), {
    qos: 1,
    noLocal: true,
    retainAsPublished: true,
    retainHandling: 2,
    subscriptionId: 99,
  })
  assert.deepEqual(subs.get('b'), {
    qos: 0,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    subscriptionId: 99,
  })
  subscribe(f, [{ topic: 'a', qos: 2 }])
  assert.equal(subs.get('a'), 2, 'replaced, options and identifier included')
})

test('No Local on a shared subscription is a protocol error: no SUBACK, the connection closes [MQTT-3.8.3-4]', () => {
  const f = setup(5)
  onSubscribe(f.core, f.peer, {
    type: PacketType.SUBSCRIBE,
    packetId: 1,
    subscriptions: [{ topic: '$share/g/t', qos: 1, noLocal: true }],
  })
  assert.deepEqual(f.out, [])
  assert.equal(f.violations.length, 1)
  assert.match(f.violations[0]!, /^MQTT-3\.8\.3-4/)
})

test('v5 UNSUBACK: 0x00 per removed subscription, 0x11 where none existed, 0x8F for a bad filter [MQTT-3.11.3-1]', () => {
  const f = setup(5)
  subscribe(f, [
    { topic: 'a', qos: 0 },
    { topic: '$share/g/a', qos: 0 },
  ])
  onUnsubscribe(f.core, f.peer, {
    type: PacketType.UNSUBSCRIBE,
    packetId: 3,
    topics: ['$share/g/a', 'a', 'a', '$share/h/a', 'x/#/y'],
  })
  const ack = f.out.shift() as UnsubackPacket
  assert.equal(ack.type, PacketType.UNSUBACK)
  assert.equal(ack.packetId, 3)
  assert.deepEqual(ack.reasonCodes, [0x00, 0x00, 0x11, 0x11, 0x8f])
  assert.equal(f.core.router.subscriptionCount, 0)
})

test('3.1.1 UNSUBACK has no reason codes', () => {
  const f = setup(4)
  onUnsubscribe(f.core, f.peer, { type: PacketType.UNSUBSCRIBE, packetId: 4, topics: ['none'] })
  const ack = f.out.shift() as UnsubackPacket
  assert.deepEqual([ack.type, ack.packetId, ack.reasonCodes], [PacketType.UNSUBACK, 4, undefined])
})
