/**
 * The reshaped core as an embedder sees it: a Store whose commit answers with a
 * Promise (a networked engine), broker.publish(), hook sets given as a list, and the
 * $SYS version.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import type { ClientInfo } from '../../../src/broker/options.js'
import { PacketType } from '../../../src/protocol/index.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import { delay, startBroker } from '../../helpers/raw-client.js'

/** A memory store whose commits are done only when the test says so, like a store across a network. */
class SlowCommitStore extends MemoryStore {
  commits: { done: () => void; fail: (e: Error) => void }[] = []
  override commit(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.commits.push({ done: resolve, fail: reject })
    })
  }
  settleAll(): void {
    for (const c of this.commits.splice(0)) c.done()
  }
}

test('with a store whose commit is a Promise, no PUBACK or PUBREC leaves before the commit is done', async (t) => {
  const store = new SlowCommitStore()
  const tb = await startBroker({ store }, t)
  const sub = await tb.open()
  // the CONNACK itself waits for the commit that records the persistent session
  const connack = sub.connect({ clientId: 'slow-sub', clean: false })
  await delay(50)
  store.settleAll()
  assert.equal((await connack).returnCode, 0)
  const granted = sub.subscribe('slow/#', 1)
  await delay(20)
  store.settleAll()
  assert.deepEqual((await granted).granted, [1])

  const pub = await tb.open()
  const pubAck = pub.connect({ clientId: 'slow-pub', clean: false })
  await delay(20)
  store.settleAll()
  await pubAck
  pub.publish('slow/1', 'one', { qos: 1 })
  pub.publish('slow/2', 'two', { qos: 2 })
  // [MQTT-4.3.2-2] [MQTT-4.3.3-2] acknowledged only once durable: nothing before the commit
  await pub.nothingFor(150)
  await sub.nothingFor(1)
  assert.ok(store.commits.length > 0, 'the broker committed and is waiting')
  store.settleAll()
  const acks = [await pub.next(), await pub.next()]
  assert.deepEqual(acks.map((p) => p.type).sort(), [PacketType.PUBACK, PacketType.PUBREC])
  const got = await sub.next(PacketType.PUBLISH)
  assert.equal(got.payload.toString(), 'one')
  // the store holds the delivery the subscriber has not acknowledged yet
  const saved = store.load().sessions.find((s) => s.clientId === 'slow-sub')!
  assert.ok(saved.deliveries.some((d) => d.topic === 'slow/1'))
  // keep the rest flowing for the broker's close
  const keep = setInterval(() => store.settleAll(), 5)
  t.after(() => clearInterval(keep))
})

test('a commit that fails closes the connections waiting for it: nothing is acknowledged', async (t) => {
  const store = new SlowCommitStore()
  const tb = await startBroker({ store }, t)
  const keep = setInterval(() => store.settleAll(), 5)
  const pub = await tb.connect({ clientId: 'failing', clean: false })
  clearInterval(keep)
  pub.publish('fail/1', 'x', { qos: 1 })
  await delay(30)
  for (const c of store.commits.splice(0)) c.fail(new Error('the store is gone'))
  await pub.closed(1000, false)
  const again = setInterval(() => store.settleAll(), 5)
  t.after(() => clearInterval(again))
})

test('broker.publish() routes a message from the embedder, retained if asked, with a null client', async (t) => {
  const tb = await startBroker({}, t)
  const sub = await tb.connect()
  await sub.subscribe('embed/#', 1)
  const seen: (ClientInfo | null)[] = []
  tb.broker.on('published', (_m, c) => seen.push(c))
  tb.broker.publish({ topic: 'embed/a', payload: 'hello', qos: 1, retain: true })
  const m = await sub.next(PacketType.PUBLISH)
  assert.equal(m.topic, 'embed/a')
  assert.equal(m.payload.toString(), 'hello')
  assert.equal(m.qos, 1)
  assert.equal(m.retain, false) // [MQTT-3.3.1-9] to a subscriber of before
  assert.deepEqual(seen, [null])
  const late = await tb.connect()
  await late.subscribe('embed/a', 0)
  const r = await late.next(PacketType.PUBLISH)
  assert.equal(r.retain, true) // [MQTT-3.3.1-6]
  assert.equal(tb.broker.retainedCount, 1)
  assert.throws(() => tb.broker.publish({ topic: 'a/+', payload: 'x' }), /valid MQTT topic name/)
  assert.throws(() => tb.broker.publish({ topic: '', payload: 'x' }), /valid MQTT topic name/)
  assert.throws(() => tb.broker.publish({ topic: 'a', payload: 'x', qos: 3 as 0 }), /qos must be 0, 1 or 2/)
})

test('hook sets given as a list compose in order; onConnect and onDisconnect see every client', async (t) => {
  const log: string[] = []
  const tb = await startBroker(
    {
      authorizePublish: (_c, topic) => topic !== 'deny/own',
      hooks: [
        {
          authenticate: (_c, user) => user !== 'mallory',
          onConnect: (c) => void log.push(`on ${c.id}`),
          onDisconnect: (c) => void log.push(`off ${c.id}`),
        },
        { authorizePublish: async (_c, topic) => topic !== 'deny/set', authorizeSubscribe: () => 1 },
      ],
    },
    t,
  )
  const refused = await tb.open()
  assert.equal((await refused.connect({ clientId: 'm', username: 'mallory' })).returnCode, 4)
  const c = await tb.connect({ clientId: 'hooked', username: 'alice' })
  assert.deepEqual((await c.subscribe('deny/#', 2)).granted, [1])
  c.publish('deny/own', 'x')
  c.publish('deny/set', 'x')
  c.publish('deny/ok', 'x')
  const m = await c.next(PacketType.PUBLISH)
  assert.equal(m.topic, 'deny/ok')
  await c.disconnect()
  await delay(20)
  assert.deepEqual(log, ['on hooked', 'off hooked'])
})

test('$SYS/broker/version names the version in package.json', async (t) => {
  const { version } = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8'))
  const tb = await startBroker({ sysInterval: 1 }, t)
  const c = await tb.connect()
  await c.subscribe('$SYS/broker/version', 0)
  const m = await c.next(PacketType.PUBLISH, 3000)
  assert.equal(m.payload.toString(), `petrel version ${version}`)
})
