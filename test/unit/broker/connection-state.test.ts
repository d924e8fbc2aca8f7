import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConnectionMachine } from '../../../src/broker/connection-state.js'
import { type Packet, PacketType } from '../../../src/protocol/index.js'

/** The connection's protocol state machine, without sockets: events in, verdicts out. */

const publish = (topic: string): Packet => ({
  type: PacketType.PUBLISH,
  topic,
  payload: Buffer.from('x'),
  qos: 0,
  retain: false,
  dup: false,
  packetId: 0,
})

function connected(): ConnectionMachine {
  const m = new ConnectionMachine()
  m.connecting()
  m.accepted()
  return m
}

describe('connection state machine', () => {
  test('handles the first packet at once; it is the handler that requires a CONNECT [MQTT-3.1.0-1]', () => {
    const m = new ConnectionMachine()
    assert.equal(m.state, 'awaiting-connect')
    assert.equal(m.admits(PacketType.CONNECT), true)
  })

  test('holds every packet behind a CONNECT whose answer is pending, and replays them once accepted', () => {
    const m = new ConnectionMachine()
    m.connecting()
    assert.equal(m.state, 'authenticating')
    for (const t of [PacketType.PUBLISH, PacketType.PUBACK, PacketType.SUBSCRIBE])
      assert.equal(m.admits(t), false)
    m.held.push(publish('a'), null)
    assert.equal(m.accepted(), true)
    assert.equal(m.state, 'resuming')
    assert.equal(m.admits(PacketType.PUBLISH), false, 'new packets queue behind the held ones')
    assert.equal(m.admits(PacketType.PUBACK), true, 'acknowledgements of our PUBLISHes still flow')
    assert.equal(m.beginReplay(), true)
    assert.equal(m.state, 'open')
    assert.equal(m.replaying, true)
    m.held.shift()
    assert.equal(m.replaying, false)
  })

  test('while the CONNECT is answered, an MQTT 5 AUTH carries the exchange on: it is not held [MQTT-3.1.2-30]', () => {
    const m = new ConnectionMachine()
    m.connecting()
    assert.equal(m.admits(PacketType.AUTH), true)
    assert.equal(m.admits(PacketType.DISCONNECT), false)
  })

  test('counts the QoS 1/2 PUBLISHes it holds: they are not acknowledged yet (MQTT 5 Receive Maximum)', () => {
    const m = connected()
    m.waitFor()
    m.held.push({ ...publish('a'), qos: 1, packetId: 1 } as Packet, null)
    m.held.push(publish('b'), null)
    m.held.push({ ...publish('c'), qos: 2, packetId: 2 } as Packet, null)
    assert.equal(m.held.unacknowledged, 2)
    m.held.shift()
    assert.equal(m.held.unacknowledged, 1)
    m.close()
    assert.equal(m.held.unacknowledged, 0)
  })

  test('a pending hook holds later packets but lets acknowledgements of our PUBLISHes through', () => {
    const m = connected()
    m.waitFor()
    assert.equal(m.state, 'waiting')
    assert.equal(m.admits(PacketType.PUBLISH), false)
    assert.equal(m.admits(PacketType.SUBSCRIBE), false)
    assert.equal(m.admits(PacketType.PINGREQ), false)
    for (const t of [PacketType.PUBACK, PacketType.PUBREC, PacketType.PUBCOMP])
      assert.equal(m.admits(t), true)
    assert.equal(m.admits(PacketType.PUBREL), false, 'a PUBREL is answered, so it keeps its place')
    assert.equal(m.settled(), true)
    assert.equal(m.state, 'open')
  })

  test('slowed by two subscribers, it goes on only when both let go', () => {
    const m = connected()
    m.throttle()
    m.throttle()
    assert.equal(m.state, 'slowed')
    assert.equal(m.admits(PacketType.PUBLISH), false)
    assert.equal(m.admits(PacketType.PUBACK), true)
    m.held.push(publish('a'), null)
    assert.equal(m.unthrottle(), false)
    assert.equal(m.state, 'slowed')
    assert.equal(m.unthrottle(), true)
    assert.equal(m.state, 'resuming')
    assert.equal(m.unthrottle(), false, 'an extra resume changes nothing')
  })

  test('a hook settling while the publisher is slowed leaves it slowed', () => {
    const m = connected()
    m.waitFor()
    m.throttle()
    assert.equal(m.state, 'waiting')
    assert.equal(m.settled(), false)
    assert.equal(m.state, 'slowed')
    assert.equal(m.unthrottle(), true)
    assert.equal(m.state, 'open')
  })

  test('a throttle during a replay stops it: the rest stays held, in order', () => {
    const m = connected()
    m.throttle()
    m.held.push(publish('a'), null)
    m.held.push(publish('b'), null)
    m.unthrottle()
    assert.equal(m.beginReplay(), true)
    const first = m.held.shift()!
    assert.equal(first.packet.type === PacketType.PUBLISH && first.packet.topic, 'a')
    m.throttle() // handling 'a' slowed us again
    assert.equal(m.replaying, false)
    assert.equal(m.held.size, 1)
  })

  test('a peer that leaves with packets held has them handled first, without slowing, then closes', () => {
    const m = connected()
    m.throttle()
    m.held.push(publish('a'), null)
    assert.equal(m.peerEnded('gone'), 'replay')
    assert.equal(m.state, 'ending')
    assert.equal(m.endReason, 'gone')
    m.throttle()
    assert.equal(m.state, 'ending', 'nothing is gained by slowing a peer that left')
    assert.equal(m.beginReplay(), true)
    assert.equal(m.replaying, true)
  })

  test('a peer that leaves while a hook is pending waits for it, then replays', () => {
    const m = connected()
    m.waitFor()
    assert.equal(m.peerEnded('gone'), 'wait')
    assert.equal(m.settled(), true)
    assert.equal(m.beginReplay(), true)
    assert.equal(m.replaying, false, 'nothing held: the connection closes')
  })

  test('a peer that leaves with nothing held closes at once, in every other state', () => {
    for (const prepare of [
      (m: ConnectionMachine) => m,
      (m: ConnectionMachine) => m.connecting(),
      (m: ConnectionMachine) => {
        m.connecting()
        m.accepted()
      },
      (m: ConnectionMachine) => {
        m.connecting()
        m.accepted()
        m.throttle()
      },
    ]) {
      const m = new ConnectionMachine()
      prepare(m)
      assert.equal(m.peerEnded('gone'), 'close')
    }
  })

  test('closed forgets what was held and admits nothing', () => {
    const m = connected()
    m.waitFor()
    m.held.push(publish('a'), null)
    m.close()
    assert.equal(m.state, 'closed')
    assert.equal(m.held.size, 0)
    assert.equal(m.admits(PacketType.PUBLISH), false)
    assert.equal(m.settled(), false)
    assert.equal(m.beginReplay(), false)
  })

  test('holding: the client is not read because of us (its silence is not its fault)', () => {
    const m = new ConnectionMachine()
    assert.equal(m.holding, false)
    m.connecting()
    assert.equal(m.holding, true)
    m.accepted()
    assert.equal(m.holding, false)
    m.throttle()
    assert.equal(m.holding, true)
  })
})
