import { VERSION } from '../version.js'
import type { DeliveryTotals } from './admin.js'
import type { ClusterStatus } from './cluster-bridge.js'
import type { BrokerStats } from './events.js'
import { LIMITS } from './limits.js'

/** What the $SYS topics report (the Broker). */
export interface SysSource {
  readonly stats: BrokerStats
  readonly connectedCount: number
  readonly sessionCount: number
  readonly subscriptionCount: number
  readonly retainedCount: number
  readonly retainedBytes?: number
  readonly admin?: { totals(): DeliveryTotals }
  /** The cluster as this node sees it; null (or absent) for a single node. */
  readonly clusterStatus?: ClusterStatus | null
}

/** The moving averages Mosquitto publishes under $SYS/broker/load/<what>/{1min,5min,15min}. */
const LOADS = [
  ['messages/received', (s: BrokerStats) => s.messagesReceived],
  ['messages/sent', (s: BrokerStats) => s.messagesSent],
  ['publish/dropped', (s: BrokerStats) => s.dropped],
  ['publish/received', (s: BrokerStats) => sum(s.publishIn)],
  ['publish/sent', (s: BrokerStats) => sum(s.publishOut)],
  ['bytes/received', (s: BrokerStats) => s.bytesReceived],
  ['bytes/sent', (s: BrokerStats) => s.bytesSent],
  ['sockets', (s: BrokerStats) => s.socketsOpened],
  ['connections', connects],
] as const

/** Their windows: name and seconds. */
const WINDOWS = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
] as const

/**
 * What $SYS remembers between intervals: the counters at the last one, the load averages, and
 * the largest heap seen ($SYS/broker/heap/maximum).
 */
export class SysState {
  /** performance.now() of the last interval; null before the first. */
  last: number | null = null
  readonly counts: number[] = new Array(LOADS.length).fill(0)
  /** Per LOADS entry, per WINDOWS entry: the average (per minute). */
  readonly loads: number[][] = LOADS.map(() => WINDOWS.map(() => 0))
  heapMaximum = 0

  /**
   * The load averages as Mosquitto computes them: each interval the rate per minute since the
   * last one, `r`, moves each average towards it, `load = r + e^(-dt/window) * (load - r)`,
   * an exponentially damped moving average over 1, 5 and 15 minutes (as Unix load averages).
   */
  update(stats: BrokerStats, now: number): void {
    const first = this.last === null
    const dt = first ? 0 : (now - this.last!) / 1000
    this.last = now
    for (let i = 0; i < LOADS.length; i++) {
      const value = LOADS[i]![1](stats)
      const delta = value - this.counts[i]!
      this.counts[i] = value
      if (first) {
        // the first interval has no length: what happened since start counts at the interval it took
        const up = Math.max((Date.now() - stats.startedAt) / 1000, 1)
        this.average(i, (delta * 60) / up, up)
      } else if (dt > 0) this.average(i, (delta * 60) / dt, dt)
    }
  }

  private average(i: number, perMinute: number, dt: number): void {
    const row = this.loads[i]!
    for (let w = 0; w < WINDOWS.length; w++) {
      const e = Math.exp(-dt / WINDOWS[w]![1])
      row[w] = perMinute + e * (row[w]! - perMinute)
    }
  }
}

/** CONNECT packets answered: accepted, or refused with a CONNACK (Mosquitto's load/connections counts CONNECTs). */
function connects(s: BrokerStats): number {
  const r = s.refused
  return s.connectionsAccepted + r.protocolVersion + r.clientId + r.badCredentials + r.notAuthorized + r.other
}

function sum(a: readonly number[]): number {
  let n = 0
  for (const x of a) n += x
  return n
}

/**
 * $SYS/broker/... topics, named as Mosquitto 2.0 names them and with the same meanings (see
 * docs/sys-topics.md), published as retained messages every `sysInterval` seconds; plus
 * Petrel's own listeners/ and limits/ counters. `state` carries the load averages from one
 * interval to the next; `now` is performance.now().
 */
export function sysValues(
  b: SysSource,
  state: SysState = new SysState(),
  now: number = performance.now(),
): [string, string][] {
  const s = b.stats
  const connected = b.connectedCount
  const total = b.sessionCount
  state.update(s, now)
  const memory = process.memoryUsage()
  const heap = memory.heapUsed + memory.external
  if (heap > state.heapMaximum) state.heapMaximum = heap
  const t = b.admin?.totals()
  const retainedBytes = b.retainedBytes ?? 0
  const stored = t?.storedMessages ?? b.retainedCount
  const storedBytes = t === undefined ? retainedBytes : t.storedBytes
  const loads: [string, string][] = []
  for (let w = 0; w < WINDOWS.length; w++) {
    for (let i = 0; i < LOADS.length; i++) {
      loads.push([`$SYS/broker/load/${LOADS[i]![0]}/${WINDOWS[w]![0]}`, state.loads[i]![w]!.toFixed(2)])
    }
  }
  return [
    ['$SYS/broker/version', `petrel version ${VERSION}`],
    ['$SYS/broker/uptime', `${Math.floor((Date.now() - s.startedAt) / 1000)} seconds`],
    ['$SYS/broker/clients/total', String(total)],
    ['$SYS/broker/clients/connected', String(connected)],
    ['$SYS/broker/clients/active', String(connected)],
    ['$SYS/broker/clients/disconnected', String(total - connected)],
    ['$SYS/broker/clients/inactive', String(total - connected)],
    ['$SYS/broker/clients/expired', String(s.sessionsExpired)],
    ['$SYS/broker/clients/maximum', String(s.maxConnected)],
    ['$SYS/broker/messages/stored', String(stored)],
    ['$SYS/broker/messages/received', String(s.messagesReceived)],
    ['$SYS/broker/messages/sent', String(s.messagesSent)],
    ['$SYS/broker/store/messages/count', String(stored)],
    ['$SYS/broker/store/messages/bytes', String(storedBytes)],
    ['$SYS/broker/subscriptions/count', String(b.subscriptionCount)],
    ['$SYS/broker/shared_subscriptions/count', String(t?.sharedSubscriptions ?? 0)],
    ['$SYS/broker/retained messages/count', String(b.retainedCount)],
    ['$SYS/broker/heap/current', String(heap)],
    ['$SYS/broker/heap/maximum', String(state.heapMaximum)],
    ['$SYS/broker/publish/messages/dropped', String(s.dropped)],
    ['$SYS/broker/publish/messages/received', String(sum(s.publishIn))],
    ['$SYS/broker/publish/messages/sent', String(sum(s.publishOut))],
    ['$SYS/broker/publish/messages/expired', String(s.expired)],
    ['$SYS/broker/publish/bytes/received', String(s.publishPayloadIn)],
    ['$SYS/broker/publish/bytes/sent', String(s.publishPayloadOut)],
    ['$SYS/broker/bytes/received', String(s.bytesReceived)],
    ['$SYS/broker/bytes/sent', String(s.bytesSent)],
    ...loads,
    // issue 13: transport
    ['$SYS/broker/listeners/refused', String(s.listenerRefused)],
    ['$SYS/broker/listeners/tls handshake failures', String(s.tlsHandshakeFailures)],
    // issue 13: limits
    ...LIMITS.map((l): [string, string] => [
      `$SYS/broker/limits/${l.name}/${l.counts}`,
      String(s.limits[l.name]),
    ]),
    ...clusterValues(b.clusterStatus ?? null),
  ]
}

/**
 * $SYS/broker/cluster/... of a cluster node (none for a single node: a topic that does not
 * apply is not published). Each node publishes its own: the cluster does not carry $SYS.
 * stream/messages waits for the first reading of the stream.
 */
function clusterValues(c: ClusterStatus | null): [string, string][] {
  if (c === null) return []
  const values: [string, string][] = [
    ['$SYS/broker/cluster/node', c.node],
    ['$SYS/broker/cluster/nodes', String(c.nodes.length + 1)],
    ['$SYS/broker/cluster/messages/forwarded', String(c.forwarded)],
    ['$SYS/broker/cluster/messages/received', String(c.received)],
  ]
  if (c.stream !== null) values.push(['$SYS/broker/cluster/stream/messages', String(c.stream.messages)])
  return values
}
