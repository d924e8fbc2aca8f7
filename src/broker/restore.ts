import { own } from '../session/empty.js'
import type { StoredMessage, StoreSnapshot } from '../store/store.js'
import { Message } from './message.js'
import type { RetainedStore } from './retained.js'
import type { Session } from './session.js'
import type { TopicTree } from './topic-tree.js'

/**
 * Rebuilds the broker's state from a store snapshot at start: persistent
 * sessions with their subscriptions, in-flight flows (re-sent on reconnect with
 * DUP set, or as PUBREL), queued messages in order, QoS 2 ids awaiting PUBREL,
 * and retained messages. Returns how many retained messages the store had, and the topics of
 * those that expired while the broker was down, for the caller to delete.
 */
export function restoreState(
  snapshot: StoreSnapshot,
  newSession: (clientId: string) => Session,
  tree: TopicTree<Session>,
  retained: RetainedStore,
): { retained: number; expired: string[] } {
  for (const stored of snapshot.sessions) {
    const session = newSession(stored.clientId)
    session.disconnectedAt = stored.disconnectedAt || Date.now()
    // with their MQTT 5 options and identifiers; `$share/...` filters rejoin their groups
    for (const [filter, sub] of stored.subscriptions) {
      session.subscriptions = own(session.subscriptions)
      session.subscriptions.set(filter, sub)
      tree.add(filter, session, sub)
    }
    for (const d of stored.deliveries) {
      const q = {
        msg: message(d, d.retain),
        qos: d.qos,
        retain: d.retain,
        seq: d.seq,
        subIds: d.subIds ?? null,
      }
      // A queued message whose expiry passed meanwhile is dropped when it comes to be sent.
      if (d.packetId === 0 || d.qos === 0) session.restoreQueued(q)
      // Sent before the restart: it keeps its packet id, so a QoS 2 flow stays exactly once.
      else session.restoreInflight(q, d.packetId, d.released)
    }
    for (const id of stored.inboundQos2) session.inbound.restore(id)
  }
  const now = Date.now()
  const expired: string[] = []
  let count = 0
  // read as the store streams it: nothing may be written to the store until the last one
  for (const r of snapshot.retained) {
    count++
    // [MQTT-3.3.2-5] expired while the broker was down: not sent any more (the caller deletes it)
    if (r.expiresAt !== undefined && r.expiresAt !== 0 && r.expiresAt <= now) expired.push(r.topic)
    else retained.restore(r.topic, r.payload, r.qos, r.properties ?? null, r.expiresAt ?? 0)
  }
  return { retained: count, expired }
}

/** A stored message as the broker's Message, with its MQTT 5 properties and expiry. */
function message(m: StoredMessage, retain: boolean): Message {
  const msg = new Message(m.topic, m.payload, m.qos, retain, null, true)
  msg.properties = m.properties ?? null
  msg.expiresAt = m.expiresAt ?? 0
  return msg
}
