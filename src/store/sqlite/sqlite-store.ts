import { mkdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { ConfigError } from '../../errors.js'
import { SESSION_NEVER_EXPIRES } from '../../protocol/constants.js'
import type {
  Store,
  StoredDelivery,
  StoredMessage,
  StoredRetained,
  StoredSubscription,
  StoreSnapshot,
} from '../store.js'
import { Checkpointer, type CheckpointStats, walBytes } from './checkpointer.js'
import { idsToText, propertiesToJson } from './properties-json.js'
import { readRetainedRows, readSessions } from './read-state.js'
import { saveSnapshot, takeSnapshot } from './retained-snapshot.js'
import { COLUMNS, SCHEMA, SCHEMA_VERSION } from './schema.js'

export type { CheckpointStats } from './checkpointer.js'

export interface SqliteStoreOptions {
  /** Folder of the database (created if missing). */
  dataDir: string
  /**
   * 'NORMAL' (default) survives a crash of the process (kill -9); 'FULL' also
   * survives a power loss, at the cost of an fsync per commit.
   */
  synchronous?: 'NORMAL' | 'FULL'
  /** Where to say that WAL checkpoints fell back to the main thread; default: process.emitWarning. */
  logger?: { warn(obj: object, msg: string): void }
  /** The checkpoint worker's module (tests give one that cannot start). */
  checkpointWorker?: URL
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
  private readonly dataDir: string
  private inTx = false
  private readonly checkpointer: Checkpointer
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
    return new SqliteStore(new Database(join(options.dataDir, 'petrel.db')), options)
  }

  private constructor(db: Db, options: SqliteStoreOptions) {
    this.db = db
    this.dataDir = options.dataDir
    const synchronous = options.synchronous ?? 'NORMAL'
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
    addMissingColumns(db)
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
    this.begin = db.prepare('BEGIN')
    this.commitStmt = db.prepare('COMMIT')
    this.s = {
      saveSession: db.prepare(
        `INSERT INTO sessions (client, disconnected_at, expiry_interval) VALUES (?, ?, COALESCE(?, ${SESSION_NEVER_EXPIRES}))
         ON CONFLICT (client) DO UPDATE SET disconnected_at = excluded.disconnected_at, expiry_interval = COALESCE(?, expiry_interval)`,
      ),
      deleteSession: db.prepare('DELETE FROM sessions WHERE client = ?'),
      deleteSessionSubs: db.prepare('DELETE FROM subscriptions WHERE client = ?'),
      deleteSessionDeliveries: db.prepare('DELETE FROM deliveries WHERE client = ?'),
      deleteSessionInbound: db.prepare('DELETE FROM inbound_qos2 WHERE client = ?'),
      saveSub: db.prepare(
        'INSERT OR REPLACE INTO subscriptions (client, filter, qos, no_local, retain_as_published, retain_handling, subscription_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      deleteSub: db.prepare('DELETE FROM subscriptions WHERE client = ? AND filter = ?'),
      addDelivery: db.prepare(
        'INSERT OR REPLACE INTO deliveries (client, seq, topic, payload, qos, retain, packet_id, released, properties, expires_at, sub_ids) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      updateDelivery: db.prepare(
        'UPDATE deliveries SET packet_id = ?, released = ? WHERE client = ? AND seq = ?',
      ),
      deleteDelivery: db.prepare('DELETE FROM deliveries WHERE client = ? AND seq = ?'),
      addInbound: db.prepare('INSERT OR IGNORE INTO inbound_qos2 (client, packet_id) VALUES (?, ?)'),
      deleteInbound: db.prepare('DELETE FROM inbound_qos2 WHERE client = ? AND packet_id = ?'),
      setRetained: db.prepare(
        'INSERT OR REPLACE INTO retained (topic, payload, qos, properties, expires_at) VALUES (?, ?, ?, ?, ?)',
      ),
      deleteRetained: db.prepare('DELETE FROM retained WHERE topic = ?'),
    }
    // WAL checkpoints off the event loop, in a worker thread
    const logger = options.logger
    this.checkpointer = new Checkpointer(db, {
      synchronous,
      workerUrl: options.checkpointWorker,
      warn:
        logger === undefined
          ? (msg) => process.emitWarning(msg)
          : (msg, err) => logger.warn({ err: err.message }, msg),
    })
  }

  load(): StoreSnapshot {
    const sessions = readSessions(this.db)
    // after a clean stop, the snapshot the broker wrote (read in a third of the time), else the rows
    const retained = takeSnapshot(this.db, this.dataDir) ?? readRetainedRows(this.db)
    return { sessions, retained }
  }

  private tx(): void {
    if (!this.inTx) {
      this.begin.run()
      this.inTx = true
    }
  }

  saveSession(clientId: string, disconnectedAt: number, expiryInterval?: number): void {
    this.tx()
    const interval = expiryInterval ?? null // null: a new session never expires, a known one keeps its own
    this.s.saveSession.run(clientId, disconnectedAt, interval, interval)
  }
  deleteSession(clientId: string): void {
    this.tx()
    this.s.deleteSession.run(clientId)
    this.s.deleteSessionSubs.run(clientId)
    this.s.deleteSessionDeliveries.run(clientId)
    this.s.deleteSessionInbound.run(clientId)
  }
  saveSubscription(clientId: string, filter: string, sub: StoredSubscription): void {
    this.tx()
    if (typeof sub === 'number') this.s.saveSub.run(clientId, filter, sub, 0, 0, 0, 0)
    else {
      this.s.saveSub.run(
        clientId,
        filter,
        sub.qos,
        sub.noLocal ? 1 : 0,
        sub.retainAsPublished ? 1 : 0,
        sub.retainHandling,
        sub.subscriptionId,
      )
    }
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
      propertiesToJson(d.properties),
      d.expiresAt ?? 0,
      idsToText(d.subIds),
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
    else
      this.s.setRetained.run(
        msg.topic,
        msg.payload,
        msg.qos,
        propertiesToJson(msg.properties),
        msg.expiresAt ?? 0,
      )
  }

  commit(): void {
    if (!this.inTx) return
    this.inTx = false
    this.commitStmt.run()
    this.checkpointer.afterCommit()
  }

  /** The retained snapshot (retained-snapshot.ts), its token committed by `close()`. */
  saveRetainedSnapshot(entries: Iterable<StoredRetained>): void {
    this.tx()
    saveSnapshot(this.db, this.dataDir, entries)
  }

  close(): void {
    this.commit()
    // the worker's connection first, so that this one is the last and checkpoints as it closes
    this.checkpointer.stop()
    this.db.close()
  }

  /** Where WAL checkpoints ran (see checkpointer.ts). */
  checkpointStats(): CheckpointStats {
    return this.checkpointer.stats()
  }

  /** The database's pages and its write-ahead log, in bytes; null once closed. */
  sizeBytes(): number | null {
    const db = this.db
    if (!db.open) return null
    const pages = db.pragma('page_count', { simple: true }) as number
    const pageSize = db.pragma('page_size', { simple: true }) as number
    return pages * pageSize + walBytes(db.name)
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

/** Upgrades an older database in place: every column of COLUMNS it lacks is added with its default. */
function addMissingColumns(db: Db): void {
  const have = new Map<string, Set<string>>()
  for (const [table, column, declaration] of COLUMNS) {
    let cols = have.get(table)
    if (cols === undefined) {
      cols = new Set((db.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name))
      have.set(table, cols)
    }
    if (cols.has(column)) continue
    db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${declaration}`)
    cols.add(column)
  }
}
