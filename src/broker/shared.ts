import type { QoS } from '../protocol/constants.js'
import { qosOf, type Sub } from './subscription.js'

/**
 * One member of a shared subscription: the session, its subscription's options,
 * and the Subscription Identifier list sent with its messages (made once).
 */
export interface Member<S> {
  readonly subscriber: S
  readonly sub: Sub
  readonly qos: QoS
  readonly retainAsPublished: boolean
  readonly subIds: number[] | null
}

/**
 * How ready a member is to take a message on `topic` now: 2 connected with room (nothing
 * queued, inflight window open), 1 connected but busy, 0 offline (a persistent session),
 * -1 not at all (it may not read the topic: the message goes to another member).
 */
export type Readiness<T> = (subscriber: T, topic: string) => -1 | 0 | 1 | 2

/**
 * A shared subscription `$share/{group}/{filter}` [MQTT-4.8.2]: the sessions subscribed
 * to it, each message going to one of them. Members are taken in turn (round robin),
 * preferring one that is connected and has room, then one that is connected, then an
 * offline persistent session (where QoS 1/2 is queued until it returns). A route-cache
 * entry holds the group itself, so the member is chosen afresh for every message.
 */
export class SharedGroup<T> {
  /** `$share/{group}/{filter}` as the clients subscribed to it. */
  readonly name: string
  private members: Member<T>[] = []
  private next = 0

  constructor(name: string) {
    this.name = name
  }

  get size(): number {
    return this.members.length
  }

  /** Adds a member, or replaces its options [MQTT-3.8.4-3]; true when it is new. */
  set(subscriber: T, sub: Sub): boolean {
    const m: Member<T> = {
      subscriber,
      sub,
      qos: qosOf(sub),
      retainAsPublished: typeof sub !== 'number' && sub.retainAsPublished,
      subIds: typeof sub !== 'number' && sub.subscriptionId !== 0 ? [sub.subscriptionId] : null,
    }
    const i = this.members.findIndex((x) => x.subscriber === subscriber)
    if (i >= 0) {
      this.members[i] = m
      return false
    }
    this.members.push(m)
    return true
  }

  /** Removes a member; true when it was one. */
  delete(subscriber: T): boolean {
    const i = this.members.findIndex((x) => x.subscriber === subscriber)
    if (i < 0) return false
    this.members.splice(i, 1)
    if (this.next > i) this.next--
    return true
  }

  /** True when a member other than `subscriber` is left. */
  hasOther(subscriber: T): boolean {
    return this.members.some((m) => m.subscriber !== subscriber)
  }

  /**
   * The member the next message goes to, or null when there is none (other than
   * `except`, the member that is leaving). Round robin from where the last pick
   * stopped: the first ready member, else the first connected one, else the first.
   * `topic` (the message's) is passed to `readiness`, which may pass a member over.
   */
  pick(readiness: Readiness<T>, except: T | null = null, topic = ''): Member<T> | null {
    const members = this.members
    const n = members.length
    let busy = -1
    let offline = -1
    for (let k = 0; k < n; k++) {
      const i = (this.next + k) % n
      const m = members[i]!
      if (m.subscriber === except) continue
      const r = readiness(m.subscriber, topic)
      if (r === 2) return this.take(i)
      if (r === 1) {
        if (busy < 0) busy = i
      } else if (r === 0 && offline < 0) offline = i
    }
    if (busy >= 0) return this.take(busy)
    if (offline >= 0) return this.take(offline)
    return null
  }

  private take(i: number): Member<T> {
    this.next = (i + 1) % this.members.length
    return this.members[i]!
  }
}
