import { mkdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { ConfigError } from '../../errors.js'
import type { QoS } from '../../protocol/constants.js'
import type { Store, StoredDelivery, StoredMessage, StoredSession, StoreSnapshot } from '../store.js'
import { SCHEMA, SCHEMA_VERSION } from './schema.js'

export interface SqliteStoreOptions {
  /** Folder of the database (created if missing). */
  dataDir: string
  /**
   * 'NORMAL' (default) survives a crash of the process (kill -9); 'FULL' also
   * survives a power loss, at the cost of an fsync per commit.
   */
  synchronous?: 'NORMAL' | 'FULL'
}

type Statement = BetterSqlite3.Statement
type Db = BetterSqlite3.Database

/**
 * The SQLite engine (better-sqlite3, WAL). Writes go straight into an open
 * transaction that `commit()` closes once per event-loop turn, so a turn's
 * messages cost one commit, not one each.
 */
export class SqliteStore implements Store {
  private readonly db: Db
  private inTx = false
  private readonly begin: Statement
  private readonly commitStmt: Statement
  private readonly s: Record<
    | 'saveSession'
    | 'deleteSession'
    | 'deleteSessionSubs'
    | 'deleteSessionDeliveries'
    | 'deleteSessionInbound'
    | 'saveSub'
    | 'deleteSub'
    | 'addDelivery'
    | 'updateDelivery'
    | 'deleteDelivery'
    | 'addInbound'
    | 'deleteInbound'
    | 'setRetained'
    | 'deleteRetained',
    Statement
  >

  /** Opens (creating if needed) `<dataDir>/petrel.db`. Loads better-sqlite3 only when used. */
  static async open(options: SqliteStoreOptions): Promise<SqliteStore> {
    let Database: typeof BetterSqlite3
    try {
      Database = (await import('better-sqlite3')).default
    } catch (err) {
      throw new ConfigError(
        'store',
        `the SQLite store needs the better-sqlite3 package (${err instanceof Error ? err.message : String(err)}); run npm ci, or use the memory store`,
      )
    }
    try {
      makeDir(options.dataDir)
    } catch (err) {
      throw new ConfigError(
        'dataDir',
        `cannot create data directory '${options.dataDir}': ${(err as Error).message}`,
      )
    }
    return new SqliteStore(new Database(join(options.dataDir, 'petrel.db')), options.synchronous ?? 'NORMAL')
  }

  private constructor(db: Db, synchronous: 'NORMAL' | 'FULL') {
    this.db = db
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${synchronous}`)
    const version = db.pragma('user_version', { simple: true }) as number
    if (version > SCHEMA_VERSION) {
      throw new ConfigError(
        'dataDir',
        `the database was written by a newer Petrel (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade Petrel or use another --data-dir`,
      )
    }
    db.exec(SCHEMA)
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
    this.begin = db.prepare('BEGIN')
    this.commitStmt = db.prepare('COMMIT')
    this.s = {
      saveSession: db.prepare(
        'INSERT INTO sessions (client, disconnected_at) VALUES (?, ?) ON CONFLICT (client) DO UPDATE SET disconnected_at = excluded.disconnected_at',
      ),
      deleteSession: db.prepare('DELETE FROM sessions WHERE client = ?'),
      deleteSessionSubs: db.prepare('DELETE FROM subscriptions WHERE client = ?'),
      deleteSessionDeliveries: db.prepare('DELETE FROM deliveries WHERE client = ?'),
      deleteSessionInbound: db.prepare('DELETE FROM inbound_qos2 WHERE client = ?'),
      saveSub: db.prepare('INSERT OR REPLACE INTO subscriptions (client, filter, qos) VALUES (?, ?, ?)'),
      deleteSub: db.prepare('DELETE FROM subscriptions WHERE client = ? AND filter = ?'),
      addDelivery: db.prepare(
        'INSERT OR REPLACE INTO deliveries (client, seq, topic, payload, qos, retain, packet_id, released) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      updateDelivery: db.prepare(
        'UPDATE deliveries SET packet_id = ?, released = ? WHERE client = ? AND seq = ?',
      ),
      deleteDelivery: db.prepare('DELETE FROM deliveries WHERE client = ? AND seq = ?'),
      addInbound: db.prepare('INSERT OR IGNORE INTO inbound_qos2 (client, packet_id) VALUES (?, ?)'),
      deleteInbound: db.prepare('DELETE FROM inbound_qos2 WHERE client = ? AND packet_id = ?'),
      setRetained: db.prepare('INSERT OR REPLACE INTO retained (topic, payload, qos) VALUES (?, ?, ?)'),
      deleteRetained: db.prepare('DELETE FROM retained WHERE topic = ?'),
    }
  }

  load(): StoreSnapshot {
    const sessions = new Map<string, StoredSession>()
    for (const r of this.db.prepare('SELECT client, disconnected_at FROM sessions').all() as {
      client: string
      disconnected_at: number
    }[]) {
      sessions.set(r.client, {
        clientId: r.client,
        subscriptions: [],
        deliveries: [],
        inboundQos2: [],
        disconnectedAt: r.disconnected_at,
      })
    }
    const get = (client: string): StoredSession | undefined => sessions.get(client)
    for (const r of this.db.prepare('SELECT client, filter, qos FROM subscriptions').all() as {
      client: string
      filter: string
      qos: number
    }[]) {
      get(r.client)?.subscriptions.push([r.filter, r.qos as QoS])
    }
    for (const r of this.db
      .prepare(
        'SELECT client, seq, topic, payload, qos, retain, packet_id, released FROM deliveries ORDER BY client, seq',
      )
      .all() as {
      client: string
      seq: number
      topic: string
      payload: Buffer
      qos: number
      retain: number
      packet_id: number
      released: number
    }[]) {
      get(r.client)?.deliveries.push({
        seq: r.seq,
        topic: r.topic,
        payload: r.payload,
        qos: r.qos as QoS,
        retain: r.retain === 1,
        packetId: r.packet_id,
        released: r.released === 1,
      })
    }
    for (const r of this.db.prepare('SELECT client, packet_id FROM inbound_qos2').all() as {
      client: string
      packet_id: number
    }[]) {
      get(r.client)?.inboundQos2.push(r.packet_id)
    }
    const retained: StoredMessage[] = (
      this.db.prepare('SELECT topic, payload, qos FROM retained').all() as {
        topic: string
        payload: Buffer
        qos: number
      }[]
    ).map((r) => ({ topic: r.topic, payload: r.payload, qos: r.qos as QoS, retain: true }))
    return { sessions: [...sessions.values()], retained }
  }

  private tx(): void {
    if (!this.inTx) {
      this.begin.run()
      this.inTx = true
    }
  }

  saveSession(clientId: string, disconnectedAt: number): void {
    this.tx()
    this.s.saveSession.run(clientId, disconnectedAt)
  }
  deleteSession(clientId: string): void {
    this.tx()
    this.s.deleteSession.run(clientId)
    this.s.deleteSessionSubs.run(clientId)
    this.s.deleteSessionDeliveries.run(clientId)
    this.s.deleteSessionInbound.run(clientId)
  }
  saveSubscription(clientId: string, filter: string, qos: QoS): void {
    this.tx()
    this.s.saveSub.run(clientId, filter, qos)
  }
  deleteSubscription(clientId: string, filter: string): void {
    this.tx()
    this.s.deleteSub.run(clientId, filter)
  }
  addDelivery(clientId: string, d: StoredDelivery): void {
    this.tx()
    this.s.addDelivery.run(
      clientId,
      d.seq,
      d.topic,
      d.payload,
      d.qos,
      d.retain ? 1 : 0,
      d.packetId,
      d.released ? 1 : 0,
    )
  }
  updateDelivery(clientId: string, seq: number, packetId: number, released: boolean): void {
    this.tx()
    this.s.updateDelivery.run(packetId, released ? 1 : 0, clientId, seq)
  }
  deleteDelivery(clientId: string, seq: number): void {
    this.tx()
    this.s.deleteDelivery.run(clientId, seq)
  }
  addInboundQos2(clientId: string, packetId: number): void {
    this.tx()
    this.s.addInbound.run(clientId, packetId)
  }
  deleteInboundQos2(clientId: string, packetId: number): void {
    this.tx()
    this.s.deleteInbound.run(clientId, packetId)
  }
  setRetained(msg: StoredMessage): void {
    this.tx()
    if (msg.payload.length === 0) this.s.deleteRetained.run(msg.topic)
    else this.s.setRetained.run(msg.topic, msg.payload, msg.qos)
  }

  commit(): void {
    if (!this.inTx) return
    this.inTx = false
    this.commitStmt.run()
  }

  close(): void {
    this.commit()
    this.db.close()
  }
}

/**
 * mkdir -p, one level at a time. Node 20's `mkdirSync(dir, { recursive: true })` never
 * returns for a path under /proc (it retries ENOENT forever), which hung
 * `petrel broker --data-dir /proc/nope` at full CPU; creating each missing level in turn
 * fails with the first level's error instead.
 */
function makeDir(dir: string): void {
  const missing: string[] = []
  for (let d = resolve(dir); ; d = dirname(d)) {
    try {
      if (!statSync(d).isDirectory()) throw new Error(`'${d}' is not a directory`)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(d) === d) throw err
      missing.push(d)
    }
  }
  for (let i = missing.length - 1; i >= 0; i--) mkdirSync(missing[i]!)
}
