/**
 * Retained messages across a clean stop of a broker on SQLite: read back from the snapshot the
 * broker writes at close (src/store/sqlite/retained-snapshot.ts), or from the table when there
 * is none. A new subscriber must find the same retained messages either way.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type TestContext, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { PacketType, type PublishPacket } from '../../../src/protocol/index.js'
import { SNAPSHOT_FILE } from '../../../src/store/sqlite/retained-snapshot.js'
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js'
import { RawClient } from '../../helpers/raw-client.js'

const WAIT = 5000

interface Running {
  broker: Broker
  port: number
  clients: RawClient[]
}

/** A broker on the SQLite store in `dir`; `snapshot: false` gives it a store that writes none. */
async function start(dir: string, snapshot = true, warnings: string[] = []): Promise<Running> {
  const store = await SqliteStore.open({ dataDir: dir })
  // as after kill -9: the store is closed without a snapshot
  if (!snapshot) Object.defineProperty(store, 'saveRetainedSnapshot', { value: undefined })
  const ignore = (): void => {}
  const logger = {
    debug: ignore,
    info: ignore,
    error: ignore,
    warn: (_: object, msg: string) => warnings.push(msg),
  }
  const broker = new Broker({ store, sysInterval: 0, logger })
  await broker.ready
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' })
  return { broker, port, clients: [] }
}

async function stop(r: Running): Promise<void> {
  for (const c of r.clients) c.destroy()
  await r.broker.close()
}

async function client(r: Running, clientId: string, protocolVersion: 4 | 5 = 4): Promise<RawClient> {
  const c = await RawClient.open(r.port, '127.0.0.1', WAIT)
  r.clients.push(c)
  assert.equal((await c.connect({ clientId, protocolVersion }, WAIT)).returnCode, 0)
  return c
}

function dataDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-snap-it-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Publishes the test's retained messages, replacements and a deletion, each acknowledged. */
async function publishAll(r: Running): Promise<void> {
  const p = await client(r, 'retained-publisher', 5)
  const publish = async (topic: string, payload: string | Buffer, extra: Partial<PublishPacket> = {}) => {
    const id = p.publish(topic, payload, { qos: 1, retain: true, ...extra })
    assert.equal((await p.next(PacketType.PUBACK, WAIT)).packetId, id)
  }
  await publish('ret/keep', 'kept')
  await publish('ret/replaced', 'old')
  await publish('ret/replaced', 'new')
  await publish('ret/deleted', 'soon gone')
  await publish('ret/deleted', '') // [MQTT-3.3.1-10] an empty retained message deletes
  await publish('ret/große/温度', Buffer.alloc(5000, 0xfe))
  await publish('ret/v5', '{}', {
    properties: { contentType: 'application/json', userProperties: [['k', 'v']] },
  })
  await publish('ret/expiring', 'gone by then', { properties: { messageExpiryInterval: 1 } })
}

/** What a new subscriber to ret/# receives, sorted by topic; and that nothing more comes. */
async function retainedSeen(r: Running): Promise<unknown[]> {
  const s = await client(r, 'retained-reader', 5)
  assert.deepEqual((await s.subscribe('ret/#', 1, WAIT)).granted, [1])
  const got: PublishPacket[] = []
  for (let i = 0; i < 4; i++) got.push(await s.next(PacketType.PUBLISH, WAIT))
  await s.nothingFor(300)
  return got
    .sort((a, b) => (a.topic < b.topic ? -1 : 1))
    .map((m) => [
      m.topic,
      m.payload.length > 100 ? m.payload.length : m.payload.toString(),
      m.retain,
      m.properties,
    ])
}

/** The retained set of publishAll once ret/expiring expired [MQTT-3.3.2-5]. */
const EXPECTED = [
  ['ret/große/温度', 5000, true, undefined],
  ['ret/keep', 'kept', true, undefined],
  ['ret/replaced', 'new', true, undefined],
  ['ret/v5', '{}', true, { contentType: 'application/json', userProperties: [['k', 'v']] }],
]

for (const snapshot of [true, false]) {
  const how = snapshot ? 'a clean stop' : 'a stop that leaves no snapshot (as kill -9)'
  test(`after ${how}, a new subscriber finds exactly the retained messages kept before it [MQTT-3.3.1-5] [MQTT-3.3.1-10] [MQTT-3.3.2-5]`, {
    timeout: 30_000,
  }, async (t) => {
    const dir = dataDir(t)
    const first = await start(dir, snapshot)
    t.after(() => stop(first))
    await publishAll(first)
    await stop(first)
    assert.equal(existsSync(join(dir, SNAPSHOT_FILE)), snapshot)
    await new Promise((resolve) => setTimeout(resolve, 1100)) // ret/expiring expires meanwhile

    // this one stops without a snapshot: the third start reads the table it left
    const second = await start(dir, false)
    t.after(() => stop(second))
    assert.equal(existsSync(join(dir, SNAPSHOT_FILE)), false, 'a snapshot is read once')
    assert.equal(second.broker.retainedCount, 4)
    assert.deepEqual(await retainedSeen(second), EXPECTED)
    const p = await client(second, 'late-publisher')
    const id = p.publish('ret/keep', 'changed', { qos: 1, retain: true })
    assert.equal((await p.next(PacketType.PUBACK, WAIT)).packetId, id)
    await stop(second)

    // the table has the write made after the restart, and not the message that expired
    const third = await start(dir)
    t.after(() => stop(third))
    const expected = structuredClone(EXPECTED)
    expected[1] = ['ret/keep', 'changed', true, undefined]
    assert.deepEqual(await retainedSeen(third), expected)
  })
}

test('a snapshot that cannot be written is logged, the broker still closes, and the next start reads the table', {
  timeout: 30_000,
}, async (t) => {
  const dir = dataDir(t)
  const warnings: string[] = []
  const first = await start(dir, true, warnings)
  t.after(() => stop(first))
  const p = await client(first, 'publisher')
  const id = p.publish('ret/keep', 'kept', { qos: 1, retain: true })
  assert.equal((await p.next(PacketType.PUBACK, WAIT)).packetId, id)
  mkdirSync(join(dir, `${SNAPSHOT_FILE}.tmp`)) // where the snapshot is written first: not a file
  await stop(first)
  assert.deepEqual(warnings, ['could not save the retained snapshot'])

  const second = await start(dir)
  t.after(() => stop(second))
  const s = await client(second, 'reader')
  await s.subscribe('ret/#', 1, WAIT)
  const m = await s.next(PacketType.PUBLISH, WAIT)
  assert.deepEqual([m.topic, m.payload.toString(), m.retain], ['ret/keep', 'kept', true])
})
