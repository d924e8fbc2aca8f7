import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import Database from 'better-sqlite3'
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js'

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** The tables as Petrel 3.1.1 (schema version 1) wrote them. */
const V1 = `
CREATE TABLE sessions (client TEXT PRIMARY KEY, disconnected_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE subscriptions (client TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL, PRIMARY KEY (client, filter)) WITHOUT ROWID;
CREATE TABLE deliveries (client TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, packet_id INTEGER NOT NULL, released INTEGER NOT NULL, PRIMARY KEY (client, seq)) WITHOUT ROWID;
CREATE TABLE inbound_qos2 (client TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client, packet_id)) WITHOUT ROWID;
CREATE TABLE retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL) WITHOUT ROWID;
PRAGMA user_version = 1;
INSERT INTO sessions VALUES ('old', 1234);
INSERT INTO subscriptions VALUES ('old', 'a/#', 1);
INSERT INTO deliveries VALUES ('old', 1, 'a/b', x'6869', 1, 0, 7, 0);
INSERT INTO deliveries VALUES ('old', 2, 'a/c', x'6869', 2, 0, 0, 0);
INSERT INTO inbound_qos2 VALUES ('old', 9);
INSERT INTO retained VALUES ('r', x'7a', 1);
`

test('a database written before MQTT 5 (schema 1) opens, keeps its data and takes the new fields', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-migrate-'))
  dirs.push(dir)
  const old = new Database(join(dir, 'petrel.db'))
  old.exec(V1)
  old.close()

  let s = await SqliteStore.open({ dataDir: dir })
  const snap = s.load()
  const [sess] = snap.sessions
  assert.equal(sess!.clientId, 'old')
  assert.equal(sess!.disconnectedAt, 1234)
  assert.equal(sess!.expiryInterval, 0xffff_ffff, 'an old persistent session does not expire of itself')
  assert.deepEqual(
    sess!.deliveries.map((d) => [
      d.seq,
      d.topic,
      d.payload.toString(),
      d.qos,
      d.packetId,
      d.properties,
      d.expiresAt,
      d.subIds,
    ]),
    [
      [1, 'a/b', 'hi', 1, 7, null, 0, null],
      [2, 'a/c', 'hi', 2, 0, null, 0, null],
    ],
  )
  assert.deepEqual(sess!.inboundQos2, [9])
  assert.deepEqual(
    [...snap.retained].map((r) => [r.topic, r.payload.toString(), r.qos, r.properties, r.expiresAt]),
    [['r', 'z', 1, null, 0]],
  )

  // the upgraded database takes MQTT 5 rows, and opens again (the upgrade runs once)
  s.addDelivery('old', {
    seq: 3,
    topic: 'a/d',
    payload: Buffer.from('v5'),
    qos: 1,
    retain: false,
    packetId: 0,
    released: false,
    properties: { contentType: 'text/plain' },
    expiresAt: 5,
    subIds: [1],
  })
  s.close()
  s = await SqliteStore.open({ dataDir: dir })
  const d3 = s.load().sessions[0]!.deliveries[2]!
  assert.deepEqual([d3.properties, d3.expiresAt, d3.subIds], [{ contentType: 'text/plain' }, 5, [1]])
  s.close()
  const db = new Database(join(dir, 'petrel.db'))
  assert.equal(db.pragma('user_version', { simple: true }), 2)
  db.close()
})
