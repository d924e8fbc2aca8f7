import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import Database from 'better-sqlite3'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js'
import type { Store, SubscriptionOptions } from '../../../src/store/store.js'

/** Subscriptions with MQTT 5 options and shared subscriptions, in every store; old SQLite files. */

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-subs-'))
  dirs.push(dir)
  return dir
}

const engines: { name: string; open(): Promise<[Store, () => Promise<Store>]> }[] = [
  {
    name: 'memory',
    open: async () => {
      const s = new MemoryStore()
      return [s, async () => s]
    },
  },
  {
    name: 'sqlite',
    open: async () => {
      const dir = tempDir()
      const s = await SqliteStore.open({ dataDir: dir })
      return [
        s,
        async () => {
          s.close()
          return SqliteStore.open({ dataDir: dir })
        },
      ]
    },
  },
]

const options: SubscriptionOptions = {
  qos: 2,
  noLocal: true,
  retainAsPublished: true,
  retainHandling: 1,
  subscriptionId: 268_435_455,
}

for (const e of engines) {
  describe(`${e.name} store`, () => {
    test('keeps MQTT 5 subscription options and identifiers, and shared subscriptions, across a reopen', async () => {
      const [s, reopen] = await e.open()
      s.saveSession('c', 0)
      s.saveSubscription('c', 'plain', 1)
      s.saveSubscription('c', 'opts/#', options)
      s.saveSubscription('c', '$share/g/jobs/+', { ...options, noLocal: false, subscriptionId: 0 })
      s.saveSubscription('c', 'replaced', options)
      s.saveSubscription('c', 'replaced', 0) // [MQTT-3.8.4-3] the new options replace the old
      const mutable = { ...options, subscriptionId: 3 }
      s.saveSubscription('c', 'copied', mutable)
      mutable.qos = 0 // the store keeps what it was given, not the caller's object
      s.commit()
      const again = await reopen()
      const subs = new Map((await again.load()).sessions[0]!.subscriptions)
      assert.deepEqual(Object.fromEntries(subs), {
        plain: 1,
        'opts/#': options,
        '$share/g/jobs/+': { ...options, noLocal: false, subscriptionId: 0 },
        replaced: 0,
        copied: { ...options, subscriptionId: 3 },
      })
      again.close()
    })
  })
}

test('a SQLite file of schema 1 opens with its subscriptions as plain QoS, and then takes options', async () => {
  const dir = tempDir()
  const old = new Database(join(dir, 'petrel.db'))
  old.exec(`
CREATE TABLE sessions (client TEXT PRIMARY KEY, disconnected_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE subscriptions (client TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL, PRIMARY KEY (client, filter)) WITHOUT ROWID;
PRAGMA user_version = 1;
INSERT INTO sessions VALUES ('old', 1234);
INSERT INTO subscriptions VALUES ('old', 'a/#', 1);
INSERT INTO subscriptions VALUES ('old', 'b', 2);
`)
  old.close()
  let s = await SqliteStore.open({ dataDir: dir })
  assert.deepEqual(s.load().sessions[0]!.subscriptions.sort(), [
    ['a/#', 1],
    ['b', 2],
  ])
  s.saveSubscription('old', 'b', options)
  s.close()
  s = await SqliteStore.open({ dataDir: dir })
  assert.deepEqual(new Map(s.load().sessions[0]!.subscriptions).get('b'), options)
  s.close()
})
