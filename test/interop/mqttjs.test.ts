/**
 * MQTT.js 5 (MQTT 3.1.1) as the client, Petrel as the broker: QoS flows, retained
 * messages, wills, persistent sessions, unsubscribe and wildcards.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../src/broker/broker.js'
import {
  connectMqttJs,
  describeMessages,
  type MqttJsPeer,
  type QoS,
  type Received,
} from '../helpers/mqttjs.js'
import { LOOPBACK } from '../helpers/net.js'

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

async function peer(options: Parameters<typeof connectMqttJs>[1] = {}): Promise<MqttJsPeer> {
  const p = await connectMqttJs(port, options)
  peers.push(p)
  return p
}

let topics = 0
/** A topic prefix no other test uses, so retained messages and subscriptions never leak between tests. */
function fresh(name: string): string {
  return `mqttjs/${++topics}/${name}`
}

const QOS: QoS[] = [0, 1, 2]
/** Every test is bounded, so a broker that stops answering fails the test instead of hanging the run. */
const T = { timeout: 10_000 }

function text(m: Received): string {
  return m.payload.toString('utf8')
}

/**
 * Publishes a QoS 0 marker on `marker` (which `sub` must be subscribed to) and waits
 * for it. The broker keeps one ordered output queue per client, so every PUBLISH it
 * meant for `sub` before the marker is on the wire by then. Returns those PUBLISH
 * packets (since wire index `from`), and drops the application messages taken.
 */
async function sentBefore(
  pub: MqttJsPeer,
  sub: MqttJsPeer,
  marker: string,
  from: number,
): Promise<Received[]> {
  await pub.client.publishAsync(marker, 'marker', { qos: 0 })
  for (;;) {
    const m = await sub.inbox.next()
    if (m.topic === marker) break
  }
  return sub.inbox.wire.slice(from).filter((m) => m.topic !== marker)
}

describe('QoS: MQTT.js publishing and subscribing through Petrel', () => {
  for (const pubQos of QOS) {
    for (const subQos of QOS) {
      const want = Math.min(pubQos, subQos) as QoS
      test(
        `a QoS ${pubQos} publish to a QoS ${subQos} subscription arrives once, at QoS ${want} [MQTT-3.8.4-6]`,
        T,
        async () => {
          const t = fresh(`q${pubQos}${subQos}`)
          const marker = `${t}/marker`
          const sub = await peer()
          const pub = await peer()
          const granted = await sub.client.subscribeAsync([t, marker], { qos: subQos })
          // [MQTT-3.9.3-1] one return code per filter; Petrel grants the QoS asked for
          assert.deepEqual(
            granted.map((g) => g.qos),
            [subQos, subQos],
          )
          // publishAsync resolves on PUBACK (QoS 1) or PUBCOMP (QoS 2) [MQTT-4.3.2-2] [MQTT-4.3.3-2]
          await pub.client.publishAsync(t, `payload ${pubQos}`, { qos: pubQos })
          const m = await sub.inbox.next()
          assert.equal(m.topic, t)
          assert.equal(text(m), `payload ${pubQos}`)
          assert.equal(m.qos, want)
          assert.equal(m.retain, false)
          assert.equal(m.dup, false) // first delivery [MQTT-3.3.1-3]
          const wire = await sentBefore(pub, sub, marker, 0)
          assert.equal(wire.length, 1, `exactly one PUBLISH: ${describeMessages(wire)}`)
          await Promise.all([sub.end(), pub.end()])
        },
      )
    }
  }

  for (const qos of QOS) {
    test(
      `200 QoS ${qos} messages from one publisher arrive in the order they were published [MQTT-4.6.0-6]`,
      T,
      async () => {
        const t = fresh(`order${qos}`)
        const sub = await peer()
        const pub = await peer()
        await sub.client.subscribeAsync(t, { qos })
        const sent = Array.from({ length: 200 }, (_, i) => `m${i}`)
        await Promise.all(sent.map((p) => pub.client.publishAsync(t, p, { qos })))
        const got = await sub.inbox.take(sent.length, 5000)
        assert.deepEqual(got.map(text), sent)
        await Promise.all([sub.end(), pub.end()])
      },
    )
  }

  test('a 256 KiB binary payload and an empty payload pass through unchanged', T, async () => {
    const t = fresh('binary')
    const sub = await peer()
    const pub = await peer()
    await sub.client.subscribeAsync(t, { qos: 1 })
    const big = Buffer.alloc(256 * 1024)
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff
    await pub.client.publishAsync(t, big, { qos: 1 })
    await pub.client.publishAsync(t, Buffer.alloc(0), { qos: 1 })
    const [a, b] = await sub.inbox.take(2)
    assert.ok(a!.payload.equals(big), 'binary payload changed on the way')
    assert.equal(b!.payload.length, 0)
    await Promise.all([sub.end(), pub.end()])
  })

  test('a UTF-8 topic with non-ASCII characters round-trips [MQTT-1.5.3-1]', T, async () => {
    const t = fresh('主题/ünïcödé/🐦')
    const c = await peer()
    await c.client.subscribeAsync(t, { qos: 1 })
    // MQTT 3.1.1 has no "no local": a client receives its own messages
    await c.client.publishAsync(t, 'self', { qos: 1 })
    const m = await c.inbox.next()
    assert.equal(m.topic, t)
    assert.equal(text(m), 'self')
    await c.end()
  })

  test('a second connection with the same client id closes the first [MQTT-3.1.4-2]', T, async () => {
    const clientId = `takeover-${topics}`
    const first = await peer({ clientId })
    const closed = new Promise<void>((resolve) => first.client.stream.once('close', () => resolve()))
    const second = await peer({ clientId })
    await closed
    assert.equal(second.client.connected, true)
    await second.end()
  })
})

describe('retained messages', () => {
  test('a new subscriber receives the retained message with RETAIN 1 [MQTT-3.3.1-6]', T, async () => {
    const t = fresh('r')
    const pub = await peer()
    await pub.client.publishAsync(t, 'kept', { qos: 1, retain: true })
    const sub = await peer()
    await sub.client.subscribeAsync(t, { qos: 1 })
    const m = await sub.inbox.next()
    assert.equal(text(m), 'kept')
    assert.equal(m.retain, true)
    assert.equal(m.qos, 1)
    await Promise.all([sub.end(), pub.end()])
  })

  test('a live subscriber receives a retained publish with RETAIN 0 [MQTT-3.3.1-9]', T, async () => {
    const t = fresh('r')
    const sub = await peer()
    const pub = await peer()
    await sub.client.subscribeAsync(t, { qos: 2 })
    await pub.client.publishAsync(t, 'live', { qos: 2, retain: true })
    const m = await sub.inbox.next()
    assert.equal(text(m), 'live')
    assert.equal(m.retain, false)
    await Promise.all([sub.end(), pub.end()])
  })

  test(
    'a new retained message replaces the previous one, also at QoS 0 [MQTT-3.3.1-5] [MQTT-3.3.1-7]',
    T,
    async () => {
      const t = fresh('r')
      const marker = `${t}/marker`
      const pub = await peer()
      await pub.client.publishAsync(t, 'first', { qos: 1, retain: true })
      await pub.client.publishAsync(t, 'second', { qos: 0, retain: true })
      const sub = await peer()
      await sub.client.subscribeAsync([t, marker], { qos: 1 })
      const wire = await sentBefore(pub, sub, marker, 0)
      assert.deepEqual(wire.map(text), ['second'])
      assert.equal(wire[0]!.retain, true)
      assert.equal(wire[0]!.qos, 0)
      await Promise.all([sub.end(), pub.end()])
    },
  )

  test(
    'an empty retained message is delivered to live subscribers, clears the topic, and is not stored [MQTT-3.3.1-10] [MQTT-3.3.1-11]',
    T,
    async () => {
      const t = fresh('r')
      const marker = `${t}/marker`
      const pub = await peer()
      const live = await peer()
      await live.client.subscribeAsync(t, { qos: 1 })
      await pub.client.publishAsync(t, 'doomed', { qos: 1, retain: true })
      await pub.client.publishAsync(t, '', { qos: 1, retain: true })
      const got = await live.inbox.take(2)
      assert.deepEqual(got.map(text), ['doomed', ''])
      const late = await peer()
      await late.client.subscribeAsync([t, marker], { qos: 1 })
      assert.deepEqual(await sentBefore(pub, late, marker, 0), [], 'nothing retained after the clear')
      await Promise.all([late.end(), live.end(), pub.end()])
    },
  )

  test(
    'a retained message is delivered at the lower of its QoS and the granted QoS [MQTT-3.8.4-6]',
    T,
    async () => {
      const t = fresh('r')
      const pub = await peer()
      await pub.client.publishAsync(t, 'q1', { qos: 1, retain: true })
      for (const [granted, want] of [
        [0, 0],
        [1, 1],
        [2, 1],
      ] as const) {
        const sub = await peer()
        await sub.client.subscribeAsync(t, { qos: granted })
        const m = await sub.inbox.next()
        assert.equal(m.qos, want, `granted QoS ${granted}`)
        assert.equal(m.retain, true)
        await sub.end()
      }
      await pub.end()
    },
  )

  test(
    'a wildcard subscription receives every matching retained message, and repeating it sends them again [MQTT-3.8.4-3]',
    T,
    async () => {
      const t = fresh('tree')
      const pub = await peer()
      await pub.client.publishAsync(`${t}/a`, 'A', { qos: 1, retain: true })
      await pub.client.publishAsync(`${t}/b/c`, 'BC', { qos: 2, retain: true })
      await pub.client.publishAsync(`${t}/b`, 'B', { qos: 0, retain: false })
      const sub = await peer()
      await sub.client.subscribeAsync(`${t}/#`, { qos: 2 })
      const first = await sub.inbox.take(2)
      assert.deepEqual(first.map((m) => `${m.topic}=${text(m)}:${m.retain}`).sort(), [
        `${t}/a=A:true`,
        `${t}/b/c=BC:true`,
      ])
      await sub.client.subscribeAsync(`${t}/#`, { qos: 2 })
      const again = await sub.inbox.take(2)
      assert.deepEqual(again.map(text).sort(), ['A', 'BC'])
      await Promise.all([sub.end(), pub.end()])
    },
  )
})

describe('wills', () => {
  for (const qos of QOS) {
    test(
      `an abnormal close publishes a QoS ${qos} retained will: live subscribers get it with RETAIN 0, new ones with RETAIN 1 [MQTT-3.1.2-8] [MQTT-3.1.2-17]`,
      T,
      async () => {
        const t = fresh(`will${qos}`)
        const sub = await peer()
        await sub.client.subscribeAsync(t, { qos: 2 })
        const dying = await peer({
          will: { topic: t, payload: Buffer.from(`gone ${qos}`), qos, retain: true },
        })
        await dying.drop()
        const m = await sub.inbox.next()
        assert.equal(text(m), `gone ${qos}`)
        assert.equal(m.qos, qos)
        assert.equal(m.retain, false) // [MQTT-3.3.1-9]
        const late = await peer()
        await late.client.subscribeAsync(t, { qos: 2 })
        const r = await late.inbox.next()
        assert.equal(text(r), `gone ${qos}`)
        assert.equal(r.qos, qos)
        assert.equal(r.retain, true)
        await Promise.all([sub.end(), late.end()])
      },
    )
  }

  test('a will with RETAIN 0 is delivered but not retained [MQTT-3.1.2-16]', T, async () => {
    const t = fresh('will')
    const marker = `${t}/marker`
    const sub = await peer()
    await sub.client.subscribeAsync(t, { qos: 1 })
    const dying = await peer({ will: { topic: t, payload: 'bye', qos: 1, retain: false } })
    await dying.drop()
    assert.equal(text(await sub.inbox.next()), 'bye')
    const late = await peer()
    await late.client.subscribeAsync([t, marker], { qos: 1 })
    assert.deepEqual(await sentBefore(sub, late, marker, 0), [])
    await Promise.all([sub.end(), late.end()])
  })

  test('a clean DISCONNECT discards the will [MQTT-3.1.2-10] [MQTT-3.14.4-3]', T, async () => {
    const t = fresh('will')
    const marker = `${t}/marker`
    const sub = await peer()
    await sub.client.subscribeAsync([t, marker], { qos: 1 })
    const leaving = await peer({ will: { topic: t, payload: 'should not appear', qos: 1, retain: true } })
    const disconnected = new Promise<void>((resolve) => broker.once('clientDisconnected', () => resolve()))
    await leaving.end()
    await disconnected
    assert.deepEqual(await sentBefore(sub, sub, marker, 0), [])
    await sub.end()
  })
})

describe('persistent sessions (clean session 0)', () => {
  test(
    'messages published while the client is away arrive on reconnect in order, with session present 1 [MQTT-3.1.2-4] [MQTT-3.2.2-2]',
    T,
    async () => {
      const t = fresh('persist')
      const clientId = `persist-${topics}`
      const first = await peer({ clientId, clean: false })
      assert.equal(first.connack.sessionPresent, false) // [MQTT-3.2.2-3] no session stored yet
      await first.client.subscribeAsync(`${t}/#`, { qos: 2 })
      await first.end()

      const pub = await peer()
      const sent: { topic: string; payload: string; qos: QoS }[] = []
      for (let i = 0; i < 10; i++) {
        const qos: QoS = i % 2 === 0 ? 1 : 2
        sent.push({ topic: `${t}/${i % 3}`, payload: `offline ${i}`, qos })
      }
      for (const s of sent) await pub.client.publishAsync(s.topic, s.payload, { qos: s.qos })

      const back = await peer({ clientId, clean: false })
      assert.equal(back.connack.sessionPresent, true)
      const got = await back.inbox.take(sent.length)
      // The broker sent them in publish order; MQTT.js hands a QoS 2 message over only at PUBREL.
      assert.deepEqual(
        back.inbox.wire.map((m) => ({ topic: m.topic, payload: text(m), qos: m.qos })),
        sent,
      )
      for (const qos of [1, 2] as const) {
        assert.deepEqual(
          got.filter((m) => m.qos === qos).map(text),
          sent.filter((s) => s.qos === qos).map((s) => s.payload),
        )
      }
      // The subscription is part of the session: no SUBSCRIBE needed for live messages either.
      await pub.client.publishAsync(`${t}/live`, 'live', { qos: 1 })
      assert.equal(text(await back.inbox.next()), 'live')
      await Promise.all([back.end(), pub.end()])
    },
  )

  test(
    'an unacknowledged QoS 1 message is re-sent with DUP 1 and the same packet id on reconnect [MQTT-4.4.0-1] [MQTT-3.3.1-1]',
    T,
    async () => {
      const t = fresh('redeliver')
      const clientId = `redeliver-${topics}`
      const stuck = await peer({ clientId, clean: false })
      // MQTT.js sends PUBACK when handleMessage calls back; this one never does
      stuck.client.handleMessage = () => {}
      await stuck.client.subscribeAsync(t, { qos: 1 })
      const pub = await peer()
      await pub.client.publishAsync(t, 'unacked', { qos: 1 })
      const deadline = Date.now() + 3000
      while (stuck.inbox.wire.length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 10))
      const original = stuck.inbox.wire[0]
      assert.ok(original !== undefined, 'the first delivery never arrived')
      assert.equal(original.dup, false)
      await stuck.drop()

      const back = await peer({ clientId, clean: false })
      assert.equal(back.connack.sessionPresent, true)
      const m = await back.inbox.next()
      assert.equal(text(m), 'unacked')
      assert.equal(m.dup, true)
      assert.equal(m.messageId, original.messageId)
      await Promise.all([back.end(), pub.end()])
    },
  )

  test('connecting with clean session 1 discards the stored session [MQTT-3.1.2-6]', T, async () => {
    const t = fresh('discard')
    const marker = `${t}/marker`
    const clientId = `discard-${topics}`
    const persistent = await peer({ clientId, clean: false })
    await persistent.client.subscribeAsync(t, { qos: 1 })
    await persistent.end()

    const clean = await peer({ clientId, clean: true })
    assert.equal(clean.connack.sessionPresent, false) // [MQTT-3.2.2-1]
    await clean.client.subscribeAsync(marker, { qos: 1 })
    const pub = await peer()
    await pub.client.publishAsync(t, 'to the old session', { qos: 1 })
    assert.deepEqual(await sentBefore(pub, clean, marker, 0), [], 'the old subscription is gone')
    await clean.end()

    const again = await peer({ clientId, clean: false })
    assert.equal(again.connack.sessionPresent, false, 'the clean session was not kept')
    await Promise.all([again.end(), pub.end()])
  })
})

describe('unsubscribe', () => {
  test(
    'after UNSUBACK no further messages arrive for the filter [MQTT-3.10.4-2] [MQTT-3.10.4-4]',
    T,
    async () => {
      const t = fresh('unsub')
      const marker = `${t}/marker`
      const sub = await peer()
      const pub = await peer()
      await sub.client.subscribeAsync([t, marker], { qos: 1 })
      await pub.client.publishAsync(t, 'before', { qos: 1 })
      assert.equal(text(await sub.inbox.next()), 'before')
      await sub.client.unsubscribeAsync(t)
      const from = sub.inbox.wire.length
      await pub.client.publishAsync(t, 'after', { qos: 1 })
      assert.deepEqual(await sentBefore(pub, sub, marker, from), [])
      await Promise.all([sub.end(), pub.end()])
    },
  )

  test(
    'unsubscribing compares filters character by character: removing a/+ leaves a/# [MQTT-3.10.4-1]',
    T,
    async () => {
      const t = fresh('unsub')
      const sub = await peer()
      const pub = await peer()
      await sub.client.subscribeAsync([`${t}/+`, `${t}/#`], { qos: 1 })
      await sub.client.unsubscribeAsync(`${t}/+`)
      await pub.client.publishAsync(`${t}/x`, 'still', { qos: 1 })
      assert.equal(text(await sub.inbox.next()), 'still')
      await Promise.all([sub.end(), pub.end()])
    },
  )

  test(
    'unsubscribing a filter that was never subscribed is still acknowledged [MQTT-3.10.4-5]',
    T,
    async () => {
      const c = await peer()
      await c.client.unsubscribeAsync(fresh('never'))
      await c.end()
    },
  )
})

describe('wildcards', () => {
  async function routed(filter: string, topicsToPublish: string[]): Promise<string[]> {
    const marker = fresh('marker')
    const sub = await peer()
    const pub = await peer()
    await sub.client.subscribeAsync([filter, marker], { qos: 1 })
    for (const t of topicsToPublish) await pub.client.publishAsync(t, t, { qos: 1 })
    const wire = await sentBefore(pub, sub, marker, 0)
    await Promise.all([sub.end(), pub.end()])
    return wire.map((m) => m.topic)
  }

  test('+ matches exactly one level, an empty one included [MQTT-4.7.1-3]', T, async () => {
    const t = fresh('plus')
    const got = await routed(`${t}/+/x`, [`${t}/a/x`, `${t}//x`, `${t}/a/b/x`, `${t}/x`, `${t}/a/y`])
    assert.deepEqual(got, [`${t}/a/x`, `${t}//x`])
  })

  test('# matches the parent level and every level below it [MQTT-4.7.1-2]', T, async () => {
    const t = fresh('hash')
    const got = await routed(`${t}/#`, [t, `${t}/a`, `${t}/a/b/c`, `${t}x`, `${t}x/a`])
    assert.deepEqual(got, [t, `${t}/a`, `${t}/a/b/c`])
  })

  test(
    'filters starting with a wildcard do not match $SYS topics; $SYS/# does [MQTT-4.7.2-1]',
    T,
    async () => {
      const hash = await peer()
      const plus = await peer()
      const sys = await peer()
      await hash.client.subscribeAsync('#', { qos: 0 })
      await plus.client.subscribeAsync('+/petrel-interop/#', { qos: 0 })
      await sys.client.subscribeAsync('$SYS/petrel-interop/#', { qos: 0 })
      const marker = fresh('sys-marker')
      const fromHash = hash.inbox.wire.length
      broker.publish({ topic: '$SYS/petrel-interop/probe', payload: 'x' })
      const m = await sys.inbox.next()
      assert.equal(m.topic, '$SYS/petrel-interop/probe')
      await plus.client.subscribeAsync(marker, { qos: 0 })
      const seenByHash = (await sentBefore(sys, hash, marker, fromHash)).filter((w) =>
        w.topic.startsWith('$'),
      )
      assert.deepEqual(seenByHash, [])
      assert.deepEqual(await sentBefore(sys, plus, marker, 0), [])
      await Promise.all([hash.end(), plus.end(), sys.end()])
    },
  )

  test(
    'overlapping subscriptions deliver the message at the highest granted QoS [MQTT-3.3.5-1]',
    T,
    async () => {
      const t = fresh('overlap')
      const marker = `${t}/marker`
      const sub = await peer()
      const pub = await peer()
      await sub.client.subscribeAsync({
        [`${t}/+`]: { qos: 0 },
        [`${t}/#`]: { qos: 2 },
        [marker]: { qos: 0 },
      })
      await pub.client.publishAsync(`${t}/x`, 'both', { qos: 2 })
      const wire = await sentBefore(pub, sub, marker, 0)
      assert.ok(wire.length >= 1, 'not delivered')
      assert.equal(Math.max(...wire.map((m) => m.qos)), 2)
      await Promise.all([sub.end(), pub.end()])
    },
  )
})
