import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import type { Broker } from '../broker/broker.js'
import type { ClusterStatus } from '../broker/cluster-bridge.js'
import type { BrokerStats, CommitHistogram, NotableEvent } from '../broker/events.js'
import { VERSION } from '../version.js'
import { EVENT_LOOP_RESOLUTION_MS } from './metrics.js'

/** What the dashboard shows at one moment (GET /api/v1/overview, the stream's `overview` event). */
export interface Overview {
  /** ms since epoch. */
  time: number
  uptimeSeconds: number
  version: string
  connections: { current: number; maximum: number; accepted: number; refused: number }
  sessions: { current: number; persistent: number; expired: number }
  subscriptions: number
  sharedSubscriptions: number
  retained: number
  inflight: number
  queued: number
  /** PUBLISH counts and bytes since start; dropped = every drop reason + expired. */
  totals: { messagesIn: number; messagesOut: number; bytesIn: number; bytesOut: number; dropped: number }
  /** Per second over the last interval; connections = CONNECTs accepted per second. */
  rates: {
    messagesIn: number
    messagesOut: number
    bytesIn: number
    bytesOut: number
    dropped: number
    connections: number
  }
  store: { commitP99Seconds: number | null; sizeBytes: number | null }
  /** Over the last interval; utilization 0..1. */
  eventLoop: { delayP99Seconds: number; utilization: number }
  memory: { heapUsedBytes: number; rssBytes: number }
  /** The cluster as this node sees it, with its cross-node rates; null for a single node. */
  cluster: ClusterOverview | null
}

/** A cluster node's status in the overview, with the rates of its cross-node messages. */
export interface ClusterOverview extends ClusterStatus {
  /** Messages per second to and from other nodes over the last interval. */
  rates: { forwarded: number; received: number }
}

/** The series of GET /api/v1/history, in this order. */
export const SERIES = [
  'messagesIn',
  'messagesOut',
  'bytesIn',
  'bytesOut',
  'dropped',
  'connections',
  'commitP99Seconds',
  'eventLoopDelayP99Seconds',
  'clusterForwarded',
  'clusterReceived',
  'clusterStreamMessages',
] as const
export type SeriesName = (typeof SERIES)[number]

/** GET /api/v1/history: one point per second, oldest first; null where nothing was measured. */
export interface History {
  intervalSeconds: number
  /** Unix seconds. */
  time: number[]
  series: Record<SeriesName, (number | null)[]>
}

/** An hour of one-second points. */
export const HISTORY_POINTS = 3600
/** Notable events kept for GET /api/v1/events. */
export const EVENT_RING = 500
export const SAMPLE_INTERVAL_MS = 1000

/** What the sampler reads each second: the broker's figures, and the process's. */
export interface SampleSource {
  stats: BrokerStats
  connected(): number
  sessions(): number
  subscriptions(): number
  retained(): number
  /** O(sessions): persistent sessions, inflight, queued, shared subscriptions. */
  totals(): { persistentSessions: number; inflight: number; queued: number; sharedSubscriptions: number }
  storeSizeBytes(): number | null
  /** Event-loop delay p99 (seconds) and utilisation (0..1) since the last call. */
  eventLoop(): { delayP99Seconds: number; utilization: number }
  memory(): { heapUsedBytes: number; rssBytes: number }
  /** The cluster status; absent or null for a single node. */
  cluster?(): ClusterStatus | null
}

/** Called with each new overview and each notable event (the SSE streams). */
export interface SamplerListener {
  overview(o: Overview): void
  notable(e: NotableEvent): void
}

const sum = (a: readonly number[]): number => {
  let s = 0
  for (const v of a) s += v
  return s
}

/** Everything the dashboard calls dropped: every DropCounts reason plus expired messages. */
function droppedTotal(s: BrokerStats): number {
  let n = s.expired
  for (const v of Object.values(s.drops)) n += v
  return n
}

function refusedTotal(s: BrokerStats): number {
  let n = 0
  for (const v of Object.values(s.refused)) n += v
  return n
}

/**
 * The 99th percentile of the commits between two readings of the histogram, interpolated
 * linearly inside its bucket as Prometheus's histogram_quantile does; null when nothing was
 * committed. Beyond the last bound it answers the last bound (all it knows).
 */
export function commitP99(h: CommitHistogram, previous: readonly number[]): number | null {
  let total = 0
  for (let i = 0; i < h.counts.length; i++) total += h.counts[i]! - (previous[i] ?? 0)
  if (total <= 0) return null
  const rank = total * 0.99
  let seen = 0
  for (let i = 0; i < h.counts.length; i++) {
    const n = h.counts[i]! - (previous[i] ?? 0)
    if (n > 0 && seen + n >= rank) {
      if (i >= h.bounds.length) return h.bounds[h.bounds.length - 1] ?? null
      const lo = i === 0 ? 0 : h.bounds[i - 1]!
      const hi = h.bounds[i]!
      return lo + (hi - lo) * ((rank - seen) / n)
    }
    seen += n
  }
  return null
}

/** A fixed ring of numbers (NaN: unknown), oldest overwritten. */
class Ring {
  private readonly data: Float64Array
  private next = 0
  size = 0
  constructor(capacity: number) {
    this.data = new Float64Array(capacity)
  }
  push(v: number | null): void {
    this.data[this.next] = v ?? Number.NaN
    this.next = (this.next + 1) % this.data.length
    if (this.size < this.data.length) this.size++
  }
  /** Oldest first; NaN as null. */
  toArray(): (number | null)[] {
    const out: (number | null)[] = new Array(this.size)
    const start = (this.next - this.size + this.data.length) % this.data.length
    for (let i = 0; i < this.size; i++) {
      const v = this.data[(start + i) % this.data.length]!
      out[i] = Number.isNaN(v) ? null : v
    }
    return out
  }
}

interface Reading {
  at: number
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
  dropped: number
  accepted: number
  /** The cluster's status at this reading; null for a single node. */
  cluster: ClusterStatus | null
}

/**
 * The dashboard's memory: once a second (`tick`) it reads the broker's counters, turns their
 * change into rates, and keeps an hour of points; it keeps the last notable events too. Reads
 * counters only: nothing on the message path. The clock is passed in, so tests need no timers.
 */
export class Sampler {
  private readonly source: SampleSource
  private readonly times = new Ring(HISTORY_POINTS)
  private readonly series = new Map<SeriesName, Ring>(SERIES.map((n) => [n, new Ring(HISTORY_POINTS)]))
  private readonly events: NotableEvent[] = []
  private readonly listeners = new Set<SamplerListener>()
  private last: Reading
  private commitCounts: number[]
  private current: Overview

  constructor(source: SampleSource, now = Date.now()) {
    this.source = source
    this.last = this.read(now)
    this.commitCounts = [...source.stats.commits.counts]
    this.current = this.overview(now, this.last, null)
  }

  /** Takes one sample at `now` (ms), records it, and tells the listeners. */
  tick(now = Date.now()): Overview {
    const reading = this.read(now)
    const p99 = commitP99(this.source.stats.commits, this.commitCounts)
    this.commitCounts = [...this.source.stats.commits.counts]
    const o = this.overview(now, reading, p99)
    this.last = reading
    this.current = o
    this.times.push(Math.round(now / 1000))
    const point: Record<SeriesName, number | null> = {
      ...o.rates,
      connections: o.connections.current,
      commitP99Seconds: p99,
      eventLoopDelayP99Seconds: o.eventLoop.delayP99Seconds,
      clusterForwarded: o.cluster?.rates.forwarded ?? null,
      clusterReceived: o.cluster?.rates.received ?? null,
      clusterStreamMessages: o.cluster?.stream?.messages ?? null,
    }
    for (const name of SERIES) this.series.get(name)!.push(point[name])
    for (const l of this.listeners) l.overview(o)
    return o
  }

  /** The latest overview (the one made at start until the first tick). */
  latest(): Overview {
    return this.current
  }

  history(): History {
    const series = {} as Record<SeriesName, (number | null)[]>
    for (const name of SERIES) series[name] = this.series.get(name)!.toArray()
    return { intervalSeconds: SAMPLE_INTERVAL_MS / 1000, time: this.times.toArray() as number[], series }
  }

  /** Keeps a notable event (the last EVENT_RING) and passes it on. */
  notable(e: NotableEvent): void {
    this.events.push(e)
    if (this.events.length > EVENT_RING) this.events.shift()
    for (const l of this.listeners) l.notable(e)
  }

  /** The last `limit` notable events, newest first. */
  recentEvents(limit = EVENT_RING): NotableEvent[] {
    return this.events.slice(-limit).reverse()
  }

  /** Returns the function that stops listening. */
  listen(l: SamplerListener): () => void {
    this.listeners.add(l)
    return () => this.listeners.delete(l)
  }

  get listenerCount(): number {
    return this.listeners.size
  }

  private read(at: number): Reading {
    const s = this.source.stats
    return {
      at,
      messagesIn: sum(s.publishIn),
      messagesOut: sum(s.publishOut),
      bytesIn: sum(s.publishInBytes),
      bytesOut: sum(s.publishOutBytes),
      dropped: droppedTotal(s),
      accepted: s.connectionsAccepted,
      cluster: this.source.cluster?.() ?? null,
    }
  }

  private overview(now: number, r: Reading, commitP99Seconds: number | null): Overview {
    const src = this.source
    const s = src.stats
    const seconds = (r.at - this.last.at) / 1000
    // a counter never goes down; should one be reset, the rate is 0 rather than negative
    const perSecond = (now: number, before: number): number =>
      seconds > 0 ? Math.max(0, (now - before) / seconds) : 0
    const rate = (k: Exclude<keyof Reading, 'at' | 'cluster'>): number => perSecond(r[k], this.last[k])
    const t = src.totals()
    return {
      time: now,
      uptimeSeconds: Math.max(0, Math.floor((now - s.startedAt) / 1000)),
      version: VERSION,
      connections: {
        current: src.connected(),
        maximum: s.maxConnected,
        accepted: s.connectionsAccepted,
        refused: refusedTotal(s),
      },
      sessions: { current: src.sessions(), persistent: t.persistentSessions, expired: s.sessionsExpired },
      subscriptions: src.subscriptions(),
      sharedSubscriptions: t.sharedSubscriptions,
      retained: src.retained(),
      inflight: t.inflight,
      queued: t.queued,
      totals: {
        messagesIn: r.messagesIn,
        messagesOut: r.messagesOut,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
        dropped: r.dropped,
      },
      rates: {
        messagesIn: rate('messagesIn'),
        messagesOut: rate('messagesOut'),
        bytesIn: rate('bytesIn'),
        bytesOut: rate('bytesOut'),
        dropped: rate('dropped'),
        connections: rate('accepted'),
      },
      store: { commitP99Seconds, sizeBytes: src.storeSizeBytes() },
      eventLoop: src.eventLoop(),
      memory: src.memory(),
      cluster: clusterOverview(r.cluster, this.last.cluster, perSecond),
    }
  }
}

/**
 * The cluster part of an overview: the status, and the rates from the previous reading (0 on
 * the first reading after the node joined: there is no previous one).
 */
function clusterOverview(
  c: ClusterStatus | null,
  before: ClusterStatus | null,
  perSecond: (now: number, before: number) => number,
): ClusterOverview | null {
  if (c === null) return null
  return {
    ...c,
    rates: {
      forwarded: perSecond(c.forwarded, before?.forwarded ?? c.forwarded),
      received: perSecond(c.received, before?.received ?? c.received),
    },
  }
}

/** The event loop as the process measures it: delay p99 and utilisation since the last reading. */
function eventLoopMeter(): { read(): { delayP99Seconds: number; utilization: number }; stop(): void } {
  const delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })
  delay.enable()
  let elu = performance.eventLoopUtilization()
  return {
    read() {
      const p99 = delay.count > 0 ? delay.percentile(99) / 1e9 : 0
      delay.reset()
      const next = performance.eventLoopUtilization()
      const u = performance.eventLoopUtilization(next, elu).utilization
      elu = next
      return { delayP99Seconds: p99, utilization: Number.isFinite(u) ? u : 0 }
    },
    stop: () => delay.disable(),
  }
}

/** A broker's figures as a SampleSource. */
export function brokerSource(broker: Broker, eventLoop: () => Overview['eventLoop']): SampleSource {
  return {
    stats: broker.stats,
    connected: () => broker.connectedCount,
    sessions: () => broker.sessionCount,
    subscriptions: () => broker.subscriptionCount,
    retained: () => broker.retainedCount,
    totals: () => broker.admin.totals(),
    storeSizeBytes: () => broker.storeSizeBytes(),
    cluster: () => broker.clusterStatus,
    eventLoop,
    memory: () => {
      const m = process.memoryUsage()
      return { heapUsedBytes: m.heapUsed, rssBytes: m.rss }
    },
  }
}

/** A running sampler: ticking each second, fed by the broker's `notable` events. */
export interface RunningSampler {
  readonly sampler: Sampler
  stop(): void
}

/** Starts sampling a broker every second (with the HTTP endpoint); stop() ends it. */
export function startSampler(broker: Broker): RunningSampler {
  const meter = eventLoopMeter()
  const sampler = new Sampler(brokerSource(broker, meter.read))
  const onNotable = (e: NotableEvent): void => sampler.notable(e)
  broker.on('notable', onNotable)
  const timer = setInterval(() => sampler.tick(), SAMPLE_INTERVAL_MS)
  timer.unref()
  return {
    sampler,
    stop() {
      clearInterval(timer)
      meter.stop()
      broker.off('notable', onNotable)
    },
  }
}
