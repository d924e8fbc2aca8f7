import { setTimeout as sleep } from 'node:timers/promises'
import type { Client } from '../../client/client.js'
import type { QoS } from '../../protocol/constants.js'
import { clock } from './receiver.js'
import type { TopicCycle } from './topics.js'

/** Send time (float64 wall-clock ms, see clock()), publisher index (u32), sequence number (u32). */
export const HEADER_BYTES = 16

/** Publishes that may be unsettled at once (QoS 0: unwritten, else unacknowledged). */
class Window {
  outstanding = 0
  private wake: (() => void) | null = null
  readonly limit: number
  constructor(limit: number) {
    this.limit = limit
  }

  readonly settle = (): void => {
    this.outstanding--
    const w = this.wake
    if (w !== null) {
      this.wake = null
      w()
    }
  }

  async room(): Promise<void> {
    while (this.outstanding >= this.limit) await new Promise<void>((r) => (this.wake = r))
  }

  async empty(): Promise<void> {
    while (this.outstanding > 0) await new Promise<void>((r) => (this.wake = r))
  }
}

export interface PublishPlan {
  client: Client
  /** Index among the publishers: it goes into every payload. */
  index: number
  topics: TopicCycle
  qos: QoS
  retain: boolean
  size: number
  count: number
  /** Messages per second; 0: as fast as the window allows. */
  rate: number
  /** performance.now() past which no message is sent. */
  deadline: number
  inflight: number
  /** Called with the number sent so far after each publish. */
  sent(n: number): void
  /** A publish failed: the loop stops. */
  failed(err: unknown): void
}

/** One publisher's messages: paced by the rate, bounded by the window, count and deadline. */
export async function publishLoop(p: PublishPlan): Promise<void> {
  const { client, index, topics } = p
  const publishOptions = { qos: p.qos, retain: p.retain }
  const start = performance.now()
  const window = new Window(p.inflight)
  let failed = false
  const fail = (err: unknown): void => {
    if (!failed) p.failed(err)
    failed = true
    window.settle()
  }
  for (let seq = 0; seq < p.count && !failed; seq++) {
    if (p.rate > 0) {
      const wait = start + (seq / p.rate) * 1000 - performance.now()
      if (wait > 0) await sleep(wait)
    }
    if (performance.now() >= p.deadline) break
    if (window.outstanding >= window.limit) await window.room()
    const payload = Buffer.alloc(p.size)
    payload.writeUInt32LE(index, 8)
    payload.writeUInt32LE(seq >>> 0, 12)
    payload.writeDoubleLE(clock(), 0)
    window.outstanding++
    p.sent(seq + 1)
    client.publish(topics.topic(seq), payload, publishOptions).then(window.settle, fail)
  }
  await window.empty()
}

/**
 * Deletes the retained messages of the first `used` topics of `topics` (an empty retained
 * PUBLISH each [MQTT-3.3.1-10]). QoS 0 but the last at QoS 1: its PUBACK comes after the
 * broker handled the others, which came first on the same connection. Returns how many went.
 */
export async function clearRetained(
  client: Client,
  topics: TopicCycle,
  used: number,
  inflight: number,
): Promise<number> {
  const empty = Buffer.alloc(0)
  const window = new Window(inflight)
  let cleared = 0
  let error: unknown
  const fail = (err: unknown): void => {
    error ??= err
    window.settle()
  }
  for (let k = 0; k < used && error === undefined; k++) {
    if (window.outstanding >= window.limit) await window.room()
    window.outstanding++
    const qos = k === used - 1 ? 1 : 0
    client.publish(topics.topic(k), empty, { qos, retain: true }).then(() => {
      cleared++
      window.settle()
    }, fail)
  }
  await window.empty()
  if (error !== undefined) throw error
  return cleared
}
