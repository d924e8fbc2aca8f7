/**
 * A broker with an MQTT listener and the HTTP endpoint on loopback for the /metrics tests:
 * started before the tests of the describe() that calls metricsRig, closed after them.
 */
import { after, before } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import type { BrokerOptions, Logger } from '../../../src/broker/options.js'
import { type Client, connect } from '../../../src/client/client.js'
import type { ClientOptions } from '../../../src/client/options.js'
import { type HttpEndpoint, startHttp } from '../../../src/http/server.js'
import { LOOPBACK } from '../../helpers/net.js'

export const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} }

export interface MetricsRig {
  readonly broker: Broker
  readonly http: HttpEndpoint
  /** The MQTT listener's port. */
  readonly port: number
  /** mqtt://127.0.0.1:port */
  readonly url: string
  /** Our client on the MQTT listener, no reconnect; ended after the tests. */
  open(options?: ClientOptions): Promise<Client>
}

/** Call inside describe(): the rig's fields are set once its before hook has run. */
export function metricsRig(options: BrokerOptions = {}): MetricsRig {
  const clients: Client[] = []
  let broker: Broker | undefined
  let http: HttpEndpoint | undefined
  let port = 0
  before(async () => {
    broker = new Broker({ logger: quiet, ...options })
    port = (await broker.listen({ port: 0, host: LOOPBACK })).port
    http = await startHttp(broker, { port: 0 })
  })
  after(async () => {
    for (const c of clients) await c.end().catch(() => {})
    await http?.close()
    await broker?.close()
  })
  const started = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error('metricsRig: used before its before hook ran')
    return v
  }
  const url = (): string => `mqtt://${LOOPBACK}:${port}`
  return {
    get broker() {
      return started(broker)
    },
    get http() {
      return started(http)
    },
    get port() {
      return port
    },
    get url() {
      return url()
    },
    async open(o: ClientOptions = {}): Promise<Client> {
      const c = await connect(url(), { reconnect: false, ...o })
      clients.push(c)
      return c
    },
  }
}
