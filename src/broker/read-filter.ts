import type { Fifo } from '../session/fifo.js'
import { Await, type OutboundFlow } from '../session/outbound.js'

/** Whether the connected client may read a topic (see Hooks.readerFor). */
export type MayRead = (topic: string) => boolean

/**
 * A connection takes a session: what it may not read is dropped before anything is sent, as
 * the rules, or the client's user name, may have changed since it was queued or sent (another
 * user taking the session's client id, a reloaded ACL file). The queue (messages that waited
 * while the client was away) and the in-flight PUBLISHes (sent on an earlier connection, not
 * yet acknowledged) are both checked; a QoS 2 flow past PUBREC is only a PUBREL and stays.
 */
export function dropUnreadable(
  queue: Fifo<{ readonly msg: { readonly topic: string }; readonly seq: number }>,
  outbound: OutboundFlow<number>,
  mayRead: MayRead,
  /** Deletes a stored delivery by its key (a persistent session's). */
  forget: (seq: number) => void,
  /** An in-flight message was dropped: its packet id, to forget wherever else it is tracked. */
  dropped: (packetId: number) => void,
): void {
  if (queue.size > 0) {
    queue.retain((q) => {
      if (mayRead(q.msg.topic)) return true
      if (q.seq !== 0) forget(q.seq)
      return false
    })
  }
  if (outbound.size === 0) return
  const unread: number[] = []
  for (const e of outbound.entries()) {
    if (e.awaiting !== Await.Pubcomp && !mayRead(publishTopic(e.bytes))) unread.push(e.packetId)
  }
  for (const id of unread) {
    const e = outbound.refuse(outbound.get(id)!.awaiting === Await.Puback ? 'puback' : 'pubrec', id)
    if (e === null) continue
    if (e.ctx !== 0) forget(e.ctx)
    dropped(id)
  }
}

/** The topic of an encoded PUBLISH (3.1.1 or 5; the bytes kept for a re-send carry it in full). */
function publishTopic(bytes: Buffer): string {
  let i = 1
  while (bytes[i]! & 0x80) i++
  i++
  const len = (bytes[i]! << 8) | bytes[i + 1]!
  return bytes.toString('utf8', i + 2, i + 2 + len)
}
