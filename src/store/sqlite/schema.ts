/**
 * Schema of the SQLite store. PRAGMA user_version holds SCHEMA_VERSION; a
 * future version adds its migration steps here, keyed by the version they
 * upgrade from.
 */
export const SCHEMA_VERSION = 1

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
`
