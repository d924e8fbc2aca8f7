import type { ProtocolVersion, QoS } from '../../protocol/constants.js'
import type { Transport } from '../../transport/transport.js'
import type { LatencySummary } from './histogram.js'
import type { ScenarioName } from './scenario.js'

/** What `petrel bench` is asked to do and what it reports. */

export interface BenchOptions {
  url: string
  /** How to reach the broker (TLS, WebSocket); default: the URL's own transport. Shared by every connection. */
  transport?: Transport
  /** MQTT version of every connection: 4 (3.1.1, the default) or 5; 3 for MQTT 3.1. */
  protocolVersion?: ProtocolVersion
  username?: string
  password?: string
  scenario: ScenarioName
  clients: number
  qos: QoS
  /** Payload bytes, at least HEADER_BYTES. */
  size: number
  /** Messages per publisher; Infinity with only a duration. */
  count: number
  /** Messages per second per publisher (conn: per active connection); 0: as fast as the window allows. */
  rate: number
  /** Seconds to publish; 0: no limit but count. */
  duration: number
  /** Unacknowledged publishes per publisher (QoS 1/2), or unwritten ones (QoS 0). */
  inflight: number
  /** Seconds without progress after publishing before the missing messages are counted lost. */
  timeout: number
  /** Connections opened at once while connecting. */
  connectConcurrency: number
  /** Topics per publisher: message seq goes to `<topic>/<seq % topics>` (default 1: the topic itself). */
  topics?: number
  /** Sets RETAIN on every publish; the topics are then the same from run to run (see retainPrefix). */
  retain?: boolean
  /** After a retain run, deletes the retained messages it left (an empty retained publish per topic). */
  clearRetained?: boolean
  /** conn: connections opened per second; 0: as fast as --concurrency allows. */
  connectRate?: number
  /** conn: seconds to hold the connections open once connected. */
  hold?: number
  /** conn: percent of the connections that publish `rate` msg/s to their own topic, subscribed by themselves. */
  active?: number
  onProgress?: (p: Progress) => void
}

export interface Progress {
  phase: 'connecting' | 'publishing' | 'draining' | 'holding' | 'clearing'
  elapsed: number
  connected: number
  sent: number
  received: number
}

export interface BenchResult {
  scenario: ScenarioName
  broker: string
  /** 3, 4 (3.1.1) or 5. */
  protocolVersion: ProtocolVersion
  shape: string
  qos: QoS
  size: number
  clients: number
  publishers: number
  subscribers: number
  /** Topics per publisher. */
  topics: number
  retain: boolean
  sent: number
  expected: number
  received: number
  lost: number
  duplicated: number
  outOfOrder: number
  /** Retained copies from an earlier run (sent before this run's first publish): not deliveries. */
  staleRetained: number
  /** --retain: where the retained messages are, how many this run left there, and how many it cleared. */
  retained?: { prefix: string; left: number; cleared: number }
  /** Publishes that failed (connection lost, ...). */
  errors: number
  firstError: string | undefined
  /** From the first publish to the last delivery (or to the end of publishing when nothing came). */
  seconds: number
  sentPerSec: number
  msgsPerSec: number
  latencyMs: LatencySummary | null
  connections: {
    connected: number
    failed: number
    /** Why they failed, most frequent first. */
    failures: { reason: string; count: number }[]
    /** Connections lost while held (conn) or during the run. */
    dropped: number
    perSec: number
    /** From the transport's connect (TCP, TLS, WebSocket) to the CONNACK. */
    connectMs: LatencySummary | null
    /** From the CONNECT written to the CONNACK. */
    connackMs: LatencySummary | null
  }
}

/** A bench run refused before it started (usage, or the broker refused a connection or subscription). */
export class BenchAbort extends Error {}

/**
 * Where a --retain run publishes: the same topics every run, so a rerun replaces the retained
 * messages instead of adding a new set, and finds the earlier ones (stale) when it subscribes.
 */
export function retainPrefix(scenario: ScenarioName): string {
  return `petrel-bench/retained/${scenario}`
}
