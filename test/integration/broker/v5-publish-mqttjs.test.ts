/**
 * The MQTT 5 message path with MQTT.js (protocolVersion 5) at both ends: properties
 * through the broker, request/response with Response Topic and Correlation Data, and
 * the broker's Topic Aliases resolved by MQTT.js.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPublishPacket, MqttClient } from 'mqtt'
import { connectMqttJs } from '../../helpers/mqttjs.js'
import { startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker()

async function v5(options: Parameters<typeof connectMqttJs>[1] = {}): Promise<MqttClient> {
  const peer = await connectMqttJs(tb.port, { protocolVersion: 5, ...options })
  return peer.client
}

/** The next message: its topic as MQTT.js resolved it (an aliased packet's own is empty), and the packet. */
function nextMessage(c: MqttClient, timeoutMs = 3000): Promise<[string, IPublishPacket]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs)
    c.once('message', (topic, _p, packet) => {
      clearTimeout(timer)
      resolve([topic, packet])
    })
  })
}

test('request/response: the responder answers on the Response Topic with the Correlation Data [MQTT-3.3.2-15] [MQTT-3.3.2-16]', async () => {
  const service = `svc/${uniqueId()}`
  const replies = `replies/${uniqueId()}`
  const responder = await v5()
  await responder.subscribeAsync(service, { qos: 1 })
  responder.on('message', (_topic, payload, packet) => {
    const p = packet.properties
    if (p?.responseTopic === undefined) return
    responder.publish(p.responseTopic, `echo ${payload.toString()}`, {
      qos: 1,
      properties: p.correlationData === undefined ? {} : { correlationData: p.correlationData },
    })
  })
  const requester = await v5()
  await requester.subscribeAsync(replies, { qos: 1 })
  const answer = nextMessage(requester)
  await requester.publishAsync(service, 'ping', {
    qos: 1,
    properties: {
      responseTopic: replies,
      correlationData: Buffer.from('req-1'),
      contentType: 'text/plain',
      userProperties: { trace: ['a', 'b'] },
    },
  })
  const [topic, reply] = await answer
  assert.equal(topic, replies)
  assert.equal(reply.payload.toString(), 'echo ping')
  assert.deepEqual(reply.properties?.correlationData, Buffer.from('req-1'))
  await Promise.all([responder.endAsync(), requester.endAsync()])
})

test('MQTT.js resolves the Topic Aliases the broker assigns to it', async () => {
  const topic = `mqttjs-alias/${uniqueId()}`
  const sub = await v5({ properties: { topicAliasMaximum: 3 } })
  await sub.subscribeAsync(topic, { qos: 1 })
  const aliases: (number | undefined)[] = []
  sub.on('packetreceive', (p) => {
    if (p.cmd === 'publish') aliases.push(p.properties?.topicAlias)
  })
  const pub = await v5()
  const got: string[] = []
  for (const payload of ['1', '2', '3']) {
    const m = nextMessage(sub)
    await pub.publishAsync(topic, payload, { qos: 1, properties: { userProperties: { n: payload } } })
    const [resolved, packet] = await m
    assert.equal(resolved, topic)
    assert.deepEqual({ ...packet.properties?.userProperties }, { n: payload })
    got.push(packet.payload.toString())
  }
  assert.deepEqual(got, ['1', '2', '3'])
  assert.deepEqual(aliases, [1, 1, 1])
  await Promise.all([sub.endAsync(), pub.endAsync()])
})
