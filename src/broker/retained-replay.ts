import type { QoS } from '../protocol/constants.js'
import type { StoredRetained } from '../store/store.js'
import type { Message } from './message.js'
import { retainedMessage } from './retained.js'
import { type RawForm, RetainedEncoder } from './retained-encoder.js'
import type { SessionLink } from './session-types.js'

export type { RawForm } from './retained-encoder.js'

/** The retained messages of a subscription as a walk of the trie gives them (RetainedStore.matching). */
export type RetainedWalk = Iterator<StoredRetained, void>

/** What a replay needs of the session it sends for (Session). */
export interface ReplayTarget {
  readonly queued: number
  readonly outbound: { readonly hasRoom: boolean }
  /** How its connection takes retained QoS 0 PUBLISHes encoded from the parts; null: not at all. */
  readonly rawForm: RawForm | null
  deliver(msg: Message, qos: QoS, retain: boolean, from: null, subIds: number[] | null): void
  /** Sends `packets` retained QoS 0 PUBLISHes encoded together (RetainedEncoder), each counted. */
  sendRaw(bytes: Buffer, packets: number, payload: number): void
  /** Sends what waits (the queue first, then these replays). */
  pump(): void
}

interface Replay {
  /** The subscription's filter, as subscribed. */
  readonly filter: string
  readonly messages: RetainedWalk
  readonly granted: QoS
  readonly subIds: number[] | null
}

/**
 * A replay sends for at most this long in one turn of the event loop (checked every
 * REPLAY_CHECK messages), then yields to other clients and goes on in the next turn
 * (setImmediate): bounded in time, not in count, so a slow machine or large messages do not
 * hold the loop longer. Measured with 1,000,000 retained messages to a '#' subscriber and a
 * one2one at 5,000 msg/s beside it: 1024 messages a turn gave the one2one a p99 of 40-85 ms,
 * 256 kept it under 20 ms but cost a fifth of the replay's rate; 1 ms a turn gave 17-18 ms
 * and 460-490k msg/s (2 ms: 26-33 ms). Since plain QoS 0 replays are encoded into slabs
 * (RetainedEncoder), 1 ms gives 780-820k msg/s at a p99 of 19-21 ms, and 0.5 ms 670-680k at
 * 15-21 ms: the tail of the clients beside a replay matters more than its rate past 500k.
 */
export const REPLAY_SLICE_MS = 0.5
export const REPLAY_CHECK = 64

/**
 * The retained messages of a session's new subscriptions on their way out, sent as fast as
 * its client takes them and no faster: one '#' subscription on a million retained messages
 * must neither fill the broker's memory with a million encoded copies (nor drop those past
 * the output limit, as sending them all at once did at QoS 0) nor hold the event loop while
 * other clients wait. Each replay walks the retained trie lazily (RetainedStore.matching);
 * it sends while the connection's output is under the soft limit, nothing waits in the
 * session's queue and QoS 1/2 have room in flight, for at most REPLAY_SLICE_MS a turn. It goes on
 * when the output drains, an acknowledgement makes room (both call Session.pump) or the
 * next turn comes. The common case (QoS 0 delivered, no properties, no expiry, no subscription
 * identifier, no Topic Alias, no authorizeRead hook) is encoded straight from the retained
 * parts into slabs (RetainedEncoder), the rest goes as a Message through Session.deliver, in the
 * order walked: a slab is handed over before any message sent the other way. A persistent
 * session's replay cut by the connection's end goes on when the client comes back (it does not
 * subscribe again: its session is present); a clean session's ends with it. A restart loses what was not sent yet. Unsubscribing, or
 * subscribing to the same filter again, cancels what is left of the old replay.
 */
export class RetainedReplays {
  private readonly list: Replay[] = []
  private tick: ReturnType<typeof setImmediate> | null = null
  private readonly target: ReplayTarget
  /** The output backlog past which replays wait for the drain (the soft limit). */
  private readonly soft: number
  /** Made at the first run on a connection that takes raw PUBLISHes. */
  private encoder: RetainedEncoder | null = null

  constructor(target: ReplayTarget, soft: number) {
    this.target = target
    this.soft = soft
  }

  /** Replays under way. */
  get size(): number {
    return this.list.length
  }

  add(filter: string, messages: RetainedWalk, granted: QoS, subIds: number[] | null): void {
    this.list.push({ filter, messages, granted, subIds })
  }

  /** The subscription to `filter` was removed or replaced: what is left of its replay is not sent. */
  cancel(filter: string): void {
    for (let i = this.list.length - 1; i >= 0; i--)
      if (this.list[i]!.filter === filter) this.list.splice(i, 1)
  }

  /** Sends what `link` takes now; false once every replay is done. */
  run(link: SessionLink): boolean {
    const target = this.target
    const list = this.list
    const form = target.rawForm
    const raw = form === null ? null : (this.encoder ??= new RetainedEncoder(this.sendRaw))
    const start = performance.now()
    let sent = 0
    while (list.length > 0) {
      const r = list[0]!
      // a QoS 0 replay does not wait for room in flight; the slab is output not yet counted
      const backlog = raw === null ? link.outputBacklog : link.outputBacklog + raw.pending
      if (backlog > this.soft || target.queued > 0 || (r.granted > 0 && !target.outbound.hasRoom)) {
        if (raw === null || raw.pending === 0) return true
        raw.flush() // then checked again with the connection's own count
        continue
      }
      if (++sent % REPLAY_CHECK === 0 && performance.now() - start > REPLAY_SLICE_MS) {
        raw?.flush()
        this.tick ??= setImmediate(this.next)
        return true
      }
      const n = r.messages.next()
      if (n.done === true) {
        list.shift()
        continue
      }
      const e = n.value
      // [MQTT-3.3.1-6] RETAIN 1, at min(its QoS, the granted QoS) [MQTT-3.8.4-6]
      const qos = e.qos < r.granted ? e.qos : r.granted
      if (
        raw !== null &&
        qos === 0 &&
        r.subIds === null &&
        e.properties == null &&
        (e.expiresAt === undefined || e.expiresAt === 0) &&
        raw.add(e, form!)
      )
        continue
      raw?.flush() // what was encoded goes first: the order walked is kept
      target.deliver(retainedMessage(e), qos, true, null, r.subIds)
    }
    raw?.flush()
    this.stopTick()
    return false
  }

  /** The connection ended or the session did: what is left is not sent. */
  stop(): void {
    this.list.length = 0
    this.stopTick()
  }

  /** The connection ended; a persistent session's replays go on when the next one attaches. */
  pause(): void {
    this.stopTick()
  }

  private stopTick(): void {
    if (this.tick !== null) clearImmediate(this.tick)
    this.tick = null
  }

  private readonly sendRaw = (bytes: Buffer, packets: number, payload: number): void => {
    this.target.sendRaw(bytes, packets, payload)
  }

  private readonly next = (): void => {
    this.tick = null
    this.target.pump()
  }
}
