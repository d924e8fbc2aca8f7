import type BetterSqlite3 from 'better-sqlite3'
import type { QoS } from '../../protocol/constants.js'
import type { StoredMessage, StoredSession, StoredSubscription } from '../store.js'
import { idsFromText, propertiesFromJson } from './properties-json.js'

/** Reading the SQLite store's tables back at start (sqlite-store.ts writes them). */

type Db = BetterSqlite3.Database

/** The persistent sessions, with their subscriptions, deliveries in seq order and inbound QoS 2 ids. */
export function readSessions(db: Db): StoredSession[] {
  const sessions = new Map<string, StoredSession>()
  for (const r of db.prepare('SELECT client, disconnected_at, expiry_interval FROM sessions').all() as {
    client: string
    disconnected_at: number
    expiry_interval: number
  }[]) {
    sessions.set(r.client, {
      clientId: r.client,
      subscriptions: [],
      deliveries: [],
      inboundQos2: [],
      disconnectedAt: r.disconnected_at,
      expiryInterval: r.expiry_interval,
    })
  }
  const get = (client: string): StoredSession | undefined => sessions.get(client)
  for (const r of db
    .prepare(
      'SELECT client, filter, qos, no_local, retain_as_published, retain_handling, subscription_id FROM subscriptions',
    )
    .all() as {
    client: string
    filter: string
    qos: number
    no_local: number
    retain_as_published: number
    retain_handling: number
    subscription_id: number
  }[]) {
    get(r.client)?.subscriptions.push([r.filter, subscriptionFromRow(r)])
  }
  for (const r of db
    .prepare(
      'SELECT client, seq, topic, payload, qos, retain, packet_id, released, properties, expires_at, sub_ids FROM deliveries ORDER BY client, seq',
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
    properties: string | null
    expires_at: number
    sub_ids: string | null
  }[]) {
    get(r.client)?.deliveries.push({
      seq: r.seq,
      topic: r.topic,
      payload: r.payload,
      qos: r.qos as QoS,
      retain: r.retain === 1,
      packetId: r.packet_id,
      released: r.released === 1,
      properties: propertiesFromJson(r.properties),
      expiresAt: r.expires_at,
      subIds: idsFromText(r.sub_ids),
    })
  }
  for (const r of db.prepare('SELECT client, packet_id FROM inbound_qos2').all() as {
    client: string
    packet_id: number
  }[]) {
    get(r.client)?.inboundQos2.push(r.packet_id)
  }
  return [...sessions.values()]
}

/**
 * The retained messages, streamed row by row (rows as arrays: no object per row) as the broker
 * consumes them: with a million of them, reading them all into an array first cost more in
 * garbage collection than in SQLite. The connection is busy until the last row is read.
 */
export function* readRetainedRows(db: Db): Generator<StoredMessage, void, undefined> {
  const rows = db
    .prepare('SELECT topic, payload, qos, properties, expires_at FROM retained')
    .raw()
    .iterate() as IterableIterator<[string, Buffer, number, string | null, number]>
  for (const [topic, payload, qos, properties, expiresAt] of rows) {
    yield {
      topic,
      payload,
      qos: qos as QoS,
      retain: true,
      properties: propertiesFromJson(properties),
      expiresAt,
    }
  }
}

/** A subscriptions row: its QoS alone when every MQTT 5 option is at its default (as saved). */
function subscriptionFromRow(r: {
  qos: number
  no_local: number
  retain_as_published: number
  retain_handling: number
  subscription_id: number
}): StoredSubscription {
  const qos = r.qos as QoS
  if (r.no_local === 0 && r.retain_as_published === 0 && r.retain_handling === 0 && r.subscription_id === 0) {
    return qos
  }
  return {
    qos,
    noLocal: r.no_local === 1,
    retainAsPublished: r.retain_as_published === 1,
    retainHandling: r.retain_handling as 0 | 1 | 2,
    subscriptionId: r.subscription_id,
  }
}
