/**
 * An ACL file in the broker (aclHooks): what a subscriber may not read is never sent to it
 * (live, retained, and queued while it was away), what a client may not write is dropped
 * (3.1.1) or refused with 0x87 (MQTT 5), wills are checked like publishes, and a resumed
 * session's subscriptions are put to the subscribe hooks again.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { AclFile, aclHooks } from '../../../src/auth/acl.js'
import { Broker } from '../../../src/broker/broker.js'
import type { HookSet } from '../../../src/broker/options.js'
import { PacketType, type ProtocolVersion, ReasonCode } from '../../../src/protocol/index.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import { delay, RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const RULES = `user admin
topic readwrite #
user watcher
topic read open/#
topic deny open/closed
topic write open/#
`

/** Payloads of the PUBLISHes `c` has received so far (after a moment for stragglers). */
async function payloads(c: RawClient, settleMs = 100): Promise<string[]> {
  await delay(settleMs)
  return c.received
    .filter((p) => p.type === PacketType.PUBLISH)
    .map((p) => (p as { payload: Buffer }).payload.toString())
}

for (const v of [4, 5] as ProtocolVersion[]) {
  const name = v === 5 ? 'MQTT 5' : 'MQTT 3.1.1'
  describe(`ACL file, ${name}`, () => {
    test("a subscriber to '#' gets only the topics it may read; the SUBSCRIBE is granted, as in Mosquitto 2.0", async (t) => {
      const tb = await startBroker({ hooks: [aclHooks(AclFile.fromText(RULES))] }, t)
      const admin = await tb.connect({ protocolVersion: v, username: 'admin' })
      const watcher = await tb.connect({ protocolVersion: v, username: 'watcher' })
      const ack = await watcher.subscribe('#', 0)
      assert.deepEqual(ack.granted, [0])
      for (const topic of ['open/a', 'secret/x', 'open/closed', 'open/b']) admin.publish(topic, topic)
      const last = admin.publish('open/end', 'open/end', { qos: 1 })
      assert.equal((await admin.next(PacketType.PUBACK)).packetId, last)
      assert.deepEqual(await payloads(watcher), ['open/a', 'open/b', 'open/end'])
    })

    test('retained messages it may not read are not sent on SUBSCRIBE', async (t) => {
      const tb = await startBroker({ hooks: [aclHooks(AclFile.fromText(RULES))] }, t)
      const admin = await tb.connect({ protocolVersion: v, username: 'admin' })
      for (const topic of ['open/r', 'secret/r', 'open/closed']) admin.publish(topic, topic, { retain: true })
      await admin.subscribe('open/r') // the retained messages are stored once this is answered
      const watcher = await tb.connect({ protocolVersion: v, username: 'watcher' })
      await watcher.subscribe('#', 0)
      assert.deepEqual(await payloads(watcher), ['open/r'])
    })

    test(`a PUBLISH it may not write is not delivered${v === 5 ? ' and is refused with PUBACK 0x87' : ' (acknowledged: 3.1.1 cannot refuse it)'} [MQTT-3.3.5-2]`, async (t) => {
      const tb = await startBroker({ hooks: [aclHooks(AclFile.fromText(RULES))] }, t)
      const admin = await tb.connect({ protocolVersion: v, username: 'admin' })
      await admin.subscribe('#', 1)
      const watcher = await tb.connect({ protocolVersion: v, username: 'watcher' })
      const id = watcher.publish('secret/x', 'no', { qos: 1 })
      const puback = await watcher.next(PacketType.PUBACK)
      assert.equal(puback.packetId, id)
      assert.equal(puback.reasonCode ?? 0, v === 5 ? ReasonCode.NOT_AUTHORIZED : 0)
      watcher.publish('open/ok', 'yes', { qos: 1 })
      await watcher.next(PacketType.PUBACK)
      assert.deepEqual(await payloads(admin), ['yes'])
    })

    test('a will it may not write is not published; one it may write is', async (t) => {
      const tb = await startBroker({ hooks: [aclHooks(AclFile.fromText(RULES))] }, t)
      const admin = await tb.connect({ protocolVersion: v, username: 'admin' })
      await admin.subscribe('#', 0)
      // Mosquitto 2.0 accepts the CONNECT and checks the will when it is due: so do we
      const denied = await tb.connect({
        protocolVersion: v,
        username: 'watcher',
        will: { topic: 'secret/will', payload: Buffer.from('denied'), qos: 0, retain: false },
      })
      denied.destroy()
      const allowed = await tb.connect({
        protocolVersion: v,
        username: 'watcher',
        will: { topic: 'open/will', payload: Buffer.from('allowed'), qos: 0, retain: false },
      })
      allowed.destroy()
      assert.equal((await admin.next(PacketType.PUBLISH)).payload.toString(), 'allowed')
      assert.deepEqual(await payloads(admin), [])
    })

    test('messages queued for an offline session are checked against the client that comes back', async (t) => {
      const tb = await startBroker({ hooks: [aclHooks(AclFile.fromText(RULES))] }, t)
      const clientId = uniqueId('acl')
      const first = await tb.connect({
        protocolVersion: v,
        clientId,
        clean: false,
        username: 'watcher',
        ...expiry(v),
      })
      await first.subscribe('#', 1)
      await first.disconnect()
      const admin = await tb.connect({ protocolVersion: v, username: 'admin' })
      for (const topic of ['open/q1', 'secret/q', 'open/closed', 'open/q2'])
        admin.publish(topic, topic, { qos: 1 })
      for (let i = 0; i < 4; i++) await admin.next(PacketType.PUBACK)
      const back = await tb.connect({
        protocolVersion: v,
        clientId,
        clean: false,
        username: 'watcher',
        ...expiry(v),
      })
      assert.equal(back.connack?.sessionPresent, true)
      const got: string[] = []
      for (let i = 0; i < 2; i++) {
        const p = await back.next(PacketType.PUBLISH)
        got.push(p.payload.toString())
        back.send({ type: PacketType.PUBACK, packetId: p.packetId })
      }
      assert.deepEqual(got, ['open/q1', 'open/q2'])
      assert.deepEqual(await payloads(back), [])
    })

    test('a shared subscription: a message goes to a member that may read it, never lost to one that may not [MQTT-4.8.2-2]', async (t) => {
      const tb = await startBroker({ hooks: [aclHooks(AclFile.fromText(RULES))] }, t)
      const watcher = await tb.connect({ protocolVersion: v, username: 'watcher' })
      const reader = await tb.connect({ protocolVersion: v, username: 'admin' })
      for (const c of [watcher, reader]) await c.subscribe('$share/g/#', 0)
      const admin = await tb.connect({ protocolVersion: v, username: 'admin' })
      const topics = ['secret/1', 'open/1', 'secret/2', 'secret/3', 'open/2', 'secret/4']
      for (const topic of topics) admin.publish(topic, topic)
      const last = admin.publish('open/end', 'open/end', { qos: 1 })
      assert.equal((await admin.next(PacketType.PUBACK)).packetId, last)
      const toWatcher = await payloads(watcher)
      const toReader = await payloads(reader, 0)
      assert.ok(
        toWatcher.every((p) => p.startsWith('open/')),
        `watcher got only open/#: ${toWatcher}`,
      )
      assert.deepEqual(
        [...toWatcher, ...toReader].sort(),
        [...topics, 'open/end'].sort(),
        'each message to exactly one member',
      )
    })

    test('in-flight messages of a session taken by another user are re-sent only where that user may read [MQTT-4.4.0-1]', async (t) => {
      const tb = await startBroker({ hooks: [aclHooks(AclFile.fromText(RULES))] }, t)
      const clientId = uniqueId('acl-inflight')
      const session = { protocolVersion: v, clientId, clean: false, ...expiry(v) }
      const first = await tb.connect({ ...session, username: 'admin' })
      await first.subscribe('#', 1)
      const admin = await tb.connect({ protocolVersion: v, username: 'admin' })
      for (const [topic, qos] of [
        ['secret/1', 1],
        ['open/1', 1],
        ['secret/2', 2],
        ['open/2', 2],
      ] as const)
        admin.publish(topic, topic, { qos })
      for (let i = 0; i < 4; i++) await first.next(PacketType.PUBLISH) // received, never acknowledged
      first.destroy()
      await first.closed()
      // the same client id, now as a user who may read open/# only
      const other = await tb.connect({ ...session, username: 'watcher' })
      assert.equal(other.connack?.sessionPresent, true)
      const resent: string[] = []
      for (let i = 0; i < 2; i++) {
        const p = await other.next(PacketType.PUBLISH)
        assert.equal(p.dup, true, 'a re-send has DUP 1 [MQTT-3.3.1-1]')
        resent.push(p.topic)
      }
      assert.deepEqual(resent, ['open/1', 'open/2'])
      assert.deepEqual(await payloads(other), [], 'nothing of secret/# re-sent')
    })
  })
}

test('a reload applies at once to messages already queued for a connected client: those it may no longer read are not sent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'petrel-acl-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'acl')
  await writeFile(path, 'user admin\ntopic readwrite #\nuser watcher\ntopic read open/#\n')
  const acl = await AclFile.load(path)
  const tb = await startBroker({ maxInflight: 1, hooks: [aclHooks(acl)] }, t)
  const watcher = await tb.connect({ username: 'watcher' })
  await watcher.subscribe('open/#', 1)
  const admin = await tb.connect({ username: 'admin' })
  for (let i = 1; i <= 5; i++) admin.publish(`open/${i}`, `open/${i}`, { qos: 1 })
  for (let i = 1; i <= 5; i++) await admin.next(PacketType.PUBACK)
  const first = await watcher.next(PacketType.PUBLISH) // in flight; open/2..5 wait behind it (maxInflight 1)
  assert.equal(first.topic, 'open/1')
  await writeFile(path, 'user admin\ntopic readwrite #\nuser watcher\ntopic read open/3\n')
  await acl.reload()
  watcher.send({ type: PacketType.PUBACK, packetId: first.packetId })
  const next = await watcher.next(PacketType.PUBLISH)
  assert.equal(next.topic, 'open/3', 'open/2 is no longer readable: skipped')
  watcher.send({ type: PacketType.PUBACK, packetId: next.packetId })
  assert.deepEqual(await payloads(watcher), [], 'nor open/4, open/5')
})

test('after a restart, messages kept for a session are checked when its client is back (the store keeps no user name)', async (t) => {
  const store = new MemoryStore()
  const acl = AclFile.fromText(RULES)
  const first = new Broker({ store, sysInterval: 0, hooks: [aclHooks(acl)] })
  const { port } = await first.listen({ port: 0, host: '127.0.0.1' })
  const clientId = uniqueId('restart')
  const open = async (p: number, username: string, clean: boolean): Promise<RawClient> => {
    const c = await RawClient.open(p)
    assert.equal((await c.connect({ clientId, clean, username })).returnCode, 0)
    return c
  }
  const sub = await open(port, 'watcher', false)
  await sub.subscribe('#', 1)
  await sub.disconnect()
  const admin = await RawClient.open(port)
  await admin.connect({ username: 'admin' })
  for (const topic of ['open/1', 'secret/1', 'open/2']) admin.publish(topic, topic, { qos: 1 })
  for (let i = 0; i < 3; i++) await admin.next(PacketType.PUBACK)
  admin.destroy()
  await first.close()

  const second = new Broker({ store, sysInterval: 0, hooks: [aclHooks(acl)] })
  t.after(() => second.close())
  const l = await second.listen({ port: 0, host: '127.0.0.1' })
  const back = await open(l.port, 'watcher', false)
  const got: string[] = []
  for (let i = 0; i < 2; i++) {
    const p = await back.next(PacketType.PUBLISH)
    got.push(p.payload.toString())
    back.send({ type: PacketType.PUBACK, packetId: p.packetId })
  }
  assert.deepEqual(got, ['open/1', 'open/2'])
  assert.deepEqual(await payloads(back), [])
  await delay(20)
  const kept = store.load().sessions.find((s) => s.clientId === clientId)?.deliveries ?? []
  assert.deepEqual(kept, [], 'the unreadable message is gone from the store too')
  back.destroy()
})

/** An MQTT 5 session that outlives its connection needs a Session Expiry Interval. */
function expiry(v: ProtocolVersion): { properties?: { sessionExpiryInterval: number } } {
  return v === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}
}

describe("a resumed session's subscriptions", () => {
  for (const kind of ['sync', 'async'] as const) {
    test(`are put to the authorizeSubscribe hooks again on reconnect; those now refused are removed (${kind} hook)`, async (t) => {
      const allowed = new Set(['a/#', 'b/#'])
      const asked: string[] = []
      const hooks: HookSet = {
        authorizeSubscribe: (_c, filter) => {
          asked.push(filter)
          const ok = allowed.has(filter)
          return kind === 'sync' ? ok : Promise.resolve(ok)
        },
      }
      const tb = await startBroker({ hooks: [hooks] }, t)
      const clientId = uniqueId('resub')
      const first = await tb.connect({ clientId, clean: false })
      assert.deepEqual((await first.subscribe('a/#', 1)).granted, [1])
      assert.deepEqual((await first.subscribe('b/#', 1)).granted, [1])
      await first.disconnect()
      allowed.delete('b/#')
      asked.length = 0
      const back = await tb.connect({ clientId, clean: false })
      assert.equal(back.connack?.sessionPresent, true)
      assert.deepEqual(asked.sort(), ['a/#', 'b/#'])
      await delay(20) // an async hook's answer
      const pub = await tb.connect()
      pub.publish('b/x', 'b')
      pub.publish('a/x', 'a')
      assert.equal((await back.next(PacketType.PUBLISH)).payload.toString(), 'a')
      assert.deepEqual(await payloads(back), [])
    })
  }

  test('a session started anew (clean start) has nothing to ask again', async (t) => {
    const asked: string[] = []
    const authorizeSubscribe = (_c: unknown, filter: string): boolean => {
      asked.push(filter)
      return true
    }
    const tb = await startBroker({ hooks: [{ authorizeSubscribe }] }, t)
    const clientId = uniqueId('clean')
    const first = await tb.connect({ clientId, clean: false })
    await first.subscribe('x', 0)
    await first.disconnect()
    const again = await tb.connect({ clientId, clean: true })
    assert.equal(again.connack?.sessionPresent, false)
    assert.deepEqual(asked, ['x'])
  })
})
