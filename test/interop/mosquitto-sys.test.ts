/**
 * $SYS against the real Mosquitto 2.0: the same traffic through both brokers (sys_interval 1 /
 * sysInterval 1), then every topic Mosquitto published must be published by Petrel too, and the
 * counters whose value the traffic fixes must agree, so dashboards made for Mosquitto keep working.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../src/broker/broker.js'
import { PacketType } from '../../src/protocol/index.js'
import { type MosquittoBroker, mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js'
import { MOSQUITTO_SYS_TOPICS } from '../helpers/mosquitto-sys.js'
import { delay, RawClient } from '../helpers/raw-client.js'

const T = { timeout: 20_000 }

/** The last value of each $SYS topic received by a client subscribed to $SYS/# while known traffic ran. */
async function sysAfterTraffic(port: number): Promise<Map<string, string>> {
  const clients: RawClient[] = []
  const open = async (clientId: string): Promise<RawClient> => {
    const c = await RawClient.open(port)
    clients.push(c)
    const ack = await c.connect({ clientId })
    assert.equal(ack.returnCode, 0)
    return c
  }
  try {
    const watch = await open('sys-watch')
    await watch.subscribe('$SYS/#', 0)
    const a = await open('sys-a')
    await a.subscribe('m/#', 1)
    const b = await open('sys-b')
    b.publish('m/a', 'hello')
    b.publish('m/b', 'world!', { qos: 1 })
    await b.next(PacketType.PUBACK)
    b.publish('none/x', 'zz', { qos: 1 }) // nobody subscribed
    await b.next(PacketType.PUBACK)
    await a.next(PacketType.PUBLISH)
    const m = await a.next(PacketType.PUBLISH)
    a.send({ type: PacketType.PUBACK, packetId: m.packetId })
    // two intervals: the counters after the traffic are published
    await delay(2500)
    const values = new Map<string, string>()
    for (const p of watch.received) {
      if (p.type === PacketType.PUBLISH) values.set(p.topic, p.payload.toString())
    }
    return values
  } finally {
    for (const c of clients) c.destroy()
  }
}

describe('$SYS compared with Mosquitto 2.0', { skip: mosquittoSkip() }, () => {
  let mosquitto: MosquittoBroker
  let petrel: Broker
  let petrelPort = 0
  before(async () => {
    mosquitto = await startMosquitto({ config: ['sys_interval 1'] })
    petrel = new Broker({ sysInterval: 1 })
    petrelPort = (await petrel.listen({ port: 0, host: '127.0.0.1' })).port
  })
  after(async () => {
    await petrel?.close()
    await mosquitto?.stop()
  })

  test(
    'Petrel publishes every $SYS topic Mosquitto publishes, and the counters the traffic fixes agree',
    T,
    async () => {
      const [theirs, ours] = await Promise.all([sysAfterTraffic(mosquitto.port), sysAfterTraffic(petrelPort)])
      assert.ok(theirs.size >= 40, `Mosquitto published ${theirs.size} $SYS topics:\n${mosquitto.log()}`)
      const missing = [...theirs.keys()].filter((t) => !ours.has(t))
      assert.deepEqual(missing, [], 'published by Mosquitto, not by Petrel')
      // and the list kept in the tests is still the one Mosquitto publishes
      const unknown = [...theirs.keys()].filter((t) => !MOSQUITTO_SYS_TOPICS.includes(t))
      assert.deepEqual(unknown, [], 'test/helpers/mosquitto-sys.ts is missing these')
      // three clients connected, two subscriptions, three PUBLISHes of 13 payload bytes received, nothing dropped
      for (const topic of [
        '$SYS/broker/clients/connected',
        '$SYS/broker/clients/total',
        '$SYS/broker/clients/maximum',
        '$SYS/broker/clients/disconnected',
        '$SYS/broker/clients/expired',
        '$SYS/broker/subscriptions/count',
        '$SYS/broker/shared_subscriptions/count',
        '$SYS/broker/publish/messages/received',
        '$SYS/broker/publish/bytes/received',
        '$SYS/broker/publish/messages/dropped',
        '$SYS/broker/messages/received',
        '$SYS/broker/bytes/received',
      ]) {
        assert.equal(ours.get(topic), theirs.get(topic) ?? '0', topic)
      }
      assert.equal(ours.get('$SYS/broker/publish/bytes/received'), '13')
      for (const [topic, value] of ours) {
        if (topic.startsWith('$SYS/broker/load/')) assert.match(value, /^\d+\.\d\d$/, topic)
        if (topic.startsWith('$SYS/broker/heap/')) assert.match(value, /^\d+$/, topic)
      }
      assert.ok(Number(ours.get('$SYS/broker/load/connections/1min')) > 0)
    },
  )
})
