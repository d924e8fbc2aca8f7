/**
 * Our port of the Eclipse Paho MQTT 5 interoperability tests (eclipse/paho.mqtt.testing,
 * interoperability/client_test5.py): the same 27 cases, the same topics, client ids,
 * timings and assertions, written anew against the PahoPeer client (test/helpers/paho-peer.ts),
 * run against the embedded broker the acceptance run uses:
 * `new Broker({ authorizeSubscribe: (c, filter) => filter !== 'test/nosubscribe', maxKeepalive: 60 })`.
 *
 * Like the original, one broker serves every case and the cases run in the order Python's
 * unittest runs them (alphabetical), sharing the clients "myclientid" and "myclientid2",
 * so state one case leaves behind (sessions, retained messages) is seen by the next.
 * Fixed sleeps of the original that only wait for traffic are bounded waits here that end
 * as soon as the expected packets came; sleeps that measure broker timers are kept.
 * Where the original asserts nothing (its zero-length client id case catches every
 * exception), this port asserts what the spec requires.
 *
 * Calibration: PETREL_PAHO_TARGET=mosquitto runs the same cases against Mosquitto 2 configured
 * alike (max_keepalive 60, subscriptions to test/nosubscribe denied), to check the port
 * itself against a broker whose Paho results are known.
 */
import assert from 'node:assert/strict'
import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../src/broker/broker.js'
import type { BrokerOptions } from '../../src/broker/options.js'
import { type MosquittoBroker, startMosquitto } from '../helpers/mosquitto.js'
import { LOOPBACK } from '../helpers/net.js'
import { PahoPeer, type PublishProperties, sleep, userPairs } from '../helpers/paho-peer.js'

const PREFIX = 'client_test5/'
const topics = ['TopicA', 'TopicA/B', 'Topic/C', 'TopicA/C', '/TopicA'].map((t) => PREFIX + t) as [
  string,
  string,
  string,
  string,
  string,
]
const wildtopics = ['TopicA/+', '+/C', '#', '/#', '/+', '+/+', 'TopicA/#'].map((t) => PREFIX + t)
const nosubscribeTopics = ['test/nosubscribe']
const W5 = wildtopics[5]!
const W6 = wildtopics[6]!
const W0 = wildtopics[0]!

/** The acceptance run's options, exactly (maxKeepalive arrives with the v5 connect work). */
const acceptanceOptions = {
  authorizeSubscribe: (_c: unknown, filter: string) => filter !== 'test/nosubscribe',
  maxKeepalive: 60,
}

let broker: Broker | null = null
let mosquitto: MosquittoBroker | null = null
let port: number
let a: PahoPeer
let b: PahoPeer

/** Clears every retained message (the original's cleanRetained). */
async function cleanRetained(): Promise<void> {
  const c = new PahoPeer('clean retained', port)
  await c.connect({ cleanStart: true })
  c.subscribe(['#'], [{ qos: 0 }])
  await sleep(500)
  for (const m of c.messages) c.publish(m.topic, Buffer.alloc(0), 0, true)
  await c.disconnect()
}

const QOS_ALL = [0, 1, 2]
function qosSet(list: { qos: number }[]): number[] {
  return list.map((m) => m.qos).sort()
}
function hasAB(props: PublishProperties): boolean {
  const pairs = JSON.stringify(userPairs(props.userProperties))
  return (
    pairs ===
      JSON.stringify([
        ['a', '2'],
        ['c', '3'],
      ]) ||
    pairs ===
      JSON.stringify([
        ['c', '3'],
        ['a', '2'],
      ])
  )
}

const T = { timeout: 30_000 }

describe('Paho MQTT 5 interoperability tests (client_test5.py) against the acceptance broker', () => {
  before(async () => {
    if (process.env.PETREL_PAHO_TARGET === 'mosquitto') {
      const dir = await mkdtemp(join(tmpdir(), 'petrel-paho-acl-'))
      const acl = join(dir, 'acl')
      await writeFile(
        acl,
        'topic deny test/nosubscribe\ntopic readwrite #\ntopic readwrite $client_test5/#\n',
      )
      await chmod(dir, 0o755) // mosquitto started as root reads it as the mosquitto user
      await chmod(acl, 0o644)
      mosquitto = await startMosquitto({ config: ['max_keepalive 60', `acl_file ${acl}`] })
      port = mosquitto.port
    } else {
      broker = new Broker(acceptanceOptions as BrokerOptions)
      ;({ port } = await broker.listen({ port: 0, host: LOOPBACK }))
    }
    // The original's setUpClass cleanup: clean sessions for both client ids, no retained messages.
    // A broker that cannot do even this fails every case on its own, with its own reason.
    try {
      for (const id of ['myclientid', 'myclientid2']) {
        const c = new PahoPeer(id, port)
        await c.connect({ cleanStart: true })
        await c.disconnect()
      }
      await cleanRetained()
    } catch {}
    a = new PahoPeer('myclientid', port)
    b = new PahoPeer('myclientid2', port)
  })

  after(async () => {
    a?.terminate()
    b?.terminate()
    await broker?.close()
    await mosquitto?.stop()
  })

  test(
    'test_assigned_clientid: a zero-length client id gets an Assigned Client Identifier [MQTT-3.2.2-16] [MQTT-3.1.3-6]',
    T,
    async () => {
      const noid = new PahoPeer('', port)
      const connack = await noid.connect({ cleanStart: true })
      await noid.disconnect()
      const assigned = connack.properties?.assignedClientIdentifier
      assert.ok(
        typeof assigned === 'string' && assigned !== '',
        `CONNACK properties: ${JSON.stringify(connack.properties)}`,
      )
    },
  )

  test(
    'test_basic: QoS 0/1/2 round trip; a second CONNECT and a wrong protocol name are refused [MQTT-3.1.0-2] [MQTT-3.1.2-1]',
    T,
    async () => {
      await a.connect()
      await a.disconnect()
      const connack = await a.connect()
      assert.equal(connack.reasonCode, 0)
      a.subscribe([topics[0]], [{ qos: 2 }])
      a.publish(topics[0], 'qos 0')
      a.publish(topics[0], 'qos 1', 1)
      a.publish(topics[0], 'qos 2', 2)
      await a.waitFor(a.messages, 3, 2000)
      await a.disconnect()
      assert.equal(a.messages.length, 3, JSON.stringify(a.messages))

      await assert.rejects(async () => {
        await a.connect()
        await a.connect({ newSocket: false }) // a second CONNECT on the same connection
      }, 'a second CONNECT must close the connection')
      await assert.rejects(a.connect({ protocolName: 'hj' }), 'protocol name "hj" must be refused')
    },
  )

  test(
    'test_client_topic_alias: alias 0 is refused with DISCONNECT; aliases do not outlive the connection [MQTT-3.3.2-8] [MQTT-3.3.2-7]',
    T,
    async () => {
      a.clear()
      await a.connect()
      a.publish(topics[0], 'topic alias 0', 1, false, { topicAlias: 0 })
      await a.waitFor(a.disconnects, 1, 2000)
      assert.equal(a.disconnects.length, 1, 'a DISCONNECT (Topic Alias invalid) for alias 0')

      const connack = await a.connect({
        cleanStart: true,
        properties: { topicAliasMaximum: 0, sessionExpiryInterval: 99999 },
      })
      const clientTopicAliasMaximum = connack.properties?.topicAliasMaximum ?? 0
      if (clientTopicAliasMaximum === 0) {
        await a.disconnect()
        return
      }
      a.subscribe([topics[0]], [{ qos: 2 }])
      await a.waitFor(a.subscribeds, 1, 3000)
      a.publish(topics[0], 'topic alias 1', 1, false, { topicAlias: 1 })
      await a.waitFor(a.messages, 1, 3000)
      assert.equal(a.messages.length, 1)
      a.publish('', 'topic alias 2', 1, false, { topicAlias: 1 })
      await a.waitFor(a.messages, 2, 3000)
      assert.equal(a.messages.length, 2)
      await a.disconnect()

      a.clear()
      await a.connect({ cleanStart: false })
      a.publish(topics[0], 'topic alias 3', 1)
      await a.waitFor(a.messages, 1, 3000)
      assert.equal(a.messages.length, 1, 'the subscription survived the reconnect')
      a.publish('', 'topic alias 4', 1, false, { topicAlias: 1 })
      await a.waitFor(a.disconnects, 1, 2000)
      assert.equal(a.disconnects.length, 1, 'an alias from the previous connection is unknown: DISCONNECT')
    },
  )

  test(
    'test_dollar_topics: a filter starting with a wildcard does not match a $ topic [MQTT-4.7.2-1]',
    T,
    async () => {
      b.clear()
      await b.connect({ cleanStart: true, keepalive: 0 })
      b.subscribe([W5], [{ qos: 2 }])
      await b.waitFor(b.subscribeds, 1, 1000)
      await sleep(200) // retained messages, if any
      b.clear()
      b.publish(`$${topics[1]}`, '', 1)
      await sleep(200)
      assert.equal(b.messages.length, 0, JSON.stringify(b.messages))
      await b.disconnect()
    },
  )

  test(
    'test_flow_control1: the server sends no more unacknowledged QoS 1 PUBLISHes than the client Receive Maximum [MQTT-3.3.4-9] [MQTT-4.9.0-2]',
    T,
    async () => {
      const t = new PahoPeer('myclientid', port)
      const receiveMaximum = 2
      await t.connect({
        cleanStart: true,
        manual: true,
        properties: { receiveMaximum, sessionExpiryInterval: 0 },
      })
      t.subscribe([topics[0]], [{ qos: 2 }])
      const suback = await t.nextPacket(3000)
      assert.equal(suback.cmd, 'suback')
      let pubs = 0
      for (let i = 1; i < receiveMaximum + 2; i++) {
        t.publish(topics[0], `message ${i}`, 1)
        pubs++
      }
      let acks = 0
      const publishes = []
      while (publishes.length < 2) {
        const p = await t.nextPacket(3000)
        if (p.cmd === 'publish') {
          assert.equal(p.qos, 1)
          publishes.push(p)
        } else {
          assert.equal(p.cmd, 'puback', `expected PUBACK or PUBLISH, got ${p.cmd}`)
          t.outMsgs.delete(p.messageId ?? 0)
          acks++
        }
      }
      while (acks < pubs) {
        const p = await t.nextPacket(3000)
        assert.equal(
          p.cmd,
          'puback',
          `a third PUBLISH before any PUBACK from the client: ${JSON.stringify(p)}`,
        )
        t.outMsgs.delete(p.messageId ?? 0)
        acks++
      }
      await t.nothingFor(500) // the third message waits for a PUBACK
      t.write({ cmd: 'puback', messageId: publishes[0]!.messageId ?? 0 })
      const third = await t.nextPacket(3000)
      assert.equal(third.cmd, 'publish')
      assert.equal(third.cmd === 'publish' && third.qos, 1)
      t.write({ cmd: 'puback', messageId: publishes[1]!.messageId ?? 0 })
      t.write({ cmd: 'puback', messageId: third.messageId ?? 0 })
      await t.disconnect()
    },
  )

  test(
    'test_flow_control2: more unacknowledged QoS 2 PUBLISHes than the server Receive Maximum gets DISCONNECT 0x93 (3.3.4)',
    T,
    async () => {
      const t = new PahoPeer('myclientid', port)
      const connack = await t.connect({ cleanStart: true })
      const serverReceiveMaximum = connack.properties?.receiveMaximum ?? 65_535
      // Paho's client has packet ids 1..65534 and frees none here (its receiver is not running
      // while it publishes): a broker whose Receive Maximum is 65534 or more (absent: 65535)
      // leaves it no id for the extra PUBLISH, and the original test hangs. Said as a failure here.
      assert.ok(
        serverReceiveMaximum < 65_534,
        `CONNACK Receive Maximum ${serverReceiveMaximum}: Paho's client cannot send Receive Maximum + 1 QoS 2 PUBLISHes (ids 1..65534)`,
      )
      for (let i = 1; i < serverReceiveMaximum + 2; i++) t.publish(topics[0], `message ${i}`, 2)
      await t.waitFor(t.disconnects, 1, 20_000)
      assert.equal(t.disconnects.length, 1, 'a DISCONNECT from the server')
      assert.equal(t.disconnects[0]!.reasonCode, 0x93, 'Receive Maximum exceeded')
      t.terminate()
    },
  )

  test(
    'test_keepalive: a silent client is disconnected after 1.5 x keep-alive and its will published [MQTT-3.1.2-22] [MQTT-3.1.2-8]',
    T,
    async () => {
      b.clear()
      await a.connect({
        cleanStart: true,
        keepalive: 5,
        will: { topic: topics[4], payload: 'keepalive expiry' },
      })
      await b.connect({ cleanStart: true, keepalive: 0 })
      b.subscribe([topics[4]], [{ qos: 2 }])
      await b.waitFor(b.messages, 1, 15_000)
      await sleep(300)
      await b.disconnect()
      assert.equal(b.messages.length, 1, `the will message: ${JSON.stringify(b.messages)}`)
    },
  )

  test(
    'test_maximum_packet_size: over the server limit gets DISCONNECT 0x95; over the client limit is not sent [MQTT-3.1.2-24] [MQTT-3.1.2-25]',
    T,
    async () => {
      a.clear()
      let connack = await a.connect({ cleanStart: true })
      let serverMaximumPacketSize = connack.properties?.maximumPacketSize ?? 2 ** 28 - 1
      if (serverMaximumPacketSize < 65_535) {
        a.publish(topics[0], Buffer.alloc(serverMaximumPacketSize, '.'), 0)
        await a.waitFor(a.disconnects, 1, 2000)
        assert.equal(a.disconnects.length, 1)
        assert.equal(a.disconnects[0]!.reasonCode, 0x95, 'Packet too large')
      } else {
        await a.disconnect()
      }

      const maximumPacketSize = 64
      connack = await a.connect({ cleanStart: true, properties: { maximumPacketSize } })
      serverMaximumPacketSize = connack.properties?.maximumPacketSize ?? 2 ** 28 - 1
      a.subscribe([topics[0]], [{ qos: 2 }])
      await a.waitFor(a.subscribeds, 1, 3000)
      a.publish(topics[0], Buffer.alloc(maximumPacketSize / 2, '.'), 0)
      await a.waitFor(a.messages, 1, 3000)
      assert.equal(a.messages.length, 1, 'a packet under the client maximum arrives')
      a.publish(topics[0], Buffer.alloc(maximumPacketSize, '.'), 1)
      await a.waitFor(a.messages, 2, 1000)
      assert.equal(a.messages.length, 1, 'a packet over the client maximum is dropped')
      await a.disconnect()
    },
  )

  test(
    'test_offline_message_queueing: QoS 1 and 2 (and maybe 0) messages wait for a disconnected session [MQTT-3.1.2-5] [MQTT-3.1.2-23]',
    T,
    async () => {
      a.clear()
      b.clear()
      await a.connect({ cleanStart: true, properties: { sessionExpiryInterval: 99999 } })
      a.subscribe([W5], [{ qos: 2 }])
      await a.disconnect()

      await b.connect({ cleanStart: true })
      b.publish(topics[1], 'qos 0', 0)
      b.publish(topics[2], 'qos 1', 1)
      b.publish(topics[3], 'qos 2', 2)
      await sleep(200)
      await b.disconnect()

      await a.connect({ cleanStart: false })
      await a.waitFor(a.messages, 3, 2000)
      await a.disconnect()
      assert.ok([2, 3].includes(a.messages.length), `received ${a.messages.length}`)
    },
  )

  test(
    'test_overlapping_subscriptions: one message at the highest QoS, or one per subscription [MQTT-3.3.4-2]',
    T,
    async () => {
      a.clear()
      b.clear()
      await a.connect()
      a.subscribe([W6, W0], [{ qos: 2 }, { qos: 1 }])
      a.publish(topics[3], 'overlapping topic filters', 2)
      await a.waitFor(a.messages, 2, 1000)
      assert.ok([1, 2].includes(a.messages.length), JSON.stringify(a.messages))
      if (a.messages.length === 1) assert.equal(a.messages[0]!.qos, 2)
      else assert.deepEqual(qosSet(a.messages), [1, 2])
      await a.disconnect()
    },
  )

  test(
    'test_payload_format: Payload Format Indicator and Content Type are forwarded unaltered [MQTT-3.3.2-4] [MQTT-3.3.2-20]',
    T,
    async () => {
      a.clear()
      await a.connect({ cleanStart: true })
      a.subscribe([topics[0]], [{ qos: 2 }])
      const props: PublishProperties = { payloadFormatIndicator: true, contentType: 'My name' }
      for (const qos of [0, 1, 2] as const) a.publish(topics[0], '', qos, false, props)
      await a.waitFor(a.messages, 3, 5000)
      await a.disconnect()
      assert.equal(a.messages.length, 3, JSON.stringify(a.messages))
      for (const m of a.messages) {
        assert.equal(m.properties.contentType, 'My name')
        assert.equal(m.properties.payloadFormatIndicator, true)
      }
      assert.deepEqual(qosSet(a.messages), QOS_ALL)
    },
  )

  test(
    'test_publication_expiry: expired messages are dropped, the rest carry the time left [MQTT-3.3.2-5] [MQTT-3.3.2-6]',
    T,
    async () => {
      a.clear()
      b.clear()
      await b.connect({ cleanStart: true, properties: { sessionExpiryInterval: 99999 } })
      b.subscribe([topics[0]], [{ qos: 2 }])
      await b.disconnect({ sessionExpiryInterval: 999999999 })

      await a.connect({ cleanStart: true })
      a.publish(topics[0], 'qos 1 - expire', 1, false, { messageExpiryInterval: 1 })
      a.publish(topics[0], 'qos 2 - expire', 2, false, { messageExpiryInterval: 1 })
      a.publish(topics[0], "qos 1 - don't expire", 1, false, { messageExpiryInterval: 6 })
      a.publish(topics[0], "qos 2 - don't expire", 2, false, { messageExpiryInterval: 6 })

      await sleep(3000)
      await b.connect({ cleanStart: false })
      await b.waitFor(b.messages, 1, 3000)
      await sleep(1000)
      assert.equal(b.messages.length, 2, JSON.stringify(b.messages.map((m) => m.payload.toString())))
      for (const m of b.messages) {
        const left = m.properties.messageExpiryInterval
        assert.ok(left !== undefined && left < 6, `Message Expiry Interval ${left}`)
      }
      await a.disconnect()
    },
  )

  test(
    'test_redelivery_on_reconnect: unacknowledged QoS 1 and 2 PUBLISHes are sent again on reconnect [MQTT-4.4.0-1]',
    T,
    async () => {
      a.clear()
      b.clear()
      await b.connect({ cleanStart: false, properties: { sessionExpiryInterval: 99999 } })
      b.subscribe([W6], [{ qos: 2 }])
      b.pause()
      b.publish(topics[1], '', 1)
      b.publish(topics[3], '', 2)
      await sleep(1000)
      await b.disconnect()
      assert.equal(b.messages.length, 0)
      b.resume()
      await b.connect({ cleanStart: false, properties: { sessionExpiryInterval: 99999 } })
      await b.waitFor(b.messages, 2, 3000)
      assert.equal(b.messages.length, 2, JSON.stringify(b.messages))
      await b.disconnect()
    },
  )

  test(
    'test_request_response: Response Topic and Correlation Data reach the responder unaltered [MQTT-3.3.2-15] [MQTT-3.3.2-16]',
    T,
    async () => {
      a.clear()
      b.clear()
      await a.connect({ cleanStart: true })
      await b.connect({ cleanStart: true })
      a.subscribe([topics[0]], [{ qos: 2, nl: true }])
      await a.waitFor(a.subscribeds, 1, 3000)
      b.subscribe([topics[0]], [{ qos: 2, nl: true }])
      await b.waitFor(b.subscribeds, 1, 3000)

      a.publish(topics[0], 'request', 1, false, {
        responseTopic: topics[0],
        correlationData: Buffer.from('334'),
      })
      await b.waitFor(b.messages, 1, 3000)
      assert.equal(b.messages.length, 1, JSON.stringify(b.messages))
      const request = b.messages[0]!.properties
      assert.equal(request.responseTopic, topics[0])
      assert.deepEqual(request.correlationData, Buffer.from('334'))

      b.publish(request.responseTopic ?? '', 'response', 1, false, request)
      await a.waitFor(a.messages, 1, 3000)
      assert.equal(a.messages.length, 1, JSON.stringify(a.messages))
      await a.disconnect()
      await b.disconnect()
    },
  )

  test(
    'test_retained_message: retained messages keep their user properties [MQTT-3.3.1-5] [MQTT-3.3.2-17]',
    T,
    async () => {
      const props: PublishProperties = { userProperties: { a: '2', c: '3' } }
      a.clear()
      await a.connect({ cleanStart: true })
      a.publish(topics[1], 'qos 0', 0, true, props)
      a.publish(topics[2], 'qos 1', 1, true, props)
      a.publish(topics[3], 'qos 2', 2, true, props)
      await sleep(500)
      a.subscribe([W5], [{ qos: 2 }])
      await a.waitFor(a.messages, 3, 1000)
      await a.disconnect()
      assert.equal(a.messages.length, 3, JSON.stringify(a.messages))
      for (const m of a.messages) assert.ok(hasAB(m.properties), JSON.stringify(m.properties))
      assert.deepEqual(qosSet(a.messages), QOS_ALL)
      await cleanRetained()
    },
  )

  test(
    'test_server_keep_alive: a keep-alive over maxKeepalive gets Server Keep Alive 60 (3.2.2.3.14)',
    T,
    async () => {
      a.clear()
      const connack = await a.connect({ keepalive: 120, cleanStart: true })
      assert.equal(connack.properties?.serverKeepAlive, 60, JSON.stringify(connack.properties))
      await a.disconnect()
    },
  )

  test(
    'test_server_topic_alias: the server sets an alias once and then sends it alone; none when the client allows none [MQTT-3.1.2-26] [MQTT-3.1.2-27]',
    T,
    async () => {
      a.clear()
      await a.connect({ cleanStart: true, properties: { topicAliasMaximum: 1 } })
      a.subscribe([topics[0]], [{ qos: 2 }])
      await a.waitFor(a.subscribeds, 1, 3000)
      for (const qos of [0, 1, 2] as const) a.publish(topics[0], 'topic alias 1', qos)
      await a.waitFor(a.messages, 3, 3000)
      assert.equal(a.messages.length, 3, JSON.stringify(a.messages))
      await a.disconnect()
      const [m0, m1, m2] = a.messages as [
        (typeof a.messages)[0],
        (typeof a.messages)[0],
        (typeof a.messages)[0],
      ]
      const alias = m0.properties.topicAlias
      assert.ok(
        alias !== undefined && alias > 0,
        `first message sets an alias: ${JSON.stringify(m0.properties)}`,
      )
      assert.equal(m0.topic, topics[0])
      assert.equal(m1.properties.topicAlias, alias)
      assert.equal(m1.topic, '')
      assert.equal(m2.properties.topicAlias, alias)

      for (const properties of [undefined, { topicAliasMaximum: 0 }]) {
        a.clear()
        await a.connect({ cleanStart: true, ...(properties ? { properties } : {}) })
        a.subscribe([topics[0]], [{ qos: 2 }])
        await a.waitFor(a.subscribeds, 1, 3000)
        for (const qos of [0, 1, 2] as const) a.publish(topics[0], 'topic alias 1', qos)
        await a.waitFor(a.messages, 3, 3000)
        assert.equal(a.messages.length, 3, JSON.stringify(a.messages))
        await a.disconnect()
        for (const m of a.messages) assert.equal(m.properties.topicAlias, undefined, 'no topic alias')
      }
    },
  )

  test(
    'test_session_expiry: a session lasts exactly its Session Expiry Interval, set on CONNECT or DISCONNECT [MQTT-3.1.2-23] [MQTT-3.2.2-2] [MQTT-3.2.2-3]',
    T,
    async () => {
      const check = async (
        cleanStart: boolean,
        sessionExpiryInterval: number,
        present: boolean,
      ): Promise<void> => {
        const connack = await a.connect({ cleanStart, properties: { sessionExpiryInterval } })
        assert.equal(connack.reasonCode, 0)
        assert.equal(
          connack.sessionPresent,
          present,
          `cleanStart=${cleanStart} expiry=${sessionExpiryInterval}`,
        )
      }
      await check(true, 0, false)
      a.subscribe([topics[0]], [{ qos: 2 }])
      await a.disconnect()
      await check(false, 0, false) // expired with the connection
      await a.disconnect()

      await check(true, 5, false)
      a.subscribe([topics[0]], [{ qos: 2 }])
      await a.disconnect()
      await sleep(2000)
      await check(false, 5, true)
      await a.disconnect()
      await sleep(6000)
      await check(false, 5, false)
      await a.disconnect()

      await check(true, 1, false)
      a.subscribe([topics[0]], [{ qos: 2 }])
      await a.disconnect({ sessionExpiryInterval: 5 })
      await sleep(3000)
      await check(false, 1, true)
      await a.disconnect({ sessionExpiryInterval: 0 })
      await check(false, 1, false)
      await a.disconnect()
    },
  )

  test(
    'test_shared_subscriptions: a shared subscription delivers each message to one member (4.8.2)',
    T,
    async () => {
      a.clear()
      b.clear()
      const sharedSub = `$share/sharename/${PREFIX}x`
      const sharedPub = `${PREFIX}x`
      let connack = await a.connect({ cleanStart: true })
      assert.equal(connack.sessionPresent, false)
      a.subscribe([sharedSub, topics[0]], [{ qos: 2 }, { qos: 2 }])
      await a.waitFor(a.subscribeds, 1, 3000)
      connack = await b.connect({ cleanStart: true })
      assert.equal(connack.sessionPresent, false)
      b.subscribe([sharedSub, topics[0]], [{ qos: 2 }, { qos: 2 }])
      await b.waitFor(b.subscribeds, 1, 3000)
      a.clear()
      b.clear()

      b.publish(topics[0], 'message 0', 0)
      await a.waitFor(a.messages, 1, 2000)
      await b.waitFor(b.messages, 1, 2000)
      await sleep(300)
      assert.equal(a.messages.length, 1)
      assert.equal(b.messages.length, 1)
      a.clear()
      b.clear()

      b.publish(sharedPub, 'message 0', 0)
      const deadline = Date.now() + 2000
      while (a.messages.length + b.messages.length < 1 && Date.now() < deadline) await sleep(50)
      await sleep(500)
      assert.equal(a.messages.length + b.messages.length, 1, 'each message reaches the group once')
      await a.disconnect()
      await b.disconnect()
    },
  )

  test('test_subscribe_failure: a refused subscription gets SUBACK 0x80 (3.9.3)', T, async () => {
    a.clear()
    await a.connect()
    a.subscribe([nosubscribeTopics[0]!], [{ qos: 2 }])
    await a.waitFor(a.subscribeds, 1, 1000)
    assert.equal(a.subscribeds[0]?.reasonCodes[0], 0x80, JSON.stringify(a.subscribeds))
    // The original leaves this connection open; the next connect() replaces it.
  })

  test(
    'test_subscribe_identifiers: every matching Subscription Identifier comes with the message [MQTT-3.3.4-3] [MQTT-3.3.4-4]',
    T,
    async () => {
      a.clear()
      b.clear()
      await a.connect({ cleanStart: true })
      a.subscribe([topics[0]], [{ qos: 2 }], { subscriptionIdentifier: 456789 })
      await a.waitFor(a.subscribeds, 1, 3000)
      await b.connect({ cleanStart: true })
      b.subscribe([topics[0]], [{ qos: 2 }], { subscriptionIdentifier: 2 })
      b.subscribe([`${topics[0]}/#`], [{ qos: 2 }], { subscriptionIdentifier: 3 })
      b.publish(topics[0], 'sub identifier test', 1)

      await a.waitFor(a.messages, 1, 3000)
      assert.equal(a.messages.length, 1, JSON.stringify(a.messages))
      const ids = (m: (typeof a.messages)[0]): number[] => {
        const s = m.properties.subscriptionIdentifier
        return s === undefined ? [] : Array.isArray(s) ? s : [s]
      }
      assert.equal(ids(a.messages[0]!)[0], 456789)
      await a.disconnect()

      await b.waitFor(b.messages, 1, 3000)
      assert.equal(b.messages.length, 1, JSON.stringify(b.messages))
      assert.deepEqual(ids(b.messages[0]!).sort(), [2, 3])
      await b.disconnect()
    },
  )

  test(
    'test_subscribe_options: No Local, Retain As Published and Retain Handling 0/1/2 [MQTT-3.8.3-3] [MQTT-3.3.1-12] [MQTT-3.3.1-13] [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]',
    T,
    async () => {
      a.clear()
      b.clear()
      // No Local
      await a.connect({ cleanStart: true })
      await b.connect({ cleanStart: true })
      a.subscribe([topics[0]], [{ qos: 2, nl: true }])
      await a.waitFor(a.subscribeds, 1, 3000)
      b.subscribe([topics[0]], [{ qos: 2, nl: true }])
      await b.waitFor(b.subscribeds, 1, 3000)
      a.publish(topics[0], 'noLocal test', 1)
      await b.waitFor(b.messages, 1, 3000)
      await sleep(300)
      assert.equal(a.messages.length, 0, 'no message back to its own publisher')
      assert.equal(b.messages.length, 1)
      await a.disconnect()
      await b.disconnect()
      a.clear()
      b.clear()

      // Retain As Published
      await a.connect({ cleanStart: true })
      a.subscribe([topics[0]], [{ qos: 2, rap: true }])
      await a.waitFor(a.subscribeds, 1, 3000)
      a.publish(topics[0], 'retain as published false', 1, false)
      a.publish(topics[0], 'retain as published true', 1, true)
      await a.waitFor(a.messages, 2, 3000)
      await sleep(300)
      assert.equal(a.messages.length, 2, JSON.stringify(a.messages))
      await a.disconnect()
      assert.equal(a.messages[0]!.retained, false)
      assert.equal(a.messages[1]!.retained, true)

      // Retain Handling 1: retained messages only for a new subscription
      a.clear()
      await a.connect({ cleanStart: true })
      a.publish(topics[1], 'qos 0', 0, true)
      a.publish(topics[2], 'qos 1', 1, true)
      a.publish(topics[3], 'qos 2', 2, true)
      await sleep(500)
      a.subscribe([W5], [{ qos: 2, rh: 1 }])
      await a.waitFor(a.messages, 3, 1000)
      await sleep(200)
      assert.equal(a.messages.length, 3, JSON.stringify(a.messages))
      assert.deepEqual(qosSet(a.messages), QOS_ALL)
      a.clear()
      a.subscribe([W5], [{ qos: 2, rh: 1 }])
      await sleep(500)
      assert.equal(a.messages.length, 0, 'not again for an existing subscription')
      await a.disconnect()

      // Retain Handling 2: never
      a.clear()
      await a.connect({ cleanStart: true })
      a.subscribe([W5], [{ qos: 2, rh: 2 }])
      await sleep(500)
      assert.equal(a.messages.length, 0)
      a.subscribe([W5], [{ qos: 2, rh: 2 }])
      await sleep(500)
      assert.equal(a.messages.length, 0)
      await a.disconnect()

      // Retain Handling 0: on every SUBSCRIBE
      a.clear()
      await a.connect({ cleanStart: true })
      a.subscribe([W5], [{ qos: 2, rh: 0 }])
      await a.waitFor(a.messages, 3, 1000)
      await sleep(200)
      assert.equal(a.messages.length, 3)
      assert.deepEqual(qosSet(a.messages), QOS_ALL)
      a.clear()
      a.subscribe([W5], [{ qos: 2, rh: 0 }])
      await a.waitFor(a.messages, 3, 1000)
      await sleep(200)
      assert.equal(a.messages.length, 3)
      assert.deepEqual(qosSet(a.messages), QOS_ALL)
      await a.disconnect()
      await cleanRetained()
    },
  )

  test('test_unsubscribe: an unsubscribed filter receives nothing more [MQTT-3.10.4-1]', T, async () => {
    b.clear()
    await b.connect({ cleanStart: true })
    b.subscribe([topics[0]], [{ qos: 2 }])
    b.subscribe([topics[1]], [{ qos: 2 }])
    b.subscribe([topics[2]], [{ qos: 2 }])
    await b.waitFor(b.subscribeds, 3, 1000)
    b.unsubscribe([topics[0]])
    await b.waitFor(b.unsubscribeds, 1, 1000)
    b.clear()
    await a.connect({ cleanStart: true })
    a.publish(topics[0], 'topic 0 - unsubscribed', 1)
    a.publish(topics[1], 'topic 1', 1)
    a.publish(topics[2], 'topic 2', 1)
    await b.waitFor(b.messages, 3, 2000)
    await b.disconnect()
    await a.disconnect()
    assert.equal(b.messages.length, 2, JSON.stringify(b.messages.map((m) => m.topic)))
  })

  test(
    'test_user_properties: user properties are forwarded, in order [MQTT-3.3.2-17] [MQTT-3.3.2-18]',
    T,
    async () => {
      a.clear()
      await a.connect({ cleanStart: true })
      a.subscribe([topics[0]], [{ qos: 2 }])
      const props: PublishProperties = { userProperties: { a: '2', c: '3' } }
      for (const qos of [0, 1, 2] as const) a.publish(topics[0], '', qos, false, props)
      await a.waitFor(a.messages, 3, 5000)
      await a.disconnect()
      assert.equal(a.messages.length, 3, JSON.stringify(a.messages))
      for (const m of a.messages) assert.ok(hasAB(m.properties), JSON.stringify(m.properties))
      assert.deepEqual(qosSet(a.messages), QOS_ALL)
    },
  )

  test(
    'test_will_delay: the will goes at the earlier of Will Delay Interval and session end [MQTT-3.1.2-8] [MQTT-3.1.3-9]',
    T,
    async () => {
      // [will delay, session expiry, expected seconds after the connection drops]
      const cases: [number, number, number][] = [
        [3, 5, 4],
        [5, 0, 1],
        [5, 2, 3],
      ]
      for (const [willDelayInterval, sessionExpiryInterval, expected] of cases) {
        a.clear()
        b.clear()
        const connack = await a.connect({
          cleanStart: true,
          properties: { sessionExpiryInterval },
          will: {
            topic: topics[0],
            payload: 'test_will_delay will message',
            properties: { willDelayInterval },
          },
        })
        assert.equal(connack.sessionPresent, false)
        await b.connect({ cleanStart: true })
        b.subscribe([topics[0]], [{ qos: 2 }])
        await b.waitFor(b.subscribeds, 1, 3000)
        a.terminate()
        const start = Date.now()
        await b.waitFor(b.messages, 1, (expected + 3) * 1000)
        const seconds = (Date.now() - start) / 1000
        assert.equal(
          b.messages.length,
          1,
          `no will within ${expected + 3} s (delay ${willDelayInterval}, expiry ${sessionExpiryInterval})`,
        )
        assert.ok(
          Math.abs(seconds - expected) <= 1,
          `will after ${seconds} s, expected ${expected} ± 1 (delay ${willDelayInterval}, expiry ${sessionExpiryInterval})`,
        )
        assert.equal(b.messages[0]!.topic, topics[0])
        assert.equal(b.messages[0]!.payload.toString(), 'test_will_delay will message')
        await b.disconnect()
      }
    },
  )

  test(
    'test_will_message: the will, with its user properties in order, after a keep-alive timeout [MQTT-3.1.2-22] [MQTT-3.3.2-18]',
    T,
    async () => {
      a.clear()
      b.clear()
      await a.connect({
        cleanStart: true,
        keepalive: 2,
        will: {
          topic: topics[2],
          payload: 'will message',
          properties: { willDelayInterval: 0, userProperties: { a: '2', c: '3' } },
        },
      })
      await b.connect({ cleanStart: false })
      b.subscribe([topics[2]], [{ qos: 2 }])
      await b.waitFor(b.subscribeds, 1, 3000)
      await b.waitFor(b.messages, 1, 10_000)
      await b.disconnect()
      assert.equal(b.messages.length, 1, JSON.stringify(b.messages))
      assert.deepEqual(userPairs(b.messages[0]!.properties.userProperties), [
        ['a', '2'],
        ['c', '3'],
      ])
    },
  )

  test(
    'test_zero_length_clientid: a zero-length client id is accepted with Clean Start 0 or 1 [MQTT-3.1.3-6]',
    T,
    async () => {
      const c0 = new PahoPeer('', port)
      await c0.connect({ cleanStart: false })
      await c0.disconnect()
      await c0.connect({ cleanStart: true })
      await c0.disconnect()
    },
  )
})
