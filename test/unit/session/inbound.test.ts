import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { InboundFlow, type InboundPersistence } from '../../../src/session/inbound.js'

function recorder(): InboundPersistence & { added_: number[]; released_: number[] } {
  const r = {
    added_: [] as number[],
    released_: [] as number[],
    added(id: number) {
      r.added_.push(id)
    },
    released(id: number) {
      r.released_.push(id)
    },
  }
  return r
}

describe('session InboundFlow', () => {
  test('QoS 0 is passed on and not answered', () => {
    const f = new InboundFlow()
    assert.equal(f.receive(0, 0), true)
    assert.equal(f.answer(0, 0), null)
    assert.equal(f.size, 0)
  })

  test('[MQTT-4.3.2-2] QoS 1 is passed on and answered with PUBACK 0x40 0x02 and the packet id', () => {
    const f = new InboundFlow()
    assert.equal(f.receive(1, 0x1234), true)
    assert.deepEqual([...f.answer(1, 0x1234)!], [0x40, 0x02, 0x12, 0x34])
    // at least once: a re-sent QoS 1 PUBLISH is passed on again and acknowledged again
    assert.equal(f.receive(1, 0x1234), true)
    assert.deepEqual([...f.answer(1, 0x1234)!], [0x40, 0x02, 0x12, 0x34])
    assert.equal(f.size, 0)
  })

  test('[MQTT-4.3.3-2] QoS 2 is passed on once; every re-send before PUBREL gets PUBREC 0x50 0x02 id', () => {
    const f = new InboundFlow()
    const passed: boolean[] = []
    for (let i = 0; i < 3; i++) {
      passed.push(f.receive(2, 7))
      assert.deepEqual([...f.answer(2, 7)!], [0x50, 0x02, 0x00, 0x07])
    }
    assert.deepEqual(passed, [true, false, false])
    assert.equal(f.size, 1)
  })

  test('[MQTT-4.3.3-2] PUBREL is answered with PUBCOMP 0x70 0x02 id; after it the id is a new message', () => {
    const f = new InboundFlow()
    assert.equal(f.receive(2, 300), true)
    assert.deepEqual([...f.release(300)], [0x70, 0x02, 0x01, 0x2c])
    assert.equal(f.size, 0)
    assert.equal(f.receive(2, 300), true)
  })

  test('[MQTT-4.3.3-2] a PUBREL for an id not known still gets its PUBCOMP', () => {
    const f = new InboundFlow()
    assert.deepEqual([...f.release(65_535)], [0x70, 0x02, 0xff, 0xff])
    assert.deepEqual([...f.release(65_535)], [0x70, 0x02, 0xff, 0xff])
    assert.equal(f.size, 0)
  })

  test('[MQTT-4.3.3-2] QoS 2 flows with different ids are independent', () => {
    const f = new InboundFlow()
    assert.equal(f.receive(2, 1), true)
    assert.equal(f.receive(2, 2), true)
    f.release(1)
    assert.equal(f.receive(2, 1), true)
    assert.equal(f.receive(2, 2), false)
  })

  test('persistence: added once per new QoS 2 id, released once per known id', () => {
    const p = recorder()
    const f = new InboundFlow(p)
    f.receive(0, 0)
    f.receive(1, 5)
    f.receive(2, 5)
    f.receive(2, 5) // re-send
    f.receive(2, 6)
    assert.deepEqual(p.added_, [5, 6])
    f.release(5)
    f.release(5) // PUBREL re-sent after the PUBCOMP was lost
    f.release(99) // never known
    assert.deepEqual(p.released_, [5])
    assert.deepEqual(p.added_, [5, 6])
  })

  test('[MQTT-4.3.3-2] an id restored from a store is not passed on again; restoring does not persist it again', () => {
    const p = recorder()
    const f = new InboundFlow(p)
    f.restore(42)
    assert.equal(f.size, 1)
    assert.equal(f.receive(2, 42), false)
    assert.deepEqual(p.added_, [])
    f.release(42)
    assert.deepEqual(p.released_, [42])
  })

  test('clear forgets every id: a session that starts anew passes the same id on', () => {
    const f = new InboundFlow()
    f.receive(2, 9)
    f.clear()
    assert.equal(f.size, 0)
    assert.equal(f.receive(2, 9), true)
  })
})
