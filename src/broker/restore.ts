import { encodePubrel } from '../protocol/encoder.js'
import { Await } from '../session/outbound.js'
import type { StoreSnapshot } from '../store/store.js'
import { Message } from './message.js'
import type { RetainedStore } from './retained.js'
import type { Session } from './session.js'
import type { TopicTree } from './topic-tree.js'

/**
 * Rebuilds the broker's state from a store snapshot at start: persistent
 * sessions with their subscriptions, in-flight flows (re-sent on reconnect with
 * DUP set, or as PUBREL), queued messages in order, QoS 2 ids awaiting PUBREL,
 * and retained messages.
 */
export function restoreState(
  snapshot: StoreSnapshot,
  newSession: (clientId: string) => Session,
  tree: TopicTree<Session>,
  retained: RetainedStore,
): void {
  for (const stored of snapshot.sessions) {
    const session = newSession(stored.clientId)
    session.disconnectedAt = stored.disconnectedAt || Date.now()
    // with their MQTT 5 options and identifiers; `$share/...` filters rejoin their groups
    for (const [filter, sub] of stored.subscriptions) {
      session.subscriptions.set(filter, sub)
      tree.add(filter, session, sub)
    }
    for (const d of stored.deliveries) {
      if (d.seq >= session.nextSeq) session.nextSeq = d.seq + 1
      const msg = new Message(d.topic, d.payload, d.qos, d.retain, null, true)
      if (d.packetId === 0 || d.qos === 0) {
        session.restoreQueued({ msg, qos: d.qos, retain: d.retain, seq: d.seq, subIds: null })
        continue
      }
      // Sent before the restart: it keeps its packet id, so a QoS 2 flow stays exactly once.
      session.outbound.restore({
        packetId: d.packetId,
        qos: d.qos as 1 | 2,
        awaiting: d.released ? Await.Pubcomp : d.qos === 1 ? Await.Puback : Await.Pubrec,
        bytes: d.released ? encodePubrel(d.packetId) : msg.tpl.qos12(d.qos, d.packetId, true, d.retain),
        ctx: d.seq,
      })
    }
    for (const id of stored.inboundQos2) session.inbound.restore(id)
  }
  for (const r of snapshot.retained) {
    retained.set(r.topic, new Message(r.topic, r.payload, r.qos, true, null, true))
  }
}
