/**
 * NATS lost while nodes run: local traffic goes on, a QoS 1 publish that JetStream cannot store
 * is not acknowledged (its MQTT 5 publisher is told 0x89 Server busy and disconnected), and the
 * nodes rejoin by themselves when NATS is back.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { startCluster, type TestCluster } from '../../helpers/cluster.js'
import { connectMqttJs } from '../../helpers/mqttjs.js'
import { natsSkip } from '../../helpers/nats.js'

const skip = natsSkip()

describe('a cluster whose only NATS server goes away and comes back', { skip }, () => {
  let c: TestCluster
  const client: TestCluster['client'] = (node, options) => c.client(node, options)

  before(async () => {
    c = await startCluster({ nodes: 2, servers: 1, prefix: 'o' })
  })

  after(() => c?.close())

  test('local QoS 0 flows without NATS; QoS 1 is refused (0x89), not acknowledged; cross-node traffic resumes when NATS is back', async () => {
    const localSub = await client(0)
    await localSub.client.subscribeAsync('out/local', { qos: 0 })
    const remoteSub = await client(1)
    await remoteSub.client.subscribeAsync('out/remote', { qos: 1 })
    await new Promise((r) => setTimeout(r, 150))
    await c.nats.kill(0)

    const pub = await client(0)
    for (let i = 0; i < 5; i++) await pub.client.publishAsync('out/local', `l${i}`, { qos: 0 })
    const local = await localSub.inbox.take(5, 3000)
    assert.deepEqual(
      local.map((m) => m.payload.toString()),
      ['l0', 'l1', 'l2', 'l3', 'l4'],
      'local delivery goes on without NATS',
    )

    const v5 = await client(0, { protocolVersion: 5 })
    const told = new Promise<number | undefined>((resolve) =>
      v5.client.once('disconnect', (p) => resolve(p.reasonCode)),
    )
    let acked = false
    v5.client.publish('out/remote', 'held', { qos: 1 }, (err) => {
      if (!err) acked = true
    })
    const code = await Promise.race([told, new Promise((r) => setTimeout(() => r('none'), 9000))])
    assert.equal(code, 0x89, 'DISCONNECT 0x89 Server busy')
    assert.equal(acked, false, 'no PUBACK for a message JetStream did not store')

    // a persistent session cannot be looked up without NATS: refused at once, Server unavailable
    const refused = await connectMqttJs(c.ports[1]!, {
      protocolVersion: 5,
      clean: false,
      clientId: 'away',
      properties: { sessionExpiryInterval: 60 },
    }).then(
      () => 'accepted',
      (err: { code?: number }) => err.code,
    )
    assert.equal(refused, 0x88, 'CONNACK 0x88 Server unavailable')

    await c.nats.restart(0)
    // the nodes reconnect by themselves; then a cross-node QoS 1 message arrives
    const deadline = Date.now() + 20_000
    let got = false
    while (!got && Date.now() < deadline) {
      // a new client each time: one whose message was refused is disconnected
      const again = await client(0).catch(() => null)
      if (again === null) {
        await new Promise((r) => setTimeout(r, 500))
        continue
      }
      again.client.publish('out/remote', 'back', { qos: 1 })
      got = await remoteSub.inbox.take(1, 2000).then(
        (ms) => ms.some((m) => m.payload.toString() === 'back'),
        () => false,
      )
    }
    assert.ok(got, 'cross-node QoS 1 after NATS came back')
  })
})
