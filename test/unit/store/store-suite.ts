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
      const snap = await s.load()
      assert.deepEqual(
        { sessions: snap.sessions, retained: [...snap.retained] },
        { sessions: [], retained: [] },
      )
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
        [...retained].map((r) => [r.topic, r.payload.toString(), r.qos]),
        [['r/1', 'b', 0]],
      )
      s.close()
    })

    test('keeps MQTT 5 message properties, expiry and subscription identifiers of deliveries', async () => {
      let s = await f.open()
      s.saveSession('c1', 0)
      const properties = {
        payloadFormatIndicator: 1 as const,
        contentType: 'text/plain',
        responseTopic: 'reply/to',
        correlationData: Buffer.from([0, 1, 255]),
        userProperties: [
          ['a', '1'],
          ['b', '2'],
          ['a', '3'],
        ] as [string, string][],
      }
      s.addDelivery('c1', d(1, { properties, expiresAt: 1_900_000_000_000, subIds: [3, 70_000] }))
      s.addDelivery('c1', d(2)) // a 3.1.1 message: none of them
      s.commit()
      s = await f.reopen(s)
      const [a, b] = (await s.load()).sessions[0]!.deliveries
      assert.deepEqual(a!.properties, properties)
      assert.equal(a!.expiresAt, 1_900_000_000_000)
      assert.deepEqual(a!.subIds, [3, 70_000])
      assert.equal(b!.properties ?? null, null)
      assert.equal(b!.expiresAt ?? 0, 0)
      assert.equal(b!.subIds ?? null, null)
      s.close()
    })

    test('keeps the properties and expiry of retained messages [MQTT-3.3.2-5]', async () => {
      let s = await f.open()
      const properties = {
        contentType: 'application/json',
        userProperties: [['k', 'v']] as [string, string][],
      }
      s.setRetained({
        topic: 'r/5',
        payload: Buffer.from('x'),
        qos: 1,
        retain: true,
        properties,
        expiresAt: 42,
      })
      s.commit()
      s = await f.reopen(s)
      const [r] = [...(await s.load()).retained]
      assert.deepEqual([r!.properties, r!.expiresAt], [properties, 42])
      s.close()
    })

    test('keeps the session expiry interval; a session saved without one never expires', async () => {
      let s = await f.open()
      s.saveSession('v5', 0, 300)
      s.saveSession('v5', 0) // without an interval: the stored one stays
      s.saveSession('v3', 0)
      s.saveSession('v5b', 0, 60)
      s.saveSession('v5b', 99, 0) // the interval changes on DISCONNECT
      s.commit()
      s = await f.reopen(s)
      const got = (await s.load()).sessions.map((x) => [x.clientId, x.disconnectedAt, x.expiryInterval])
      assert.deepEqual(
        got.sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
        [
          ['v3', 0, 0xffff_ffff],
          ['v5', 0, 300],
          ['v5b', 99, 0],
        ],
      )
      s.close()
    })
  })
}
