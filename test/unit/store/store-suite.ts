import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Store, StoredDelivery } from '../../../src/store/store.js'

/**
 * One suite for every Store engine. `open` gives a fresh, empty store;
 * `reopen` gives the same data read back by a new instance (for durable
 * engines after close; for memory, the same instance).
 */
export interface StoreFixture {
  name: string
  open(): Promise<Store>
  reopen(old: Store): Promise<Store>
}

const d = (seq: number, extra: Partial<StoredDelivery> = {}): StoredDelivery => ({
  seq,
  topic: `t/${seq}`,
  payload: Buffer.from(`m${seq}`),
  qos: 1,
  retain: false,
  packetId: 0,
  released: false,
  ...extra,
})

export function storeSuite(f: StoreFixture): void {
  describe(`${f.name} store`, () => {
    test('starts empty', async () => {
      const s = await f.open()
      assert.deepEqual(await s.load(), { sessions: [], retained: [] })
      s.close()
    })

    test('keeps a session with its subscriptions across a reopen', async () => {
      let s = await f.open()
      s.saveSession('c1', 0)
      s.saveSubscription('c1', 'a/+', 1)
      s.saveSubscription('c1', 'b/#', 2)
      s.saveSubscription('c1', 'a/+', 0) // replaces the QoS
      s.saveSubscription('c1', 'gone', 1)
      s.deleteSubscription('c1', 'gone')
      s.commit()
      s = await f.reopen(s)
      const { sessions } = await s.load()
      assert.equal(sessions.length, 1)
      assert.equal(sessions[0]!.clientId, 'c1')
      assert.deepEqual(
        sessions[0]!.subscriptions.sort((a, b) => a[0].localeCompare(b[0])),
        [
          ['a/+', 0],
          ['b/#', 2],
        ],
      )
      s.close()
    })

    test('returns deliveries in seq order with their flow state', async () => {
      let s = await f.open()
      s.saveSession('c1', 0)
      s.addDelivery('c1', d(3))
      s.addDelivery('c1', d(1, { qos: 2, packetId: 7 }))
      s.addDelivery('c1', d(2, { qos: 2 }))
      s.updateDelivery('c1', 1, 7, true) // PUBREC came: PUBREL sent
      s.updateDelivery('c1', 2, 9, false) // sent with id 9
      s.addDelivery('c1', d(4))
      s.deleteDelivery('c1', 4) // acknowledged
      s.commit()
      s = await f.reopen(s)
      const got = (await s.load()).sessions[0]!.deliveries
      assert.deepEqual(
        got.map((x) => [x.seq, x.qos, x.packetId, x.released, x.topic, x.payload.toString()]),
        [
          [1, 2, 7, true, 't/1', 'm1'],
          [2, 2, 9, false, 't/2', 'm2'],
          [3, 1, 0, false, 't/3', 'm3'],
        ],
      )
      s.close()
    })

    test('keeps QoS 2 ids awaiting PUBREL until released', async () => {
      let s = await f.open()
      s.saveSession('c1', 0)
      s.addInboundQos2('c1', 5)
      s.addInboundQos2('c1', 6)
      s.deleteInboundQos2('c1', 5)
      s.commit()
      s = await f.reopen(s)
      assert.deepEqual((await s.load()).sessions[0]!.inboundQos2, [6])
      s.close()
    })

    test('deleting a session deletes its subscriptions, deliveries and QoS 2 ids', async () => {
      let s = await f.open()
      s.saveSession('c1', 0)
      s.saveSubscription('c1', 'x', 1)
      s.addDelivery('c1', d(1))
      s.addInboundQos2('c1', 1)
      s.saveSession('c2', 1234)
      s.deleteSession('c1')
      s.commit()
      s = await f.reopen(s)
      const { sessions } = await s.load()
      assert.deepEqual(
        sessions.map((x) => [x.clientId, x.disconnectedAt, x.subscriptions.length, x.deliveries.length]),
        [['c2', 1234, 0, 0]],
      )
      s.close()
    })

    test('stores, replaces and deletes retained messages [MQTT-3.3.1-5] [MQTT-3.3.1-10]', async () => {
      let s = await f.open()
      s.setRetained({ topic: 'r/1', payload: Buffer.from('a'), qos: 1, retain: true })
      s.setRetained({ topic: 'r/1', payload: Buffer.from('b'), qos: 0, retain: true })
      s.setRetained({ topic: 'r/2', payload: Buffer.from('c'), qos: 2, retain: true })
      s.setRetained({ topic: 'r/2', payload: Buffer.alloc(0), qos: 0, retain: true })
      s.commit()
      s = await f.reopen(s)
      const { retained } = await s.load()
      assert.deepEqual(
        retained.map((r) => [r.topic, r.payload.toString(), r.qos]),
        [['r/1', 'b', 0]],
      )
      s.close()
    })
  })
}
