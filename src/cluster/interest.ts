import type { NatsConnection, Subscription } from '@nats-io/transport-node'
import { parseShared } from '../broker/subscription.js'
import { filterToSubjects, tokenOf } from './subject.js'

/** The subjects a node's messages travel on: `petrel.m.…` QoS 0 (core NATS), `petrel.d.…` QoS 1/2 (JetStream). */
export const QOS0_PREFIX = 'petrel.m.'
export const DURABLE_PREFIX = 'petrel.d.'
/** Both of them, for a subscription: `petrel.*.…`. */
const ANY_PREFIX = 'petrel.*.'
/** Length of either prefix: where the topic's subject starts. */
export const PREFIX_LENGTH = QOS0_PREFIX.length

/** Called with a message's subject and data, and the local shared subscription it is for (or null). */
export type Receive = (subject: string, data: Uint8Array, shared: string | null) => void

interface Held {
  count: number
  subs: Subscription[]
}

/**
 * The NATS subscriptions that tell the cluster which messages this node wants: one per
 * subject of each distinct local filter, however many local sessions share it (NATS then
 * sends a message once per subscription: the receiver drops the copies, see Cluster). A
 * shared subscription `$share/{group}/{filter}` is a NATS queue subscription, group
 * `{group}`, so each message goes to one node of the group's members cluster-wide.
 */
export class Interest {
  private readonly held = new Map<string, Held>()

  constructor(
    private readonly nc: NatsConnection,
    private readonly receive: Receive,
  ) {}

  /** NATS subscriptions held. */
  get size(): number {
    let n = 0
    for (const h of this.held.values()) n += h.subs.length
    return n
  }

  add(filter: string): void {
    const h = this.held.get(filter)
    if (h !== undefined) {
      h.count++
      return
    }
    const shared = parseShared(filter)
    const share = typeof shared === 'object' ? shared : null
    const subjects = filterToSubjects(share === null ? filter : share.filter)
    const group = share === null ? null : filter
    const subs: Subscription[] = []
    const receive = this.receive
    for (const s of subjects) {
      subs.push(
        this.nc.subscribe(ANY_PREFIX + s, {
          ...(share === null ? {} : { queue: tokenOf(share.group) }),
          callback: (err, m) => {
            if (err === null) receive(m.subject, m.data, group)
          },
        }),
      )
    }
    this.held.set(filter, { count: 1, subs })
  }

  remove(filter: string): void {
    const h = this.held.get(filter)
    if (h === undefined) return
    if (--h.count > 0) return
    this.held.delete(filter)
    for (const s of h.subs) s.unsubscribe()
  }
}
