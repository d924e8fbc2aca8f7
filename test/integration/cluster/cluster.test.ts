/**
 * Three Petrel nodes over a three-server NATS cluster with JetStream (replicas 3), on loopback:
 * publishers and subscribers on different nodes, for every QoS and both protocol versions;
 * retained messages, wills, shared subscriptions and takeovers across nodes.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { startCluster, type TestCluster } from '../../helpers/cluster.js'
import type { QoS } from '../../helpers/mqttjs.js'
import { natsSkip } from '../../helpers/nats.js'

const skip = natsSkip()

describe('a cluster of three nodes', { skip }, () => {
  let c: TestCluster
  const client: TestCluster['client'] = (node, options) => c.client(node, options)

  before(async () => {
    c = await startCluster({ nodes: 3, servers: 3, prefix: 'node' })
  })

  after(() => c?.close())

  /** Waits until the nodes have heard of the subscriptions just made (NATS interest crosses servers). */
  async function settle(): Promise<void> {
    await new Promise((r) => setTimeout(r, 150))
  }

  for (const version of [4, 5] as const) {
    for (const qos of [0, 1, 2] as QoS[]) {
      test(`MQTT ${version === 4 ? '3.1.1' : '5'} QoS ${qos}: a message published on one node reaches subscribers on the two others, once each [MQTT-4.3.${qos + 1}-1]`, async () => {
        const topic = `x/${version}/${qos}/${Math.random().toString(36).slice(2)}`
        const a = await client(1, { protocolVersion: version })
        const b = await client(2, { protocolVersion: version })
        await a.client.subscribeAsync(topic, { qos })
        await b.client.subscribeAsync(`x/${version}/+/#`, { qos })
        await settle()
        const pub = await client(0, { protocolVersion: version })
        for (let i = 0; i < 20; i++) await pub.client.publishAsync(topic, `m${i}`, { qos })
        const got = await a.inbox.take(20, 5000)
        const got2 = await b.inbox.take(20, 5000)
        assert.deepEqual(
          got.map((m) => m.payload.toString()),
          Array.from({ length: 20 }, (_, i) => `m${i}`),
          'in order [MQTT-4.6.0-5]',
        )
        assert.deepEqual(
          got2.map((m) => m.payload.toString()),
          Array.from({ length: 20 }, (_, i) => `m${i}`),
        )
        assert.ok(got.every((m) => m.qos === qos && m.topic === topic))
        // nothing more: a node with two matching subscriptions delivers once per subscriber
        await assert.rejects(a.inbox.take(1, 300))
        await assert.rejects(b.inbox.take(1, 300))
      })
    }
  }

  test('topics of every shape cross nodes unchanged: dots, spaces, empty levels, $ and Unicode', async () => {
    const topics = ['a.b/c d', '/lead', 'trail/', 'x//y', 'ünï/cødé/😀', 'pct%/_/-', '$app/x']
    const sub = await client(2)
    await sub.client.subscribeAsync(['#', '$app/#'], { qos: 1 })
    await settle()
    const pub = await client(0)
    for (const t of topics) await pub.client.publishAsync(t, t, { qos: 1 })
    const got = await sub.inbox.take(topics.length, 5000)
    assert.deepEqual(
      got.map((m) => m.topic),
      topics,
    )
    assert.deepEqual(
      got.map((m) => m.payload.toString()),
      topics,
    )
  })

  test('MQTT 5 properties cross nodes: user properties, content type, correlation data, response topic', async () => {
    const sub = await client(1, { protocolVersion: 5 })
    await sub.client.subscribeAsync('props/t', { qos: 1 })
    await settle()
    const pub = await client(0, { protocolVersion: 5 })
    await pub.client.publishAsync('props/t', 'p', {
      qos: 1,
      properties: {
        userProperties: { k: 'v' },
        contentType: 'text/plain',
        correlationData: Buffer.from([1, 2, 3]),
        responseTopic: 'reply/here',
        messageExpiryInterval: 60,
      },
    })
    const [m] = await sub.inbox.take(1, 5000)
    assert.deepEqual({ ...m!.properties?.userProperties }, { k: 'v' })
    assert.equal(m!.properties?.contentType, 'text/plain')
    assert.deepEqual(Buffer.from(m!.properties!.correlationData!), Buffer.from([1, 2, 3]))
    assert.equal(m!.properties?.responseTopic, 'reply/here')
    const left = m!.properties?.messageExpiryInterval ?? 0
    assert.ok(left > 55 && left <= 60, `expiry left ${left} [MQTT-3.3.2-6]`)
  })

  test('a retained message set on one node is sent to a new subscriber on every node [MQTT-3.3.1-5] [MQTT-3.3.1-6]', async () => {
    const pub = await client(0)
    await pub.client.publishAsync('ret/one', 'kept', { qos: 1, retain: true })
    for (const n of [0, 1, 2]) {
      const s = await client(n)
      await s.client.subscribeAsync('ret/#', { qos: 1 })
      const [m] = await s.inbox.take(1, 5000)
      assert.equal(m!.payload.toString(), 'kept')
      assert.equal(m!.retain, true)
    }
    // deleted on another node [MQTT-3.3.1-10]: gone everywhere
    const other = await client(2)
    await other.client.publishAsync('ret/one', '', { qos: 1, retain: true })
    await settle()
    for (const n of [0, 1]) {
      const s = await client(n)
      await s.client.subscribeAsync('ret/#', { qos: 1 })
      await assert.rejects(s.inbox.take(1, 300))
    }
  })

  test('a will published by a node reaches subscribers on the others [MQTT-3.1.2-8]', async () => {
    const sub = await client(2)
    await sub.client.subscribeAsync('will/t', { qos: 1 })
    await settle()
    const dying = await client(0, {
      will: { topic: 'will/t', payload: Buffer.from('gone'), qos: 1, retain: false },
    })
    await dying.drop()
    const [m] = await sub.inbox.take(1, 5000)
    assert.equal(m!.payload.toString(), 'gone')
  })

  test('a shared subscription with members on three nodes gives each message to one member [MQTT-4.8.2-1]', async () => {
    const members = [await client(0), await client(1), await client(2)]
    for (const m of members) await m.client.subscribeAsync('$share/g/work/+', { qos: 1 })
    await settle()
    const pub = await client(1)
    const n = 60
    for (let i = 0; i < n; i++) await pub.client.publishAsync(`work/${i}`, `${i}`, { qos: 1 })
    await new Promise((r) => setTimeout(r, 500))
    const got = members.map((m) => m.inbox.size)
    const all = (await Promise.all(members.map((m, i) => m.inbox.take(got[i]!, 1000)))).flat()
    assert.equal(all.length, n, `each message once: ${got.join(' + ')}`)
    assert.deepEqual(new Set(all.map((m) => m.payload.toString())).size, n)
    assert.ok(got.filter((x) => x > 0).length >= 2, `spread over the nodes: ${got.join(' + ')}`)
  })

  test('a client connecting on another node takes over its session: the old connection is closed (MQTT 5: 0x8E) [MQTT-3.1.4-3]', async () => {
    const first = await client(0, { protocolVersion: 5, clientId: 'roamer' })
    const reason = new Promise<number | undefined>((resolve) => {
      first.client.once('disconnect', (p) => resolve(p.reasonCode))
    })
    const closed = new Promise<void>((resolve) => first.client.stream.once('close', () => resolve()))
    await client(2, { protocolVersion: 5, clientId: 'roamer' })
    assert.equal(await Promise.race([reason, new Promise((r) => setTimeout(() => r('none'), 5000))]), 0x8e)
    await closed
  })

  test("a message too large for NATS's max_payload is refused as too large, not sent again and again (MQTT 5 CONNACK Maximum Packet Size)", async () => {
    const v5 = await client(0, { protocolVersion: 5 })
    const max = v5.connack.properties?.maximumPacketSize ?? 0
    assert.ok(max > 0 && max < 1024 * 1024, `Maximum Packet Size ${max} under NATS's 1 MiB max_payload`)
    const v4 = await client(1)
    const closed = new Promise<void>((resolve) => v4.client.stream.once('close', () => resolve()))
    v4.client.publish('big/t', Buffer.alloc(1024 * 1024 + 10), { qos: 1 })
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('not closed')), 5000)),
    ])
  })
})
