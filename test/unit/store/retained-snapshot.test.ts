import assert from 'node:assert/strict'
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import Database from 'better-sqlite3'
import type { QoS } from '../../../src/protocol/constants.js'
import { SNAPSHOT_FILE } from '../../../src/store/sqlite/retained-snapshot.js'
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js'
import type { StoredRetained } from '../../../src/store/store.js'

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-snap-'))
  dirs.push(dir)
  return dir
}

/** A retained message as plain values: its payload as bytes in hex, whatever form it came in. */
function plain(r: StoredRetained): [string, string, QoS, unknown, number] {
  const bytes = typeof r.payload === 'string' ? Buffer.from(r.payload, 'latin1') : r.payload
  return [r.topic, bytes.toString('hex'), r.qos, r.properties ?? null, r.expiresAt ?? 0]
}

const sorted = (rs: Iterable<StoredRetained>): ReturnType<typeof plain>[] =>
  [...rs].map(plain).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))

const bytes = (n: number, seed: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff))

/** Topics and payloads a snapshot must give back exactly. */
const ENTRIES: StoredRetained[] = [
  { topic: 'plain', payload: Buffer.from('hello'), qos: 0 },
  { topic: 'café/温度/🌡', payload: 'latin1 string ÿ\u0000', qos: 1 },
  { topic: '/', payload: bytes(1, 1), qos: 2 },
  { topic: 'a//b/', payload: bytes(64, 2), qos: 1 },
  { topic: '$app/status', payload: bytes(4096, 3), qos: 0 },
  { topic: 'big/4097', payload: bytes(4097, 4), qos: 2 },
  { topic: 'big/5MiB', payload: bytes(5 * 1024 * 1024 + 3, 5), qos: 1 }, // more than a write piece
  { topic: 'empty', payload: Buffer.alloc(0), qos: 0 },
  { topic: 'expires', payload: 'soon', qos: 1, expiresAt: Date.now() + 3_600_000 },
  {
    topic: 'v5/props',
    payload: bytes(10, 6),
    qos: 2,
    properties: {
      payloadFormatIndicator: 1,
      contentType: 'application/json',
      responseTopic: 'reply/é',
      correlationData: Buffer.from([0, 1, 2, 255]),
      userProperties: [
        ['k', 'v'],
        ['k', 'ü'],
      ],
    },
    expiresAt: Date.now() + 60_000,
  },
]

/** A store whose table holds `table` and that was closed cleanly with a snapshot of `snapshot`. */
async function closedCleanly(
  dir: string,
  table: StoredRetained[],
  snapshot: StoredRetained[],
): Promise<void> {
  const s = await SqliteStore.open({ dataDir: dir })
  s.load()
  for (const r of table) s.setRetained({ ...r, payload: Buffer.from(plain(r)[1], 'hex'), retain: true })
  s.commit()
  s.saveRetainedSnapshot(snapshot)
  s.close()
}

async function loadRetained(
  dir: string,
): Promise<{ store: SqliteStore; retained: ReturnType<typeof plain>[] }> {
  const store = await SqliteStore.open({ dataDir: dir })
  return { store, retained: sorted(store.load().retained) }
}

const TABLE: StoredRetained[] = [{ topic: 'from/table', payload: Buffer.from('row'), qos: 1 }]
/** Differs from TABLE: what a load gives tells which one it read. */
const SNAPSHOT: StoredRetained[] = [{ topic: 'from/snapshot', payload: 'snap', qos: 2 }]

test('a snapshot gives back every retained message: UTF-8 and empty levels, $ topics, payloads of 0 to 5 MiB, QoS, properties, expiry', async () => {
  const dir = dataDir()
  await closedCleanly(dir, [], ENTRIES)
  const { store, retained } = await loadRetained(dir)
  assert.deepEqual(retained, sorted(ENTRIES))
  store.close()
})

test('after a load from the snapshot, the file is gone and the database holds no token', async () => {
  const dir = dataDir()
  await closedCleanly(dir, TABLE, SNAPSHOT)
  assert.ok(existsSync(join(dir, SNAPSHOT_FILE)))
  const { store, retained } = await loadRetained(dir)
  assert.deepEqual(retained, sorted(SNAPSHOT))
  assert.equal(existsSync(join(dir, SNAPSHOT_FILE)), false)
  const db = new Database(join(dir, 'petrel.db'), { readonly: true })
  assert.deepEqual(db.prepare('SELECT * FROM meta').all(), [])
  db.close()
  store.close()
  // a stop without a snapshot (kill -9): the next start reads the table
  const again = await loadRetained(dir)
  assert.deepEqual(again.retained, sorted(TABLE))
  again.store.close()
})

/** Ways a snapshot file can be wrong; each must leave the table to be read. */
const SPOILED: [name: string, spoil: (file: string) => void | Promise<void>][] = [
  [
    'one of another database (another token)',
    async (file) => {
      const other = dataDir()
      await closedCleanly(other, [], SNAPSHOT)
      copyFileSync(join(other, SNAPSHOT_FILE), file)
    },
  ],
  ['a truncated one', (file) => truncateSync(file, readFileSync(file).length - 3)],
  ['one cut inside its header', (file) => truncateSync(file, 20)],
  ['an empty one', (file) => writeFileSync(file, '')],
  [
    'one with a wrong magic',
    (file) => {
      const b = readFileSync(file)
      b[0] = 0x58
      writeFileSync(file, b)
    },
  ],
  [
    'one with a byte changed in an entry',
    (file) => {
      const b = readFileSync(file)
      b[b.length - 2] = b[b.length - 2]! ^ 0x01
      writeFileSync(file, b)
    },
  ],
  ['one longer than its header says', (file) => writeFileSync(file, Buffer.from('x'), { flag: 'a' })],
]

for (const [name, spoil] of SPOILED) {
  test(`ignores ${name}, reads the table, and removes it`, async () => {
    const dir = dataDir()
    await closedCleanly(dir, TABLE, SNAPSHOT)
    await spoil(join(dir, SNAPSHOT_FILE))
    const { store, retained } = await loadRetained(dir)
    assert.deepEqual(retained, sorted(TABLE))
    assert.equal(existsSync(join(dir, SNAPSHOT_FILE)), false)
    store.close()
  })
}

test('a snapshot kept from before a restart is never read after retained writes and a stop without one', async () => {
  const dir = dataDir()
  await closedCleanly(dir, TABLE, TABLE)
  const kept = join(dataDir(), 'kept.snap')
  copyFileSync(join(dir, SNAPSHOT_FILE), kept)
  const s = await SqliteStore.open({ dataDir: dir })
  assert.deepEqual(sorted(s.load().retained), sorted(TABLE))
  s.setRetained({ topic: 'from/table', payload: Buffer.from('newer'), qos: 0, retain: true })
  s.setRetained({ topic: 'later', payload: Buffer.from('x'), qos: 1, retain: true })
  s.commit()
  s.close() // as after kill -9: no snapshot
  copyFileSync(kept, join(dir, SNAPSHOT_FILE)) // the old file back, as if never removed
  const { store, retained } = await loadRetained(dir)
  assert.deepEqual(retained, [
    ['from/table', Buffer.from('newer').toString('hex'), 0, null, 0],
    ['later', Buffer.from('x').toString('hex'), 1, null, 0],
  ])
  store.close()
})

test('a retained row changed by another program after a clean stop voids the snapshot', async () => {
  const dir = dataDir()
  await closedCleanly(dir, TABLE, SNAPSHOT)
  const db = new Database(join(dir, 'petrel.db'))
  db.prepare('DELETE FROM retained WHERE topic = ?').run('from/table')
  db.close()
  const { store, retained } = await loadRetained(dir)
  assert.deepEqual(retained, [])
  store.close()
})

test('a database made before snapshots existed takes one at a clean stop and loads from it', async () => {
  const dir = dataDir()
  const old = new Database(join(dir, 'petrel.db'))
  old.exec(`CREATE TABLE retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO retained VALUES ('r', x'7a', 1); PRAGMA user_version = 1;`)
  old.close()
  await closedCleanly(dir, [], SNAPSHOT)
  const { store, retained } = await loadRetained(dir)
  assert.deepEqual(retained, sorted(SNAPSHOT))
  store.close()
  const again = await loadRetained(dir)
  assert.deepEqual(again.retained, [['r', '7a', 1, null, 0]])
  again.store.close()
})
