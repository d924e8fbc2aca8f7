/**
 * Schema of the SQLite store. PRAGMA user_version holds SCHEMA_VERSION.
 * SCHEMA is the first version's tables; later versions add columns (COLUMNS), each with
 * a default, so a database written by an older Petrel opens and upgrades in place. `meta`
 * and its triggers came later too (created when missing, like any table here): meta holds
 * the token of the retained snapshot (retained-snapshot.ts), and any change to a retained
 * row, by this Petrel, an older one or the sqlite3 shell, deletes it, so that the snapshot
 * is never read in place of rows newer than it.
 */
export const SCHEMA_VERSION = 2

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS sessions (
  client TEXT PRIMARY KEY,
  disconnected_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (
  client TEXT NOT NULL,
  filter TEXT NOT NULL,
  qos INTEGER NOT NULL,
  PRIMARY KEY (client, filter)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (
  client TEXT NOT NULL,
  seq INTEGER NOT NULL,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  packet_id INTEGER NOT NULL,
  released INTEGER NOT NULL,
  PRIMARY KEY (client, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbound_qos2 (
  client TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  PRIMARY KEY (client, packet_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS retained (
  topic TEXT PRIMARY KEY,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS retained_insert_voids_snapshot AFTER INSERT ON retained
  BEGIN DELETE FROM meta WHERE key = 'retained_snapshot'; END;
CREATE TRIGGER IF NOT EXISTS retained_update_voids_snapshot AFTER UPDATE ON retained
  BEGIN DELETE FROM meta WHERE key = 'retained_snapshot'; END;
CREATE TRIGGER IF NOT EXISTS retained_delete_voids_snapshot AFTER DELETE ON retained
  BEGIN DELETE FROM meta WHERE key = 'retained_snapshot'; END;
`

/**
 * Columns added after version 1 (MQTT 5), as [table, column, declaration]. Added when
 * missing, whatever the version a database says it is at: adding is idempotent, so
 * each change to the schema only appends here. An old row gets the default.
 */
export const COLUMNS: readonly [table: string, column: string, declaration: string][] = [
  // version 2: message properties, expiry and subscription identifiers (MQTT 5)
  ['deliveries', 'properties', 'TEXT'],
  ['deliveries', 'expires_at', 'INTEGER NOT NULL DEFAULT 0'],
  ['deliveries', 'sub_ids', 'TEXT'],
  ['retained', 'properties', 'TEXT'],
  ['retained', 'expires_at', 'INTEGER NOT NULL DEFAULT 0'],
  // a session stored by 3.1.1 Petrel never expires of itself (SESSION_NEVER_EXPIRES)
  ['sessions', 'expiry_interval', 'INTEGER NOT NULL DEFAULT 4294967295'],
  // version 2: MQTT 5 subscription options and identifier (0: none); 0 is each one's default
  ['subscriptions', 'no_local', 'INTEGER NOT NULL DEFAULT 0'],
  ['subscriptions', 'retain_as_published', 'INTEGER NOT NULL DEFAULT 0'],
  ['subscriptions', 'retain_handling', 'INTEGER NOT NULL DEFAULT 0'],
  ['subscriptions', 'subscription_id', 'INTEGER NOT NULL DEFAULT 0'],
]
