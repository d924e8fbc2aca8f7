/**
 * Figures from the $SYS topics of any broker (Mosquitto's names: $SYS/broker/uptime,
 * clients/connected, publish/messages/received, load/.../1min ...). Pure: the caller
 * passes each message with the time it came and says when a batch has ended.
 *
 * A broker publishes its $SYS values in one burst every sys_interval seconds, and Mosquitto
 * only those that changed, so a figure keeps its last value until a new one comes. Rates
 * come from the counters of two successive bursts over the time between them: the local
 * arrival times when both bursts were live, the broker's uptime when the older one was
 * retained (sent at subscription, published earlier). Until there are two bursts, the
 * broker's own 1-minute load averages stand in (Mosquitto's are per minute).
 */
import { emptyFigures, type Figures, type Num } from './top-figures.js'

const PREFIX = '$SYS/broker/'

/** The counters rates are made of; each the first of its topics the broker gives. */
const COUNTERS = {
  messagesIn: ['publish/messages/received', 'messages/received'],
  messagesOut: ['publish/messages/sent', 'messages/sent'],
  bytesIn: ['publish/bytes/received', 'bytes/received'],
  bytesOut: ['publish/bytes/sent', 'bytes/sent'],
  dropped: ['publish/messages/dropped'],
} as const
type Counter = keyof typeof COUNTERS
const COUNTER_NAMES = Object.keys(COUNTERS) as Counter[]

/** The 1-minute loads standing in for each rate until there are two bursts. */
const LOADS: Record<Counter | 'connections', readonly string[]> = {
  messagesIn: ['load/publish/received/1min', 'load/messages/received/1min'],
  messagesOut: ['load/publish/sent/1min', 'load/messages/sent/1min'],
  bytesIn: ['load/bytes/received/1min'],
  bytesOut: ['load/bytes/sent/1min'],
  dropped: ['load/publish/dropped/1min'],
  connections: ['load/connections/1min'],
}

/** Mosquitto's load averages are per minute. */
const LOAD_PER_SECOND = 1 / 60

interface Snapshot {
  /** Local time (ms) the burst began to arrive. */
  at: number
  /** False when any of it was a retained message: published some time before `at`. */
  live: boolean
  uptime: Num
  counters: Record<Counter, Num>
  /** The topic each counter was read from: a rate needs the same one at both ends. */
  sources: Record<Counter, string | null>
}

export class SysFigures {
  /** Payloads by topic under $SYS/broker/. */
  private readonly values = new Map<string, string>()
  private burst: { at: number; live: boolean; uptimeSeen: boolean } | null = null
  private last: Snapshot | null = null
  private rates: Record<Counter, Num> | null = null
  private uptimeAt: { uptime: number; at: number } | null = null
  private bursts = 0

  /** How many bursts have ended: 0 until the first values are in. */
  get burstCount(): number {
    return this.bursts
  }

  /** Whether a burst is arriving (a message came and endBurst() has not been called since). */
  get inBurst(): boolean {
    return this.burst !== null
  }

  /**
   * One $SYS message. `retained`: the broker sent it at subscription (its retained value),
   * not as it published it. Topics outside $SYS/broker/ are ignored.
   */
  receive(topic: string, payload: string, retained: boolean, now: number): void {
    if (!topic.startsWith(PREFIX)) return
    const name = topic.slice(PREFIX.length)
    // Uptime comes once per burst: a second one means the last burst is over.
    if (name === 'uptime' && this.burst?.uptimeSeen === true) this.endBurst()
    this.burst ??= { at: now, live: true, uptimeSeen: false }
    if (retained) this.burst.live = false
    this.values.set(name, payload.trim())
    if (name === 'uptime') {
      this.burst.uptimeSeen = true
      const up = this.number('uptime')
      if (up !== null) this.uptimeAt = { uptime: up, at: now }
    }
  }

  /** The burst that was arriving is complete: its counters give the rates since the last one. */
  endBurst(): void {
    const b = this.burst
    if (b === null) return
    this.burst = null
    this.bursts++
    const counters = {} as Record<Counter, Num>
    const sources = {} as Record<Counter, string | null>
    for (const c of COUNTER_NAMES) {
      sources[c] = this.firstTopic(COUNTERS[c])
      counters[c] = sources[c] === null ? null : this.number(sources[c])
    }
    const snap: Snapshot = { at: b.at, live: b.live, uptime: this.number('uptime'), counters, sources }
    const prev = this.last
    this.last = snap
    if (prev === null) return
    let seconds: number | null = null
    if (prev.live && snap.live) seconds = (snap.at - prev.at) / 1000
    else if (prev.uptime !== null && snap.uptime !== null) seconds = snap.uptime - prev.uptime
    if (seconds === null || seconds <= 0) return
    const rates = {} as Record<Counter, Num>
    for (const c of COUNTER_NAMES) {
      const a = prev.counters[c]
      const z = snap.counters[c]
      // A counter going back: the broker restarted; no rate this time. Nor when the counter came
      // from another topic last time (Mosquitto publishes publish/messages/received only once
      // it is not 0: until then messages/received, all packets, stood in for it).
      rates[c] =
        a === null || z === null || z < a || prev.sources[c] !== snap.sources[c] ? null : (z - a) / seconds
    }
    this.rates = rates
  }

  /** What the rates are averaged over, for the frame. */
  rateWindow(): string | null {
    if (this.rates !== null) return 'last interval'
    return this.first(LOADS.messagesIn) !== null ? '1 min average' : null
  }

  /** The figures as of `now` (the uptime runs on between bursts). */
  figures(now: number): Figures {
    const x = emptyFigures()
    x.version = this.values.get('version') ?? null
    if (this.uptimeAt !== null) {
      x.uptimeSeconds = this.uptimeAt.uptime + Math.max(0, now - this.uptimeAt.at) / 1000
    }
    const connected = this.first(['clients/connected', 'clients/active'])
    x.connections.current = connected
    x.connections.maximum = this.number('clients/maximum')
    x.sessions.current = this.number('clients/total')
    x.sessions.disconnected = this.first(['clients/disconnected', 'clients/inactive'])
    x.sessions.expired = this.number('clients/expired')
    x.subscriptions = this.number('subscriptions/count')
    x.sharedSubscriptions = this.number('shared_subscriptions/count')
    x.retained = this.number('retained messages/count')
    x.stored.messages = this.first(['messages/stored', 'store/messages/count'])
    x.stored.bytes = this.number('store/messages/bytes')
    x.memory.heapUsedBytes = this.number('heap/current')
    x.memory.heapMaxBytes = this.number('heap/maximum')
    for (const c of COUNTER_NAMES) {
      x.totals[c] = this.first(COUNTERS[c])
      x.rates[c] = this.rates !== null ? this.rates[c] : this.load(LOADS[c])
    }
    x.rates.connections = this.load(LOADS.connections)
    return x
  }

  private load(topics: readonly string[]): Num {
    const v = this.first(topics)
    return v === null ? null : v * LOAD_PER_SECOND
  }

  private first(topics: readonly string[]): Num {
    const t = this.firstTopic(topics)
    return t === null ? null : this.number(t)
  }

  /** The first of `topics` with a number. */
  private firstTopic(topics: readonly string[]): string | null {
    for (const t of topics) if (this.number(t) !== null) return t
    return null
  }

  /** A topic's value as a number: '42', '0.25', '12 seconds'. */
  private number(topic: string): Num {
    const s = this.values.get(topic)
    if (s === undefined) return null
    const m = /^-?\d+(\.\d+)?/.exec(s)
    return m === null ? null : Number(m[0])
  }
}
