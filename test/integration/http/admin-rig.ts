/**
 * A broker with an MQTT listener and the HTTP endpoint, on loopback, for the admin API tests:
 * real clients connect over TCP, and `get`/`call` check every answer against docs/openapi.yaml.
 */
import type { TestContext } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import type { NotableEvent } from '../../../src/broker/events.js'
import type { BrokerOptions, Logger } from '../../../src/broker/options.js'
import { startHttp } from '../../../src/http/server.js'
import { type Client, type ClientOptions, connect } from '../../../src/index.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import type { StoredMessage } from '../../../src/store/store.js'
import { type CheckedResponse, fetchChecked } from '../../helpers/openapi.js'

/** A MemoryStore that remembers every retained message written to it (an empty payload deletes). */
export class RetainedSpy extends MemoryStore {
  readonly retainedWrites: { topic: string; bytes: number }[] = []
  override setRetained(msg: StoredMessage): void {
    this.retainedWrites.push({ topic: msg.topic, bytes: msg.payload.length })
    super.setRetained(msg)
  }
}

export interface AdminRig {
  broker: Broker
  store: RetainedSpy
  /** The MQTT listener's port. */
  port: number
  /** e.g. http://127.0.0.1:41234 */
  url: string
  /** Log lines at info, as `msg` + the object. */
  infoLines: { obj: object; msg: string }[]
  notable: NotableEvent[]
  /** Our client on the MQTT listener, no reconnect; ended after the test. */
  client(options?: ClientOptions): Promise<Client>
  /** A request whose answer is checked against openapi.yaml (status described, JSON body conforms). */
  call<T = unknown>(method: string, path: string): Promise<CheckedResponse<T>>
  get<T = unknown>(path: string): Promise<CheckedResponse<T>>
}

export async function adminRig(t: TestContext, options: BrokerOptions = {}): Promise<AdminRig> {
  const infoLines: AdminRig['infoLines'] = []
  const noop = (): void => {}
  const logger: Logger = {
    debug: noop,
    info: (obj, msg) => infoLines.push({ obj, msg }),
    warn: noop,
    error: noop,
  }
  const store = new RetainedSpy()
  const broker = new Broker({ sysInterval: 0, logger, store, ...options })
  const notable: NotableEvent[] = []
  broker.on('notable', (e) => notable.push(e))
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' })
  const http = await startHttp(broker, { port: 0 })
  const clients: Client[] = []
  t.after(async () => {
    await Promise.all(clients.map((c) => c.end({ force: true }).catch(() => {})))
    await http.close()
    await broker.close()
  })
  const call = <T>(method: string, path: string): Promise<CheckedResponse<T>> =>
    fetchChecked<T>(http.url, method, path)
  return {
    broker,
    store,
    port,
    url: http.url,
    infoLines,
    notable,
    async client(o: ClientOptions = {}): Promise<Client> {
      const c = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: false, ...o })
      clients.push(c)
      return c
    },
    call,
    get: (path) => call('GET', path),
  }
}

/** Waits until `check` is true, polling; fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
