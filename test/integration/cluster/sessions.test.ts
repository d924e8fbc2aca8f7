/**
 * Persistent sessions in a cluster: a client resumes on any node, with its subscriptions, the
 * messages queued while it was away and its QoS 2 flows; a Clean Start anywhere ends it.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { PacketType } from '../../../src/protocol/index.js'
import { startCluster, type TestCluster } from '../../helpers/cluster.js'
import { natsSkip } from '../../helpers/nats.js'
import { RawClient, uniqueId } from '../../helpers/raw-client.js'

const skip = natsSkip()

describe('persistent sessions across the nodes of a cluster', { skip }, () => {
  let c: TestCluster
  const client: TestCluster['client'] = (node, options) => c.client(node, options)
  const raws: RawClient[] = []

  before(async () => {
    // the three join at once: they make the same stream and buckets together
    c = await startCluster({ nodes: 3, servers: 3, prefix: 's', together: true })
  })

  after(async () => {
    for (const r of raws) r.destroy()
    await c?.close()
  })

  async function raw(node: number): Promise<RawClient> {
    const r = await RawClient.open(c.ports[node]!, '127.0.0.1')
    raws.push(r)
    return r
  }

  for (const version of [4, 5] as const) {
    test(`MQTT ${version === 4 ? '3.1.1' : '5'}: a session resumed on another node has its subscriptions and the QoS 1 messages queued meanwhile [MQTT-3.1.2-4] [MQTT-3.2.2-3]`, async () => {
      const clientId = uniqueId('roam')
      const persistent =
        version === 4
          ? { clean: false, protocolVersion: 4 as const }
          : { clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 300 } }
      const first = await client(1, { clientId, ...persistent })
      await first.client.subscribeAsync('queue/t', { qos: 1 })
      await first.end()
      const pub = await client(0, { protocolVersion: version })
      for (let i = 0; i < 30; i++) await pub.client.publishAsync('queue/t', `q${i}`, { qos: 1 })
      const back = await client(2, { clientId, ...persistent })
      assert.equal(back.connack.sessionPresent, true, 'session present on another node')
      // The pull request the first node left open with JetStream (it cannot be cancelled, it expires
      // in 2 s) may take some of them, to no one: JetStream sends those again after its 10 s ack
      // wait, after the others (docs/cluster.md). So: all of them, each once, within the ack wait and
      // some; and in order when they all came before the ack wait could have run out.
      const started = performance.now()
      const queued = await back.inbox.take(30, 20_000)
      const payloads = queued.map((m) => m.payload.toString())
      const all = Array.from({ length: 30 }, (_, i) => `q${i}`)
      if (performance.now() - started < 9_000) assert.deepEqual(payloads, all)
      else assert.deepEqual([...payloads].sort(), [...all].sort())
      // still subscribed, without subscribing again
      await pub.client.publishAsync('queue/t', 'after', { qos: 1 })
      const [m] = await back.inbox.take(1, 5000)
      assert.equal(m!.payload.toString(), 'after')
      await assert.rejects(back.inbox.take(1, 300), 'nothing twice')
    })
  }

  test('a connected persistent session taken over from another node: the old connection closes (0x8E), the new one gets what follows', async () => {
    const clientId = uniqueId('take')
    const first = await client(0, {
      clientId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 300 },
    })
    await first.client.subscribeAsync('take/t', { qos: 1 })
    const reason = new Promise<number | undefined>((resolve) =>
      first.client.once('disconnect', (p) => resolve(p.reasonCode)),
    )
    const second = await client(1, {
      clientId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 300 },
    })
    assert.equal(second.connack.sessionPresent, true)
    assert.equal(await Promise.race([reason, new Promise((r) => setTimeout(() => r('none'), 5000))]), 0x8e)
    const pub = await client(2)
    await pub.client.publishAsync('take/t', 'to the new one', { qos: 1 })
    const [m] = await second.inbox.take(1, 5000)
    assert.equal(m!.payload.toString(), 'to the new one')
  })

  test('Clean Start on another node ends the session there was: nothing present, nothing queued [MQTT-3.1.2-4]', async () => {
    const clientId = uniqueId('clean')
    const first = await client(0, { clientId, clean: false })
    await first.client.subscribeAsync('clean/t', { qos: 1 })
    await first.end()
    const pub = await client(1)
    await pub.client.publishAsync('clean/t', 'old', { qos: 1 })
    const fresh = await client(2, { clientId, clean: true })
    assert.equal(fresh.connack.sessionPresent, false)
    await fresh.end()
    // back where the old session was held: gone there too
    const again = await client(0, { clientId, clean: false })
    assert.equal(again.connack.sessionPresent, false, 'the old session is gone cluster-wide')
    await assert.rejects(again.inbox.take(1, 500))
  })

  test('MQTT 5 session expiry is cluster-wide: expired on its node, not resumed on another [MQTT-3.1.2-23]', async () => {
    const clientId = uniqueId('exp')
    const first = await client(0, {
      clientId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 1 },
    })
    await first.client.subscribeAsync('exp/t', { qos: 1 })
    await first.end()
    await new Promise((r) => setTimeout(r, 2500))
    const back = await client(2, {
      clientId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 60 },
    })
    assert.equal(back.connack.sessionPresent, false)
  })

  test('QoS 2 past PUBREC: a client back on another node gets the PUBREL again, with its packet id, and not the PUBLISH [MQTT-4.4.0-1] [MQTT-4.3.3-1]', async () => {
    const clientId = uniqueId('q2')
    const a = await raw(1)
    await a.connect({ clientId, clean: false })
    await a.subscribe('q2/t', 2)
    const pub = await client(0)
    await pub.client.publishAsync('q2/t', 'once', { qos: 2 })
    const p = await a.next(PacketType.PUBLISH, 5000)
    assert.equal(p.payload.toString(), 'once')
    a.send({ type: PacketType.PUBREC, packetId: p.packetId })
    const rel = await a.next(PacketType.PUBREL, 5000)
    assert.equal(rel.packetId, p.packetId)
    a.destroy() // gone before PUBCOMP
    const b = await raw(2)
    const ack = await b.connect({ clientId, clean: false }, 10_000)
    assert.equal(ack.sessionPresent, true)
    const again = await b.next(undefined, 15_000)
    assert.equal(again.type, PacketType.PUBREL, 'the PUBREL, not the PUBLISH')
    assert.equal((again as { packetId: number }).packetId, p.packetId)
    b.send({ type: PacketType.PUBCOMP, packetId: p.packetId })
    await assert.rejects(b.next(PacketType.PUBLISH, 1500), 'not delivered twice')
  })

  test('QoS 2 before PUBREC: a client back on another node gets the PUBLISH again, once', async () => {
    const clientId = uniqueId('q2b')
    const a = await raw(0)
    await a.connect({ clientId, clean: false })
    await a.subscribe('q2b/t', 2)
    const pub = await client(1)
    await pub.client.publishAsync('q2b/t', 'again', { qos: 2 })
    const p = await a.next(PacketType.PUBLISH, 5000)
    assert.equal(p.payload.toString(), 'again')
    a.destroy() // no PUBREC
    const b = await raw(2)
    const ack = await b.connect({ clientId, clean: false }, 10_000)
    assert.equal(ack.sessionPresent, true)
    const again = await b.next(PacketType.PUBLISH, 15_000)
    assert.equal(again.payload.toString(), 'again')
    b.send({ type: PacketType.PUBREC, packetId: again.packetId })
    const rel = await b.next(PacketType.PUBREL, 5000)
    b.send({ type: PacketType.PUBCOMP, packetId: rel.packetId })
    await assert.rejects(b.next(PacketType.PUBLISH, 1500), 'once')
  })

  test('a QoS 2 PUBLISH sent again to another node before PUBREL is delivered once, to every kind of subscriber [MQTT-4.3.3-2]', async () => {
    const topic = `dup/${uniqueId('t')}`
    const durable = await client(2, { clientId: uniqueId('dd'), clean: false })
    await durable.client.subscribeAsync(topic, { qos: 2 })
    const clean = await client(2)
    await clean.client.subscribeAsync(topic, { qos: 2 })
    const local = await client(1)
    await local.client.subscribeAsync(topic, { qos: 2 })
    await new Promise((r) => setTimeout(r, 150))
    const clientId = uniqueId('pub2')
    const a = await raw(0)
    await a.connect({ clientId, clean: false })
    a.send({
      type: PacketType.PUBLISH,
      topic,
      payload: Buffer.from('exactly once'),
      qos: 2,
      packetId: 7,
      retain: false,
      dup: false,
    })
    const rec = await a.next(PacketType.PUBREC, 5000)
    assert.equal(rec.packetId, 7)
    a.destroy() // as if the PUBREC was lost with the node
    const b = await raw(1)
    const ack = await b.connect({ clientId, clean: false }, 10_000)
    assert.equal(ack.sessionPresent, true)
    b.send({
      type: PacketType.PUBLISH,
      topic,
      payload: Buffer.from('exactly once'),
      qos: 2,
      packetId: 7,
      retain: false,
      dup: true,
    })
    assert.equal((await b.next(PacketType.PUBREC, 5000)).packetId, 7)
    b.send({ type: PacketType.PUBREL, packetId: 7 })
    assert.equal((await b.next(PacketType.PUBCOMP, 5000)).packetId, 7)
    for (const [who, peer] of [
      ['persistent', durable],
      ['clean', clean],
      ['on the second node', local],
    ] as const) {
      const [m] = await peer.inbox.take(1, 5000)
      assert.equal(m!.payload.toString(), 'exactly once', who)
      await assert.rejects(peer.inbox.take(1, 700), `${who}: once`)
    }
  })

  // last: it stops node 0
  test('a node that stops hands its sessions over: a message in flight there comes at once from the next node, not after the ack wait', async () => {
    const clientId = uniqueId('leave')
    const a = await raw(0)
    await a.connect({ clientId, clean: false })
    await a.subscribe('leave/t', 1)
    const pub = await client(1)
    await pub.client.publishAsync('leave/t', 'in flight', { qos: 1 })
    const p = await a.next(PacketType.PUBLISH, 5000)
    assert.equal(p.payload.toString(), 'in flight') // no PUBACK
    await c.nodes[0]!.close()
    const b = await raw(2)
    const ack = await b.connect({ clientId, clean: false }, 10_000)
    assert.equal(ack.sessionPresent, true)
    const started = Date.now()
    const again = await b.next(PacketType.PUBLISH, 4000)
    assert.equal(again.payload.toString(), 'in flight')
    assert.ok(Date.now() - started < 4000, 'before the 10 s ack wait')
    b.send({ type: PacketType.PUBACK, packetId: again.packetId })
  })
})
