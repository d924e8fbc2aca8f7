/**
 * Schema of the SQLite store. PRAGMA user_version holds SCHEMA_VERSION (a newer
 * database is refused). Version 2 adds the MQTT 5 subscription options; an older
 * database is upgraded in place by adding the columns it lacks (ADDED_COLUMNS).
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
  no_local INTEGER NOT NULL DEFAULT 0,
  retain_as_published INTEGER NOT NULL DEFAULT 0,
  retain_handling INTEGER NOT NULL DEFAULT 0,
  subscription_id INTEGER NOT NULL DEFAULT 0,
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
`

/**
 * Columns added after schema 1, per table: a database written by an older Petrel
 * gets them (with their defaults) when it is opened; see addMissingColumns.
 */
export const ADDED_COLUMNS: Record<string, [name: string, definition: string][]> = {
  // MQTT 5 subscription options and identifier; 0 is each one's default (no identifier)
  subscriptions: [
    ['no_local', 'INTEGER NOT NULL DEFAULT 0'],
    ['retain_as_published', 'INTEGER NOT NULL DEFAULT 0'],
    ['retain_handling', 'INTEGER NOT NULL DEFAULT 0'],
    ['subscription_id', 'INTEGER NOT NULL DEFAULT 0'],
  ],
}
