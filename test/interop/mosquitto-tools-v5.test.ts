/**
 * mosquitto_pub / mosquitto_sub -V mqttv5 against Petrel, both ways: the properties
 * mosquitto_pub sends with -D reach an MQTT.js v5 subscriber; those an MQTT.js v5 publisher
 * sends are printed by mosquitto_sub -F; subscription identifiers, message expiry while
 * stored, session expiry across a reconnect, and a will with properties.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Broker } from '../../src/broker/broker.js'
import {
  findBinary,
  mosquittoClientsSkip,
  mosquittoPub,
  mosquittoSub,
  type SubOptions,
  type SubResult,
} from '../helpers/mosquitto.js'
import { connectMqttJs, type MqttJsPeer } from '../helpers/mqttjs.js'
import { LOOPBACK } from '../helpers/net.js'

const T = { timeout: 15_000 }
const V5 = ['-V', 'mqttv5']

describe('mosquitto_pub / mosquitto_sub -V mqttv5 against Petrel', { skip: mosquittoClientsSkip() }, () => {
  let broker: Broker
  let port: number
  const peers: MqttJsPeer[] = []
  const subscriptions = new Map<string, number>()

  before(async () => {
    broker = new Broker({ sysInterval: 0 })
    ;({ port } = await broker.listen({ port: 0, host: LOOPBACK }))
    broker.on('subscribed', (subs: { topic: string }[]) => {
      for (const s of subs) subscriptions.set(s.topic, (subscriptions.get(s.topic) ?? 0) + 1)
    })
  })
  after(async () => {
    for (const p of peers) p.client.end(true)
    await broker.close()
  })

  let n = 0
  const fresh = (what: string): string => `tools5/${process.pid}/${++n}/${what}`
  const v5 = async (): Promise<MqttJsPeer> => {
    const p = await connectMqttJs(port, { protocolVersion: 5 })
    peers.push(p)
    return p
  }
  async function subscribedTo(filter: string, count = 1): Promise<void> {
    const deadline = Date.now() + 5000
    while ((subscriptions.get(filter) ?? 0) < count) {
      if (Date.now() > deadline) throw new Error(`no SUBSCRIBE for ${filter}`)
      await sleep(10)
    }
  }
  /** mosquitto_sub, once Petrel has its subscription (wrapped: an async function would wait for `done` itself). */
  async function startSub(options: SubOptions): Promise<{ done: Promise<SubResult> }> {
    const before = subscriptions.get(options.topics[0]!) ?? 0
    const done = mosquittoSub(port, { waitSeconds: 10, ...options })
    done.catch(() => {})
    await Promise.race([subscribedTo(options.topics[0]!, before + 1), done])
    return { done }
  }

  test(
    'the properties of mosquitto_pub -D reach an MQTT.js v5 subscriber, user properties in order [MQTT-3.3.2-17] [MQTT-3.3.2-18]',
    T,
    async () => {
      const t = fresh('from-mosquitto')
      const sub = await v5()
      await sub.client.subscribeAsync(t, { qos: 2 })
      for (const qos of ['0', '1', '2']) {
        await mosquittoPub(port, [
          ...V5,
          '-t',
          t,
          '-q',
          qos,
          '-m',
          `q${qos}`,
          ...['-D', 'publish', 'content-type', 'text/plain'],
          ...['-D', 'publish', 'payload-format-indicator', '1'],
          ...['-D', 'publish', 'message-expiry-interval', '120'],
          ...['-D', 'publish', 'response-topic', `${t}/reply`],
          ...['-D', 'publish', 'correlation-data', 'cd-1'],
          ...['-D', 'publish', 'user-property', 'x', '1'],
          ...['-D', 'publish', 'user-property', 'y', '2'],
        ])
      }
      const got = await sub.inbox.take(3)
      assert.deepEqual(got.map((m) => m.payload.toString()).sort(), ['q0', 'q1', 'q2'])
      for (const m of got) {
        const p = m.properties ?? {}
        assert.equal(p.contentType, 'text/plain')
        assert.equal(p.payloadFormatIndicator, true)
        assert.ok(
          p.messageExpiryInterval === 120 || p.messageExpiryInterval === 119,
          String(p.messageExpiryInterval),
        )
        assert.equal(p.responseTopic, `${t}/reply`)
        assert.deepEqual(p.correlationData, Buffer.from('cd-1'))
        assert.deepEqual(Object.entries(p.userProperties ?? {}), [
          ['x', '1'],
          ['y', '2'],
        ])
      }
    },
  )

  test(
    'mosquitto_sub -V mqttv5 -F prints the properties an MQTT.js v5 publisher sent, with its Subscription Identifier [MQTT-3.3.4-3]',
    T,
    async () => {
      const t = fresh('to-mosquitto')
      const { done } = await startSub({
        topics: [t],
        count: 1,
        qos: 1,
        args: [...V5, '-D', 'subscribe', 'subscription-identifier', '77', '-F', '%t|%C|%D|%F|%P|%R|%S|%p|%q'],
      })
      const pub = await v5()
      await pub.client.publishAsync(t, 'hello', {
        qos: 1,
        properties: {
          contentType: 'text/plain',
          correlationData: Buffer.from('id-9'),
          payloadFormatIndicator: true,
          responseTopic: 'answers/here',
          userProperties: { k: 'v' },
        },
      })
      assert.deepEqual((await done).lines, [`${t}|text/plain|id-9|1|k:v|answers/here|77|hello|1`])
    },
  )

  test(
    'a retained message with a Message Expiry Interval is gone for mosquitto_sub after it expires [MQTT-3.3.2-5]',
    T,
    async () => {
      const t = fresh('expiring')
      await mosquittoPub(port, [
        ...V5,
        '-t',
        t,
        '-r',
        '-q',
        '1',
        '-m',
        'soon gone',
        '-D',
        'publish',
        'message-expiry-interval',
        '1',
      ])
      const fresh1 = await mosquittoSub(port, {
        topics: [t],
        count: 1,
        waitSeconds: 5,
        args: [...V5, '-F', '%p %E'],
      })
      assert.equal(fresh1.lines.length, 1)
      assert.match(fresh1.lines[0]!, /^soon gone [01]$/)
      await sleep(2100)
      const late = await mosquittoSub(port, {
        topics: [t],
        count: 1,
        waitSeconds: 1,
        allowFailure: true,
        args: V5,
      })
      assert.deepEqual(late.lines, [], 'the expired retained message is not sent')
    },
  )

  test(
    'mosquitto_sub -V mqttv5 -c with a Session Expiry Interval gets the messages queued while it was away [MQTT-3.1.2-23]',
    T,
    async () => {
      const t = fresh('session')
      const id = `tools5-${process.pid}`
      const args = [...V5, '-c', '-i', id, '-x', '60']
      await mosquittoSub(port, {
        topics: [t],
        count: 1,
        qos: 1,
        waitSeconds: 1,
        allowFailure: true,
        args: [...args, '-E'],
      })
      const pub = await v5()
      await pub.client.publishAsync(t, 'while away', {
        qos: 1,
        properties: { userProperties: { kept: 'yes' } },
      })
      const again = await mosquittoSub(port, {
        topics: [t],
        count: 1,
        qos: 1,
        args: [...args, '-F', '%p %P'],
      })
      assert.deepEqual(again.lines, ['while away kept:yes'])
    },
  )

  test(
    'the will of a killed mosquitto_sub -V mqttv5, with its -D will properties, reaches an MQTT.js v5 subscriber [MQTT-3.1.3-10]',
    T,
    async () => {
      const t = fresh('will')
      const watcher = await v5()
      await watcher.client.subscribeAsync(t, { qos: 1 })
      const bin = findBinary('mosquitto_sub')
      assert.ok(bin)
      const before = subscriptions.get(`${t}/x`) ?? 0
      const child = spawn(
        bin,
        [
          ...['-h', LOOPBACK, '-p', String(port)],
          ...V5,
          ...['-t', `${t}/x`, '--will-topic', t, '--will-payload', 'gone', '--will-qos', '1'],
          ...[
            '-D',
            'will',
            'content-type',
            'text/plain',
            '-D',
            'will',
            'user-property',
            'who',
            'mosquitto_sub',
          ],
        ],
        { stdio: 'ignore' },
      )
      try {
        await subscribedTo(`${t}/x`, before + 1)
      } finally {
        child.kill('SIGKILL')
      }
      const [m] = await watcher.inbox.take(1, 5000)
      assert.equal(m!.payload.toString(), 'gone')
      assert.equal(m!.properties?.contentType, 'text/plain')
      assert.deepEqual({ ...m!.properties?.userProperties }, { who: 'mosquitto_sub' })
    },
  )
})
