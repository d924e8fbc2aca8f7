import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Client, connect } from '../../client/client.js'
import type { ClientOptions } from '../../client/options.js'
import { PROTOCOL_V311, type ProtocolVersion, type QoS, SUBACK_FAILURE } from '../../protocol/constants.js'
import { TransportError } from '../../transport/connect-errors.js'
import type { Transport } from '../../transport/transport.js'
import { connectCause, tlsAdvice } from '../client-flags.js'
import { Histogram, type LatencySummary } from './histogram.js'
import { type Participant, type ScenarioName, type Topology, topology } from './scenario.js'

/** Send time (float64 ms, performance.now()), publisher index (u32), sequence number (u32). */
export const HEADER_BYTES = 16

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
  /** Messages per second per publisher; 0: as fast as the window allows. For conn: connections per second. */
  rate: number
  /** Seconds to publish (or, for conn, to hold the connections); 0: no limit but count. */
  duration: number
  /** Unacknowledged publishes per publisher (QoS 1/2), or unwritten ones (QoS 0). */
  inflight: number
  /** Seconds without progress after publishing before the missing messages are counted lost. */
  timeout: number
  /** Connections opened at once while connecting. */
  connectConcurrency: number
  onProgress?: (p: Progress) => void
}

export interface Progress {
  phase: 'connecting' | 'publishing' | 'draining' | 'holding'
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
  sent: number
  expected: number
  received: number
  lost: number
  duplicated: number
  outOfOrder: number
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
    /** Connections lost while held (conn) or during the run. */
    dropped: number
    perSec: number
    connectMs: LatencySummary | null
  }
}

/** A bench run refused before it started (usage, or the broker refused a connection or subscription). */
export class BenchAbort extends Error {}

/** Per-subscriber delivery accounting: a bitmap per publisher finds duplicates and gaps. */
class Receiver {
  private readonly seen: Uint8Array[] = []
  private readonly lastSeq: Int32Array
  constructor(publishers: number) {
    this.lastSeq = new Int32Array(publishers).fill(-1)
    for (let i = 0; i < publishers; i++) this.seen.push(new Uint8Array(64))
  }

  /** 0 new, 1 duplicate, 2 new but out of order. */
  take(pub: number, seq: number): 0 | 1 | 2 {
    let bits = this.seen[pub]!
    const byte = seq >>> 3
    if (byte >= bits.length) {
      const grown = new Uint8Array(Math.max(bits.length * 2, byte + 1))
      grown.set(bits)
      this.seen[pub] = bits = grown
    }
    const mask = 1 << (seq & 7)
    if ((bits[byte]! & mask) !== 0) return 1
    bits[byte]! |= mask
    if (seq < this.lastSeq[pub]!) return 2
    this.lastSeq[pub] = seq
    return 0
  }
}

/** Runs one scenario to the end and returns what it measured. */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const bench = new Run(o)
  try {
    return await bench.run()
  } finally {
    await bench.stop()
  }
}

class Run {
  private readonly o: BenchOptions
  private readonly topo: Topology
  private readonly runId = randomBytes(4).toString('hex')
  private readonly clients: (Client | null)[] = []
  private readonly latency = new Histogram()
  private readonly connectLatency = new Histogram()
  private readonly sent: number[]
  private received = 0
  private duplicated = 0
  private outOfOrder = 0
  private errors = 0
  private firstError: string | undefined
  private connected = 0
  private connectFailed = 0
  private dropped = 0
  private phase: Progress['phase'] = 'connecting'
  private readonly started = performance.now()
  private publishStart = 0
  private publishEnd = 0
  private lastDelivery = 0
  private progressTimer: NodeJS.Timeout | undefined
  private closing = false

  constructor(o: BenchOptions) {
    this.o = o
    this.topo = topology(o.scenario, o.clients, `petrel-bench/${this.runId}`)
    this.sent = new Array<number>(this.topo.publishers).fill(0)
  }

  async run(): Promise<BenchResult> {
    const onProgress = this.o.onProgress
    if (onProgress !== undefined) {
      this.progressTimer = setInterval(() => onProgress(this.progress()), 1000)
      this.progressTimer.unref()
    }
    const connectStart = performance.now()
    await this.connectAll()
    const connectSeconds = (performance.now() - connectStart) / 1000
    if (this.o.scenario === 'conn') {
      this.phase = 'holding'
      if (this.o.duration > 0) await sleep(this.o.duration * 1000)
      return this.result(connectSeconds)
    }
    if (this.connectFailed > 0) throw new BenchAbort(`cannot connect to ${this.o.url}: ${this.firstError}`)
    await this.subscribeAll()
    this.phase = 'publishing'
    this.publishStart = performance.now()
    await Promise.all(
      this.topo.participants.map((p, i) => (p.publisher >= 0 ? this.publishLoop(this.clients[i]!, p) : null)),
    )
    this.publishEnd = performance.now()
    this.phase = 'draining'
    await this.drain()
    return this.result(connectSeconds)
  }

  progress(): Progress {
    return {
      phase: this.phase,
      elapsed: (performance.now() - this.started) / 1000,
      connected: this.connected,
      sent: this.totalSent(),
      received: this.received,
    }
  }

  private totalSent(): number {
    return this.sent.reduce((a, b) => a + b, 0)
  }

  private options(i: number): ClientOptions {
    const opts: ClientOptions = {
      protocolVersion: this.o.protocolVersion ?? PROTOCOL_V311,
      clientId: `pb${this.runId}-${i}`,
      clean: true,
      keepalive: 60,
      reconnect: false,
      connectTimeout: 10_000,
      maxInflight: Math.min(this.o.inflight, 65_535),
    }
    if (this.o.transport !== undefined) opts.transport = this.o.transport
    if (this.o.username !== undefined) opts.username = this.o.username
    if (this.o.password !== undefined) opts.password = this.o.password
    return opts
  }

  private async connectAll(): Promise<void> {
    const n = this.topo.participants.length
    let next = 0
    const startedAt = performance.now()
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++
        if (i >= n) return
        if (this.o.scenario === 'conn' && this.o.rate > 0) {
          const due = startedAt + (i / this.o.rate) * 1000
          const wait = due - performance.now()
          if (wait > 0) await sleep(wait)
        }
        const t0 = performance.now()
        try {
          const c = await connect(this.o.url, this.options(i))
          this.connectLatency.record(performance.now() - t0)
          this.clients[i] = c
          this.connected++
          c.on('error', () => {})
          c.once('close', (err) => {
            if (err !== undefined && !this.closing) this.dropped++
          })
          const p = this.topo.participants[i]!
          if (p.filter !== undefined) this.listen(c, p)
        } catch (err) {
          this.clients[i] = null
          this.connectFailed++
          this.firstError ??= connectReason(err)
          // Without --clients' worth of connections a message scenario means nothing: stop early.
          if (this.o.scenario !== 'conn') return
        }
      }
    }
    const workers = Math.max(1, Math.min(this.o.connectConcurrency, n))
    await Promise.all(Array.from({ length: workers }, worker))
  }

  private listen(c: Client, p: Participant): void {
    const r = new Receiver(this.topo.publishers)
    const expects = new Uint8Array(this.topo.publishers)
    for (const f of p.from) expects[f] = 1
    c.on('message', (_topic, payload) => {
      if (payload.length < HEADER_BYTES) return
      const now = performance.now()
      const pub = payload.readUInt32LE(8)
      if (expects[pub] !== 1) return // not from this run's publishers
      const verdict = r.take(pub, payload.readUInt32LE(12))
      if (verdict === 1) {
        this.duplicated++
        return
      }
      if (verdict === 2) this.outOfOrder++
      this.received++
      this.lastDelivery = now
      this.latency.record(now - payload.readDoubleLE(0))
    })
  }

  private async subscribeAll(): Promise<void> {
    const subscribe = async (filter: string | undefined, i: number): Promise<void> => {
      if (filter === undefined) return
      const codes = await this.clients[i]!.subscribe(filter, { qos: this.o.qos })
      if (codes[0] === SUBACK_FAILURE)
        throw new BenchAbort(`the broker refused the subscription to ${filter}`)
    }
    await Promise.all(this.topo.participants.map((p, i) => subscribe(p.filter, i)))
  }

  private async publishLoop(client: Client, p: Participant): Promise<void> {
    const o = this.o
    const idx = p.publisher
    const topic = p.topic!
    const publishOptions = { qos: o.qos }
    const start = performance.now()
    const deadline = o.duration > 0 ? start + o.duration * 1000 : Number.POSITIVE_INFINITY
    let outstanding = 0
    let failed = false
    let wake: (() => void) | null = null
    const settle = (): void => {
      outstanding--
      if (wake !== null) {
        const w = wake
        wake = null
        w()
      }
    }
    const fail = (err: unknown): void => {
      this.errors++
      this.firstError ??= err instanceof Error ? err.message : String(err)
      failed = true
      settle()
    }
    for (let seq = 0; seq < o.count && !failed; seq++) {
      if (o.rate > 0) {
        const wait = start + (seq / o.rate) * 1000 - performance.now()
        if (wait > 0) await sleep(wait)
      }
      if (performance.now() >= deadline) break
      while (outstanding >= o.inflight) await new Promise<void>((r) => (wake = r))
      const payload = Buffer.alloc(o.size)
      payload.writeUInt32LE(idx, 8)
      payload.writeUInt32LE(seq >>> 0, 12)
      payload.writeDoubleLE(performance.now(), 0)
      outstanding++
      this.sent[idx] = seq + 1
      client.publish(topic, payload, publishOptions).then(settle, fail)
    }
    while (outstanding > 0) await new Promise<void>((r) => (wake = r))
  }

  private expected(): number {
    let n = 0
    for (let i = 0; i < this.sent.length; i++) n += this.sent[i]! * this.topo.fanout[i]!
    return n
  }

  /** Waits until every expected message arrived, or `timeout` seconds pass without one arriving. */
  private async drain(): Promise<void> {
    const expected = this.expected()
    let last = this.received
    let lastChange = performance.now()
    while (this.received < expected) {
      await sleep(20)
      if (this.received !== last) {
        last = this.received
        lastChange = performance.now()
      } else if (performance.now() - lastChange > this.o.timeout * 1000) return
    }
  }

  /** Stops the progress line and closes every connection. */
  async stop(): Promise<void> {
    clearInterval(this.progressTimer)
    this.closing = true
    await Promise.allSettled(this.clients.map((c) => c?.end()))
  }

  private result(connectSeconds: number): BenchResult {
    const sent = this.totalSent()
    const expected = this.expected()
    const end = this.lastDelivery > 0 ? Math.max(this.lastDelivery, this.publishStart) : this.publishEnd
    const seconds = this.publishStart > 0 ? (end - this.publishStart) / 1000 : 0
    const pubSeconds = (this.publishEnd - this.publishStart) / 1000
    return {
      scenario: this.o.scenario,
      broker: this.o.url,
      protocolVersion: this.o.protocolVersion ?? PROTOCOL_V311,
      shape: this.topo.shape,
      qos: this.o.qos,
      size: this.o.size,
      clients: this.o.clients,
      publishers: this.topo.publishers,
      subscribers: this.topo.subscribers,
      sent,
      expected,
      received: this.received,
      lost: Math.max(0, expected - this.received),
      duplicated: this.duplicated,
      outOfOrder: this.outOfOrder,
      errors: this.errors,
      firstError: this.firstError,
      seconds,
      sentPerSec: pubSeconds > 0 ? sent / pubSeconds : 0,
      msgsPerSec: seconds > 0 ? this.received / seconds : 0,
      latencyMs: this.latency.summary(),
      connections: {
        connected: this.connected,
        failed: this.connectFailed,
        dropped: this.dropped,
        perSec: connectSeconds > 0 ? this.connected / connectSeconds : 0,
        connectMs: this.connectLatency.summary(),
      },
    }
  }
}

/** Why a connection failed, in one line; a TLS failure names the flag that fixes it. */
function connectReason(err: unknown): string {
  const cause = connectCause(err)
  if (cause instanceof TransportError) return tlsAdvice(cause)
  return cause instanceof Error ? cause.message : String(cause)
}
