/**
 * MQTT 5 subscription options and identifiers of a persistent session across kill -9:
 * what a SUBACK acknowledged before the kill still applies after the restart.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { RawClient } from '../../helpers/raw-client.js'
import { BrokerProcess } from './harness.js'

const WAIT = 5000

async function connect(port: number, clientId: string, clean: boolean): Promise<RawClient> {
  const c = await RawClient.open(port, undefined, WAIT)
  const ack = await c.connect(
    { clientId, clean, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } },
    WAIT,
  )
  assert.equal(ack.returnCode, 0)
  return c
}

async function publish(c: RawClient, topic: string, payload: string, retain = false): Promise<void> {
  const id = c.publish(topic, payload, { qos: 1, retain })
  assert.equal((await c.next(PacketType.PUBACK, WAIT)).packetId, id)
}

test('keeps No Local, Retain As Published and Subscription Identifiers across kill -9 [MQTT-3.8.3-3] [MQTT-3.3.1-13] [MQTT-3.3.4-3]', {
  timeout: 30_000,
}, async (t) => {
  const broker = await BrokerProcess.start(t)
  const sub = await connect(broker.port, 'opts-persistent', false)
  assert.deepEqual(
    (
      await sub.subscribe([{ topic: 'opts/rap', qos: 1, retainAsPublished: true }], 0, WAIT, {
        subscriptionIdentifier: 5,
      })
    ).granted,
    [1],
  )
  assert.deepEqual(
    (
      await sub.subscribe([{ topic: 'opts/own', qos: 1, noLocal: true }], 0, WAIT, {
        subscriptionIdentifier: 6,
      })
    ).granted,
    [1],
  )
  broker.killNow()
  await broker.kill()
  await broker.restart()

  const back = await connect(broker.port, 'opts-persistent', false)
  assert.equal(back.connack?.sessionPresent, true)
  const pub = await connect(broker.port, 'opts-publisher', true)
  await publish(back, 'opts/own', 'own message: not sent back')
  await publish(pub, 'opts/own', 'from another')
  await publish(pub, 'opts/rap', 'retained', true)
  const got: [string, string, boolean, number[] | undefined][] = []
  while (got.length < 2) {
    const p = (await back.next(PacketType.PUBLISH, WAIT)) as PublishPacket
    got.push([p.topic, p.payload.toString(), p.retain, p.properties?.subscriptionIdentifiers])
    back.send({ type: PacketType.PUBACK, packetId: p.packetId })
  }
  assert.deepEqual(got, [
    ['opts/own', 'from another', false, [6]],
    ['opts/rap', 'retained', true, [5]],
  ])
  await back.nothingFor(300)
  await back.disconnect()
  await pub.disconnect()
})
