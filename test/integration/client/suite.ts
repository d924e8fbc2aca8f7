/**
 * Runs one client suite against every broker in BROKERS: a `describe` per
 * broker, the broker started once for it, and every client made through
 * `ctx.connect` force-ended after each test. Every wait is bounded.
 */
import { after, afterEach, before, describe } from 'node:test'
import { type Client, type ClientEvents, type ClientOptions, connect } from '../../../src/index.js'
import { BROKERS, type BrokerName, type TestBroker } from './brokers.js'
import { startProxy, type TcpProxy } from './proxy.js'

/** Every test's bound: a hung flow fails its test instead of the run. */
export const T = { timeout: 30_000 }

export interface SuiteContext {
  /** Which broker, known when tests are defined. */
  readonly name: BrokerName
  /** The broker of this describe block (valid inside tests). */
  readonly broker: TestBroker
  /** Connects to the broker (or to `url`), with fast reconnects; the client is ended after the test. */
  connect(options?: ClientOptions, url?: string): Promise<Client>
  /** A proxy in front of the broker; closed after the test. */
  proxy(): Promise<TcpProxy>
}

let ids = 0
export function uniqueClientId(prefix = 'client'): string {
  return `${prefix}-${process.pid}-${++ids}`
}

export function forEachBroker(title: string, body: (ctx: SuiteContext) => void): void {
  for (const kind of BROKERS) {
    describe(`${title} [${kind.name}]`, { skip: kind.skip }, () => {
      let broker: TestBroker | null = null
      const clients: Client[] = []
      const proxies: TcpProxy[] = []
      before(async () => {
        broker = await kind.start()
      })
      after(async () => {
        await broker?.close()
      })
      afterEach(async () => {
        await Promise.all(clients.splice(0).map((c) => within(c.end({ force: true }), 3000, 'client end')))
        await Promise.all(proxies.splice(0).map((p) => p.close()))
      })
      const ctx: SuiteContext = {
        name: kind.name,
        get broker() {
          if (broker === null) throw new Error('broker not started')
          return broker
        },
        async connect(options = {}, url) {
          const c = await connect(url ?? ctx.broker.url, {
            clientId: uniqueClientId(kind.name),
            connectTimeout: 3000,
            reconnect: { minDelay: 20, maxDelay: 200 },
            ...options,
          })
          clients.push(c)
          return c
        },
        async proxy() {
          const p = await startProxy(ctx.broker.port)
          proxies.push(p)
          return p
        },
      }
      body(ctx)
    })
  }
}

/** `p`, or a rejection naming `what` after `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once `cond()` holds; polls every 5 ms; rejects after `ms`. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await delay(5)
  }
}

/** The next emission of `event`, bounded. */
export function nextEvent<K extends keyof ClientEvents>(
  client: Client,
  event: K,
  ms: number,
): Promise<ClientEvents[K]> {
  return within(
    new Promise<ClientEvents[K]>((resolve) => {
      const on = (...args: ClientEvents[K]): void => {
        client.off(event, on as never)
        resolve(args)
      }
      client.on(event, on as never)
    }),
    ms,
    `event ${event}`,
  )
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Collects 'message' events as `topic payload` strings. */
export function record(client: Client): string[] {
  const got: string[] = []
  client.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`))
  return got
}

/**
 * Publishes 300 QoS 1 messages from `pub`, which connects through `proxy`: message i has payload
 * `String(i)` and goes to `${t}/${i % 6}`; the proxy is cut after the 100th and the 200th, so
 * topic aliases must hold across reconnects. Resolves once every publish is acknowledged.
 */
export async function publishAcrossCuts(pub: Client, proxy: TcpProxy, t: string): Promise<void> {
  const all: Promise<unknown>[] = []
  for (let i = 0; i < 300; i++) {
    all.push(pub.publish(`${t}/${i % 6}`, String(i), { qos: 1 }))
    if (i === 100 || i === 200) {
      await delay(5)
      proxy.cut()
    } else if (i % 10 === 0) await delay(1)
  }
  await Promise.all(all)
}
