/**
 * The Mosquitto command-line clients against Petrel, in both directions:
 * mosquitto_sub receives what MQTT.js (or hand-written bytes) publish, and
 * MQTT.js receives what mosquitto_pub publishes.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../src/broker/broker.js'
import {
  mosquittoClientsSkip,
  mosquittoPub,
  mosquittoSub,
  type SubOptions,
  type SubResult,
} from '../helpers/mosquitto.js'
import { connectMqttJs, type MqttJsPeer, type QoS } from '../helpers/mqttjs.js'
import { LOOPBACK } from '../helpers/net.js'

const QOS: QoS[] = [0, 1, 2]
/** Every test is bounded, so a broker that stops answering fails the test instead of hanging the run. */
const T = { timeout: 10_000 }
/** `mosquitto_sub -F`: QoS, retain flag, topic, payload. */
const FORMAT = ['-F', '%q %r %t %p']

describe('mosquitto_pub / mosquitto_sub against Petrel', { skip: mosquittoClientsSkip() }, () => {
  let broker: Broker
  let port: number
  const peers: MqttJsPeer[] = []

  before(async () => {
    broker = new Broker({ sysInterval: 0 })
    ;({ port } = await broker.listen({ port: 0, host: LOOPBACK }))
  })

  after(async () => {
    for (const p of peers) p.client.end(true)
    await broker.close()
  })

  async function peer(): Promise<MqttJsPeer> {
    const p = await connectMqttJs(port)
    peers.push(p)
    return p
  }

  let topics = 0
  function fresh(name: string): string {
    return `tools/${process.pid}/${++topics}/${name}`
  }

  /** Resolves when Petrel has processed a SUBSCRIBE that includes every one of `filters`. */
  function subscribed(filters: readonly string[], timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const on = (subs: { topic: string }[]): void => {
        if (filters.every((f) => subs.some((s) => s.topic === f))) {
          clearTimeout(timer)
          broker.off('subscribed', on)
          resolve()
        }
      }
      const timer = setTimeout(() => {
        broker.off('subscribed', on)
        reject(new Error(`no SUBSCRIBE for ${filters.join(', ')} within ${timeoutMs} ms`))
      }, timeoutMs)
      broker.on('subscribed', on)
    })
  }

  /** Starts mosquitto_sub and returns once Petrel has its subscription; `done` settles when it exits. */
  async function startSub(options: SubOptions): Promise<{ done: Promise<SubResult> }> {
    const ready = subscribed(options.topics)
    const done = mosquittoSub(port, options)
    done.catch(() => {}) // awaited by the caller; this only keeps an early failure from going unhandled
    await Promise.race([
      ready,
      done.then((r) => {
        throw new Error(`mosquitto_sub exited before subscribing: ${r.stderr}`)
      }),
    ])
    return { done }
  }

  describe('mosquitto_sub receiving', () => {
    for (const qos of QOS) {
      test(
        `receives a QoS ${qos} message published by MQTT.js at QoS ${qos} (subscribed at QoS 2)`,
        T,
        async () => {
          const t = fresh(`sub${qos}`)
          const sub = await startSub({ topics: [t], count: 1, qos: 2, args: FORMAT })
          const pub = await peer()
          await pub.client.publishAsync(t, `hello qos ${qos}`, { qos })
          const r = await sub.done
          // RETAIN 0 on a live forward [MQTT-3.3.1-9]
          assert.deepEqual(r.lines, [`${qos} 0 ${t} hello qos ${qos}`])
          await pub.end()
        },
      )
    }

    test('a QoS 2 message to a QoS 0 subscription arrives at QoS 0 [MQTT-3.8.4-6]', T, async () => {
      const t = fresh('downgrade')
      const sub = await startSub({ topics: [t], count: 1, qos: 0, args: FORMAT })
      const pub = await peer()
      await pub.client.publishAsync(t, 'downgraded', { qos: 2 })
      assert.deepEqual((await sub.done).lines, [`0 0 ${t} downgraded`])
      await pub.end()
    })

    test(
      '-v prints "topic payload" per message, for every topic a wildcard matches, in order',
      T,
      async () => {
        const t = fresh('verbose')
        const sub = await startSub({ topics: [`${t}/#`], count: 3, qos: 1, args: ['-v'] })
        const pub = await peer()
        await pub.client.publishAsync(`${t}/a`, 'first message', { qos: 1 })
        await pub.client.publishAsync(`${t}/b/c`, 'second', { qos: 1 })
        await pub.client.publishAsync(t, 'parent level', { qos: 1 }) // '#' matches the parent [MQTT-4.7.1-2]
        assert.deepEqual((await sub.done).lines, [
          `${t}/a first message`,
          `${t}/b/c second`,
          `${t} parent level`,
        ])
        await pub.end()
      },
    )

    test(
      'receives a retained message on subscribing, with the retain flag set [MQTT-3.3.1-6]',
      T,
      async () => {
        const t = fresh('retained')
        const pub = await peer()
        await pub.client.publishAsync(t, 'kept', { qos: 1, retain: true })
        const sub = await startSub({ topics: [t], count: 1, qos: 1, args: FORMAT })
        assert.deepEqual((await sub.done).lines, [`1 1 ${t} kept`])
        await pub.end()
      },
    )

    test('receives a PUBLISH written as raw bytes by a hand-made client', T, async () => {
      const t = fresh('raw')
      const sub = await startSub({ topics: [t], count: 1, qos: 1, args: FORMAT })
      await rawPublishQos1(port, t, 'from raw bytes')
      assert.deepEqual((await sub.done).lines, [`1 0 ${t} from raw bytes`])
    })

    test('-V mqttv31 (protocol name MQIsdp) subscribes and receives', T, async () => {
      const t = fresh('v31')
      const sub = await startSub({ topics: [t], count: 1, qos: 1, args: ['-V', 'mqttv31', '-v'] })
      const pub = await peer()
      await pub.client.publishAsync(t, 'to 3.1', { qos: 1 })
      assert.deepEqual((await sub.done).lines, [`${t} to 3.1`])
      await pub.end()
    })

    test(
      '-c resumes a persistent session: QoS 1 messages published while it was away arrive in order [MQTT-3.1.2-4]',
      T,
      async () => {
        const t = fresh('persistent')
        const id = `tools-persist-${process.pid}-${topics}`
        // -E: exit as soon as the subscription is acknowledged
        await mosquittoSub(port, { topics: [t], count: 1, qos: 1, args: ['-c', '-i', id, '-E'] })
        const pub = await peer()
        for (const p of ['one', 'two', 'three']) await pub.client.publishAsync(t, p, { qos: 1 })
        const r = await mosquittoSub(port, {
          topics: [t],
          count: 3,
          qos: 1,
          args: ['-c', '-i', id, ...FORMAT],
        })
        assert.deepEqual(r.lines, [`1 0 ${t} one`, `1 0 ${t} two`, `1 0 ${t} three`])
        await pub.end()
      },
    )
  })

  describe('mosquitto_pub publishing', () => {
    async function subscriber(filter: string): Promise<MqttJsPeer> {
      const s = await peer()
      await s.client.subscribeAsync(filter, { qos: 2 })
      return s
    }

    for (const qos of QOS) {
      test(
        `a QoS ${qos} message from mosquitto_pub reaches an MQTT.js subscriber at QoS ${qos}`,
        T,
        async () => {
          const t = fresh(`pub${qos}`)
          const s = await subscriber(t)
          // exit code 0: for QoS 1/2 it got its PUBACK / PUBCOMP
          await mosquittoPub(port, ['-t', t, '-m', `from mosquitto_pub ${qos}`, '-q', String(qos)])
          const m = await s.inbox.next()
          assert.equal(m.topic, t)
          assert.equal(m.payload.toString(), `from mosquitto_pub ${qos}`)
          assert.equal(m.qos, qos)
          assert.equal(m.retain, false)
          await s.end()
        },
      )
    }

    test(
      '-r retains the message for later subscribers; -r -n (empty) clears it [MQTT-3.3.1-10] [MQTT-3.3.1-11]',
      T,
      async () => {
        const t = fresh('retain')
        await mosquittoPub(port, ['-t', t, '-m', 'old', '-q', '1', '-r'])
        await mosquittoPub(port, ['-t', t, '-m', 'new', '-q', '1', '-r'])
        const first = await subscriber(t)
        const m = await first.inbox.next()
        assert.equal(m.payload.toString(), 'new') // replaced [MQTT-3.3.1-5]
        assert.equal(m.retain, true)
        assert.equal(m.qos, 1)

        await mosquittoPub(port, ['-t', t, '-n', '-q', '1', '-r'])
        const cleared = await first.inbox.next()
        assert.equal(cleared.payload.length, 0) // live subscribers still get the empty message
        assert.equal(cleared.retain, false)
        const marker = `${t}/marker`
        const late = await peer()
        await late.client.subscribeAsync([t, marker], { qos: 1 })
        await mosquittoPub(port, ['-t', marker, '-m', 'marker'])
        const next = await late.inbox.next()
        assert.equal(next.topic, marker, 'nothing retained may arrive before the marker')
        await Promise.all([first.end(), late.end()])
      },
    )

    for (const qos of [0, 1, 2] as const) {
      test(`-l at QoS ${qos} sends each stdin line as one message, in order`, T, async () => {
        const t = fresh(`lines${qos}`)
        const s = await subscriber(t)
        const lines = ['line one', 'line two has spaces', 'three', 'ünïcödé four']
        await mosquittoPub(port, ['-t', t, '-l', '-q', String(qos)], { input: `${lines.join('\n')}\n` })
        const got = await s.inbox.take(lines.length)
        assert.deepEqual(
          got.map((m) => m.payload.toString('utf8')),
          lines,
        )
        assert.ok(got.every((m) => m.qos === qos))
        await s.end()
      })
    }

    test('-f sends a binary file byte for byte', T, async () => {
      const t = fresh('file')
      const s = await subscriber(t)
      const bytes = Buffer.alloc(70_000)
      for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff
      const file = join(tmpdir(), `petrel-interop-${process.pid}-${topics}.bin`)
      await writeFile(file, bytes)
      await mosquittoPub(port, ['-t', t, '-f', file, '-q', '1'])
      const m = await s.inbox.next()
      assert.ok(m.payload.equals(bytes), `payload of ${m.payload.length} bytes differs`)
      await s.end()
    })

    test('-V mqttv31 publishes at QoS 2', T, async () => {
      const t = fresh('v31pub')
      const s = await subscriber(t)
      await mosquittoPub(port, ['-V', 'mqttv31', '-t', t, '-m', 'from 3.1', '-q', '2'])
      const m = await s.inbox.next()
      assert.equal(m.payload.toString(), 'from 3.1')
      assert.equal(m.qos, 2)
      await s.end()
    })

    test('-V mqttv5 connects and publishes: Petrel speaks MQTT 5', T, async () => {
      const r = await mosquittoPub(port, ['-V', 'mqttv5', '-t', fresh('v5'), '-m', 'x'], {
        allowFailure: true,
      })
      assert.equal(r.code, 0, `mosquitto_pub -V mqttv5 failed; stderr: ${r.stderr}`)
    })
    // -V mqttv5: test/interop/mosquitto-tools-v5.test.ts
  })

  describe('user name and password', () => {
    let authPort: number
    let authBroker: Broker
    before(async () => {
      authBroker = new Broker({
        sysInterval: 0,
        authenticate: (_client, username, password) =>
          username === 'alice' && password?.toString() === 's3cret',
      })
      ;({ port: authPort } = await authBroker.listen({ port: 0, host: LOOPBACK }))
    })
    after(() => authBroker.close())

    test('-u/-P with the right password is accepted', T, async () => {
      await mosquittoPub(authPort, ['-u', 'alice', '-P', 's3cret', '-t', fresh('auth'), '-m', 'ok'])
    })

    test(
      'a wrong password is refused with CONNACK 4 (bad user name or password) [MQTT-3.2.2-5]',
      T,
      async () => {
        const r = await mosquittoPub(
          authPort,
          ['-u', 'alice', '-P', 'wrong', '-t', fresh('auth'), '-m', 'no'],
          {
            allowFailure: true,
          },
        )
        assert.notEqual(r.code, 0)
        assert.match(r.stderr, /bad user ?name or password/i)
      },
    )
  })
})

/**
 * CONNECT, PUBLISH (QoS 1), wait for PUBACK, DISCONNECT, all as hand-written
 * MQTT 3.1.1 bytes over a plain socket: neither MQTT.js nor Petrel's codec involved.
 */
async function rawPublishQos1(port: number, topic: string, payload: string): Promise<void> {
  const str = (s: string): Buffer => {
    const b = Buffer.from(s, 'utf8')
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
  }
  const packet = (first: number, body: Buffer): Buffer => {
    assert.ok(body.length < 128, 'one-byte remaining length only')
    return Buffer.concat([Buffer.from([first, body.length]), body])
  }
  const connect = packet(
    0x10,
    Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 60]), str(`raw-${process.pid}`)]),
  )
  const publish = packet(0x32, Buffer.concat([str(topic), Buffer.from([0x12, 0x34]), Buffer.from(payload)]))
  const CONNACK_OK = '20020000'
  const PUBACK = '40021234'
  const DISCONNECT = Buffer.from([0xe0, 0])

  const socket = netConnect({ port, host: LOOPBACK })
  try {
    let seen = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`raw client got only ${seen} in 3000 ms`)), 3000)
      socket.once('error', reject)
      socket.once('connect', () => socket.write(Buffer.concat([connect, publish])))
      socket.on('data', (chunk: Buffer) => {
        seen += chunk.toString('hex')
        if (seen.startsWith(CONNACK_OK) && seen.includes(PUBACK)) {
          clearTimeout(timer)
          resolve()
        }
      })
    })
    socket.end(DISCONNECT)
  } finally {
    socket.destroySoon()
  }
}
