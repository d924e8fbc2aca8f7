/**
 * Shared subscriptions of persistent sessions across kill -9: the membership acknowledged
 * by SUBACK holds after the restart, apart from the client's ordinary subscriptions, and
 * messages published while the member is away are queued for it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { RawClient } from '../../helpers/raw-client.js'
import { BrokerProcess } from './harness.js'

const WAIT = 5000

async function connect(port: number, clientId: string, clean: boolean): Promise<RawClient> {
  const c = await RawClient.open(port, undefined, WAIT)
  const ack = await c.connect({ clientId, clean }, WAIT)
  assert.equal(ack.returnCode, 0)
  return c
}

async function take(c: RawClient, n: number): Promise<[string, string, number][]> {
  const got: [string, string, number][] = []
  while (got.length < n) {
    const p = (await c.next(PacketType.PUBLISH, WAIT)) as PublishPacket
    got.push([p.topic, p.payload.toString(), p.qos])
    if (p.qos === 1) c.send({ type: PacketType.PUBACK, packetId: p.packetId })
  }
  return got.sort((a, b) => (a.join() < b.join() ? -1 : 1))
}

test('keeps shared subscriptions acknowledged before kill -9, apart from ordinary ones [MQTT-4.8.2]', {
  timeout: 30_000,
}, async (t) => {
  const broker = await BrokerProcess.start(t)
  const sub = await connect(broker.port, 'shared-member', false)
  assert.deepEqual(
    (
      await sub.subscribe(
        [
          { topic: '$share/workers/jobs/#', qos: 1 },
          { topic: 'jobs/plain', qos: 1 },
          { topic: '$share/gone/jobs/#', qos: 1 },
        ],
        0,
        WAIT,
      )
    ).granted,
    [1, 1, 1],
  )
  sub.send({ type: PacketType.UNSUBSCRIBE, packetId: 9, topics: ['$share/gone/jobs/#'] })
  assert.equal((await sub.next(PacketType.UNSUBACK, WAIT)).packetId, 9)
  broker.killNow()
  await broker.kill()
  await broker.restart()

  const pub = await connect(broker.port, 'shared-publisher', true)
  for (const [topic, payload] of [
    ['jobs/1', 'one'],
    ['jobs/plain', 'two'],
  ]) {
    const id = pub.publish(topic!, payload!, { qos: 1 })
    assert.equal((await pub.next(PacketType.PUBACK, WAIT)).packetId, id)
  }
  const back = await connect(broker.port, 'shared-member', false)
  assert.equal(back.connack?.sessionPresent, true)
  // jobs/plain matches both the shared and the ordinary subscription: one copy each
  assert.deepEqual(await take(back, 3), [
    ['jobs/1', 'one', 1],
    ['jobs/plain', 'two', 1],
    ['jobs/plain', 'two', 1],
  ])
  await back.nothingFor(300)
  await back.disconnect()
  await pub.disconnect()
})
