import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Client, connect } from '../../client/client.js'
import type { ClientOptions } from '../../client/options.js'
import { transportFor } from '../../client/transport-for.js'
import { PROTOCOL_V311, SUBACK_FAILURE } from '../../protocol/constants.js'
import { TransportError } from '../../transport/connect-errors.js'
import type { Transport } from '../../transport/transport.js'
import { connectCause, tlsAdvice } from '../client-flags.js'
import { ConnectStats, timedTransport } from './connect-stats.js'
import { fdShortage } from './fd-limit.js'
import { Histogram } from './histogram.js'
import { clearRetained, HEADER_BYTES, publishLoop } from './publisher.js'
import { clock, Receiver } from './receiver.js'
import { type Participant, type Topology, topology } from './scenario.js'
import { CACHED_TOPICS, TopicCycle } from './topics.js'
import { BenchAbort, type BenchOptions, type BenchResult, type Progress, retainPrefix } from './types.js'

export { BenchAbort, type BenchOptions, type BenchResult, HEADER_BYTES, type Progress, retainPrefix }

/** --retain: no stale retained copy for this long after subscribing means they all came. */
const STALE_QUIET_MS = 200

/** Runs one scenario to the end and returns what it measured. */
export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const bench = new Run(o)
  // Past the limit every further connect fails with EMFILE, which reads like the broker's fault.
  const shortage = fdShortage(bench.connections)
  if (shortage !== undefined) throw new BenchAbort(shortage)
  try {
    return await bench.run()
  } finally {
    await bench.stop()
  }
}

class Run {
  private readonly o: BenchOptions
  private readonly topo: Topology
  private readonly prefix: string
  private readonly topics: number
  private readonly transport: Transport
  private readonly runId = randomBytes(4).toString('hex')
  private readonly clients: (Client | null)[] = []
  private readonly cycles: (TopicCycle | undefined)[]
  private readonly latency = new Histogram()
  private readonly conns = new ConnectStats()
  private readonly sent: number[]
  private received = 0
  private duplicated = 0
  private outOfOrder = 0
  private stale = 0
  private errors = 0
  private firstError: string | undefined
  private dropped = 0
  private cleared = 0
  private phase: Progress['phase'] = 'connecting'
  private readonly started = performance.now()
  /** clock() at the first publish: what was sent before is a stale retained copy. */
  private firstSend = Number.POSITIVE_INFINITY
  private publishStart = 0
  private publishEnd = 0
  private lastDelivery = 0
  private progressTimer: NodeJS.Timeout | undefined
  private closing = false

  constructor(o: BenchOptions) {
    this.o = o
    this.topics = o.topics ?? 1
    this.prefix = o.retain === true ? retainPrefix(o.scenario) : `petrel-bench/${this.runId}`
    const n = o.clients
    const active = o.scenario === 'conn' ? Math.round((n * (o.active ?? 0)) / 100) : 0
    this.topo = topology(o.scenario, n, this.prefix, {
      topics: this.topics,
      active: (o.active ?? 0) > 0 ? Math.max(1, active) : 0,
    })
    this.sent = new Array<number>(this.topo.publishers).fill(0)
    const used = Math.min(this.topics, o.count)
    const cache = used * this.topo.publishers <= CACHED_TOPICS
    this.cycles = this.topo.participants.map((p) =>
      p.topic === undefined ? undefined : new TopicCycle(p.topic, this.topics, used, cache),
    )
    this.transport = o.transport ?? transportFor(new URL(o.url))
  }

  get connections(): number {
    return this.topo.participants.length
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
      const hold = (this.o.hold ?? 0) * 1000
      if (this.topo.publishers > 0) {
        await this.subscribeAll()
        await Promise.all([sleep(hold), this.publishAll(performance.now() + hold)])
        this.phase = 'draining'
        await this.drain()
      } else if (hold > 0) await sleep(hold)
      return this.result(connectSeconds)
    }
    if (this.conns.failed > 0) throw new BenchAbort(`cannot connect to ${this.o.url}: ${this.firstError}`)
    await this.subscribeAll()
    if (this.o.retain === true) await this.settleStale()
    const deadline =
      this.o.duration > 0 ? performance.now() + this.o.duration * 1000 : Number.POSITIVE_INFINITY
    await this.publishAll(deadline)
    this.phase = 'draining'
    await this.drain()
    const result = this.result(connectSeconds)
    if (this.o.retain === true && this.o.clearRetained === true) {
      this.phase = 'clearing'
      await this.clearAll()
      result.retained!.cleared = this.cleared
      result.retained!.left -= this.cleared
    }
    return result
  }

  progress(): Progress {
    return {
      phase: this.phase,
      elapsed: (performance.now() - this.started) / 1000,
      connected: this.conns.connected,
      sent: this.totalSent(),
      received: this.received,
    }
  }

  private totalSent(): number {
    return this.sent.reduce((a, b) => a + b, 0)
  }

  private options(i: number, transport: Transport): ClientOptions {
    const opts: ClientOptions = {
      protocolVersion: this.o.protocolVersion ?? PROTOCOL_V311,
      clientId: `pb${this.runId}-${i}`,
      clean: true,
      keepalive: 60,
      reconnect: false,
      connectTimeout: 10_000,
      maxInflight: Math.min(this.o.inflight, 65_535),
      transport,
    }
    if (this.o.username !== undefined) opts.username = this.o.username
    if (this.o.password !== undefined) opts.password = this.o.password
    return opts
  }

  private async connectAll(): Promise<void> {
    const n = this.topo.participants.length
    const conn = this.o.scenario === 'conn'
    const rate = conn ? (this.o.connectRate ?? 0) : 0
    let next = 0
    const startedAt = performance.now()
    const worker = async (): Promise<void> => {
      for (;;) {
        const i = next++
        if (i >= n) return
        if (rate > 0) {
          const wait = startedAt + (i / rate) * 1000 - performance.now()
          if (wait > 0) await sleep(wait)
        }
        const t0 = performance.now()
        let opened = t0
        try {
          const transport = timedTransport(this.transport, (at) => (opened = at))
          const c = await connect(this.o.url, this.options(i, transport))
          const now = performance.now()
          this.conns.connect.record(now - t0)
          this.conns.connack.record(now - opened)
          this.clients[i] = c
          this.conns.connected++
          c.on('error', () => {})
          c.once('close', (err) => {
            if (err !== undefined && !this.closing) this.dropped++
          })
          const p = this.topo.participants[i]!
          if (p.filter !== undefined) this.listen(c, p)
        } catch (err) {
          this.clients[i] = null
          const reason = connectReason(err)
          this.conns.fail(reason)
          this.firstError ??= reason
          // Without --clients' worth of connections a message scenario means nothing: stop early.
          if (!conn) return
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
      if (payload.length < HEADER_BYTES) return // not a bench message (an empty one clears a retained one)
      const sentAt = payload.readDoubleLE(0)
      if (sentAt < this.firstSend) {
        this.stale++ // a retained copy from an earlier run, sent before this run published
        return
      }
      const pub = payload.readUInt32LE(8)
      if (expects[pub] !== 1) return // not from this run's publishers
      const verdict = r.take(pub, payload.readUInt32LE(12))
      if (verdict === 1) {
        this.duplicated++
        return
      }
      if (verdict === 2) this.outOfOrder++
      this.received++
      this.lastDelivery = performance.now()
      this.latency.record(clock() - sentAt)
    })
  }

  private async subscribeAll(): Promise<void> {
    const subscribe = async (filter: string | undefined, i: number): Promise<void> => {
      const c = this.clients[i]
      if (filter === undefined || c == null) return
      const codes = await c.subscribe(filter, { qos: this.o.qos })
      if (codes[0] === SUBACK_FAILURE)
        throw new BenchAbort(`the broker refused the subscription to ${filter}`)
    }
    await Promise.all(this.topo.participants.map((p, i) => subscribe(p.filter, i)))
  }

  /**
   * --retain: lets the retained copies of an earlier run, which the broker sends on SUBSCRIBE, arrive
   * before publishing starts (until none came for STALE_QUIET_MS, at most --timeout), so the run
   * measures its own messages and not a burst of old ones queued ahead of them.
   */
  private async settleStale(): Promise<void> {
    const start = performance.now()
    let last = -1
    let lastChange = start
    while (performance.now() - start < this.o.timeout * 1000) {
      if (this.stale !== last) {
        last = this.stale
        lastChange = performance.now()
      } else if (performance.now() - lastChange >= STALE_QUIET_MS) return
      await sleep(10)
    }
  }

  private async publishAll(deadline: number): Promise<void> {
    const o = this.o
    this.phase = 'publishing'
    this.firstSend = clock()
    this.publishStart = performance.now()
    await Promise.all(
      this.topo.participants.map((p, i) => {
        const client = this.clients[i]
        if (p.publisher < 0 || client == null) return null
        const index = p.publisher
        return publishLoop({
          client,
          index,
          topics: this.cycles[i]!,
          qos: o.qos,
          retain: o.retain === true,
          size: o.size,
          count: o.count,
          rate: o.rate,
          deadline,
          inflight: o.inflight,
          sent: (n) => (this.sent[index] = n),
          failed: (err) => {
            this.errors++
            this.firstError ??= err instanceof Error ? err.message : String(err)
          },
        })
      }),
    )
    this.publishEnd = performance.now()
  }

  /** --clear-retained: an empty retained publish to every topic this run's publishers used. */
  private async clearAll(): Promise<void> {
    await Promise.all(
      this.topo.participants.map(async (p, i) => {
        const client = this.clients[i]
        if (p.publisher < 0 || client == null) return
        const cycle = this.cycles[i]!
        const used = cycle.used(this.sent[p.publisher]!)
        const n = await clearRetained(client, cycle, used, this.o.inflight)
        this.cleared += n // not `+= await`: that reads the sum before the others add to it
      }),
    )
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

  private retainedLeft(): number {
    let n = 0
    this.topo.participants.forEach((p, i) => {
      if (p.publisher >= 0) n += this.cycles[i]!.used(this.sent[p.publisher]!)
    })
    return n
  }

  private result(connectSeconds: number): BenchResult {
    const sent = this.totalSent()
    const expected = this.expected()
    const end = this.lastDelivery > 0 ? Math.max(this.lastDelivery, this.publishStart) : this.publishEnd
    const seconds = this.publishStart > 0 ? (end - this.publishStart) / 1000 : 0
    const pubSeconds = (this.publishEnd - this.publishStart) / 1000
    const c = this.conns
    const result: BenchResult = {
      scenario: this.o.scenario,
      broker: this.o.url,
      protocolVersion: this.o.protocolVersion ?? PROTOCOL_V311,
      shape: this.topo.shape,
      qos: this.o.qos,
      size: this.o.size,
      clients: this.o.clients,
      publishers: this.topo.publishers,
      subscribers: this.topo.subscribers,
      topics: this.topics,
      retain: this.o.retain === true,
      sent,
      expected,
      received: this.received,
      lost: Math.max(0, expected - this.received),
      duplicated: this.duplicated,
      outOfOrder: this.outOfOrder,
      staleRetained: this.stale,
      errors: this.errors,
      firstError: this.firstError,
      seconds,
      sentPerSec: pubSeconds > 0 ? sent / pubSeconds : 0,
      msgsPerSec: seconds > 0 ? this.received / seconds : 0,
      latencyMs: this.latency.summary(),
      connections: {
        connected: c.connected,
        failed: c.failed,
        failures: c.reasons(),
        dropped: this.dropped,
        perSec: connectSeconds > 0 ? c.connected / connectSeconds : 0,
        connectMs: c.connect.summary(),
        connackMs: c.connack.summary(),
      },
    }
    if (this.o.retain === true)
      result.retained = { prefix: this.prefix, left: this.retainedLeft(), cleared: 0 }
    return result
  }
}

/** Why a connection failed, in one line; a TLS failure names the flag that fixes it. */
function connectReason(err: unknown): string {
  const cause = connectCause(err)
  if (cause instanceof TransportError) return tlsAdvice(cause)
  return cause instanceof Error ? cause.message : String(cause)
}
