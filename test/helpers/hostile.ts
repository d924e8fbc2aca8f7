/**
 * For the hostile-client suite (test/hostile/): a well-behaved client that keeps making
 * round trips through the broker while an attack runs (Probe), memory measured around the
 * attack (peakGrowth, memoryAfterGc), bounded waits, and a logger that records warnings.
 * HOSTILE_VERBOSE=1 prints each memory figure next to its bound.
 */
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import type { TestContext } from 'node:test'
import type { Logger } from '../../src/broker/options.js'
import { PacketType } from '../../src/protocol/index.js'
import { heapAfterGc, sleep } from './flood.js'
import { type RawClient, type TestBroker, uniqueId } from './raw-client.js'

export const MB = 1024 * 1024

/** The longest a well-behaved client may wait for its own message during an attack. */
export const SERVED_WITHIN_MS = 1000

/**
 * A client that publishes a QoS 1 message to its own topic every `intervalMs` and waits for
 * it to come back (subscribed at QoS 0), recording the longest round trip. `stop()` asserts
 * that it was served throughout: at least one round trip, none longer than SERVED_WITHIN_MS,
 * its connection never closed.
 */
export class Probe {
  maxMs = 0
  rounds = 0
  private running = true
  private failure: unknown = null
  private readonly loop: Promise<void>
  private readonly client: RawClient

  private constructor(client: RawClient, topic: string, intervalMs: number) {
    this.client = client
    this.loop = this.run(topic, intervalMs)
  }

  /** Starts a probe on `tb`; it stops when the test `t` ends, whatever happens. */
  static async start(tb: TestBroker, t: TestContext, intervalMs = 50): Promise<Probe> {
    const id = uniqueId('probe')
    const c = await tb.connect({ clientId: id })
    const topic = `$probe/${id}` // a $ topic: not seen by the tests' '#' subscribers [MQTT-4.7.2-1]
    await c.subscribe(topic, 0)
    const probe = new Probe(c, topic, intervalMs)
    t.after(() => {
      probe.running = false
      c.destroy()
    })
    return probe
  }

  private async run(topic: string, intervalMs: number): Promise<void> {
    const c = this.client
    try {
      while (this.running) {
        const payload = `round ${this.rounds}`
        const t0 = performance.now()
        c.publish(topic, payload, { qos: 1 })
        // generous: a loaded machine must show up as a long round trip, not as a missing one
        await c.until(
          (p) => p.type === PacketType.PUBLISH && p.payload.toString() === payload,
          10_000,
          `the probe's own message (${payload})`,
        )
        this.maxMs = Math.max(this.maxMs, performance.now() - t0)
        this.rounds++
        await sleep(intervalMs)
      }
    } catch (err) {
      this.failure = err
    }
  }

  /** Stops, and asserts that the probe was served within SERVED_WITHIN_MS throughout. */
  async stop(what = 'the attack'): Promise<void> {
    this.running = false
    await this.loop
    if (this.failure !== null) throw this.failure
    assert.ok(this.rounds > 0, `the probe made no round trip during ${what}`)
    assert.ok(
      this.maxMs < SERVED_WITHIN_MS,
      `a well-behaved client waited ${this.maxMs.toFixed(0)} ms for its own message during ${what}`,
    )
    assert.equal(this.client.ended, false, `the probe was disconnected during ${what}`)
  }
}

/** The JavaScript heap and the Buffers' memory in use after a forced GC, in bytes. */
export function memoryAfterGc(): number {
  const heap = heapAfterGc()
  return heap + process.memoryUsage().arrayBuffers
}

/**
 * Runs `attack`, sampling memory (heap and Buffers, after a forced GC) every `everyMs` while it
 * runs; returns the largest growth over the memory before it, in bytes.
 */
export async function peakGrowth(attack: () => Promise<void>, everyMs = 250): Promise<number> {
  const before = memoryAfterGc()
  let peak = 0
  let running = true
  const sampler = (async () => {
    while (running) {
      await sleep(everyMs)
      peak = Math.max(peak, memoryAfterGc() - before)
    }
  })()
  try {
    await attack()
  } finally {
    running = false
    await sampler
  }
  return Math.max(peak, memoryAfterGc() - before)
}

export function assertBelow(bytes: number, limit: number, what: string): void {
  if (process.env.HOSTILE_VERBOSE) console.log('# MEM', what, (bytes / MB).toFixed(1), 'of', limit / MB)
  assert.ok(bytes < limit, `${what}: ${(bytes / MB).toFixed(1)} MB, more than ${(limit / MB).toFixed(0)} MB`)
}

export async function waitFor(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms
  while (!ok()) {
    if (performance.now() > deadline) assert.fail(`not ${what} within ${ms} ms`)
    await sleep(10)
  }
}

/**
 * Opens a plain socket (no RawClient: a TestBroker keeps those until the test ends), sends
 * `bytes` and resolves once the broker has closed it; fails after `ms`.
 */
export function sentAndClosed(port: number, bytes: Buffer, ms = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ port, host: '127.0.0.1' })
    const timer = setTimeout(() => {
      s.destroy()
      reject(new Error(`the broker did not close the connection within ${ms} ms`))
    }, ms)
    s.on('error', () => {})
    s.resume()
    s.on('connect', () => s.write(bytes))
    s.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** A Logger that keeps its warnings (with their fields) for the test to look at. */
export function recordingLogger(): Logger & { warnings: { fields: Record<string, unknown>; msg: string }[] } {
  const warnings: { fields: Record<string, unknown>; msg: string }[] = []
  return {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (fields, msg) => warnings.push({ fields: fields as Record<string, unknown>, msg }),
    error: () => {},
  }
}
