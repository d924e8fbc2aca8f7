import type { ByteDuplex, DuplexEvents, Transport } from '../../transport/transport.js'
import { Histogram } from './histogram.js'

/** Distinct failure reasons kept; the rest are counted under OTHER. */
const MAX_REASONS = 10
const OTHER = 'other reasons'

/** How the connections of a run went: times, and failures grouped by reason. */
export class ConnectStats {
  /** From the transport's connect (TCP, TLS, WebSocket) to the CONNACK. */
  readonly connect = new Histogram()
  /** From the CONNECT written (the byte stream open) to the CONNACK: the broker's part. */
  readonly connack = new Histogram()
  readonly failures = new Map<string, number>()
  connected = 0
  failed = 0

  fail(reason: string): void {
    this.failed++
    const key = this.failures.has(reason) || this.failures.size < MAX_REASONS ? reason : OTHER
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1)
  }

  /** The first reason seen, for messages. */
  firstReason(): string | undefined {
    return this.failures.keys().next().value
  }

  /** Reasons, most frequent first. */
  reasons(): { reason: string; count: number }[] {
    return [...this.failures].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count)
  }
}

/**
 * `inner`, noting when the byte stream opened: the client writes its CONNECT then
 * (src/client/link.ts attach), so CONNACK time minus this is the broker's CONNECT→CONNACK.
 */
export function timedTransport(inner: Transport, opened: (at: number) => void): Transport {
  return {
    name: inner.name,
    async open(events: DuplexEvents, signal: AbortSignal): Promise<ByteDuplex> {
      const duplex = await inner.open(events, signal)
      opened(performance.now())
      return duplex
    },
  }
}
