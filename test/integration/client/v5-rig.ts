/** A v5 client connected to a scripted broker (fake-broker.ts): the two ends a v5 client test works with. */
import { after } from 'node:test'
import { type Client, type ClientOptions, connect } from '../../../src/index.js'
import type { ConnackProperties } from '../../../src/protocol/index.js'
import { type FakeBroker, type FakeSession, startFakeBroker } from './fake-broker.js'

export interface V5Rig {
  fb: FakeBroker
  client: Client
  /** The server side of the client's current connection. */
  s: FakeSession
}

const clients = new Set<Client>()
after(async () => {
  for (const c of clients) await c.end({ force: true })
})

/** Starts a scripted broker, connects a v5 client (no reconnect unless told) and accepts with `connack`. */
export async function v5Rig(options: ClientOptions = {}, connack?: ConnackProperties): Promise<V5Rig> {
  const fb = await startFakeBroker()
  const pending = connect(fb.url, { protocolVersion: 5, reconnect: false, keepalive: 0, ...options })
  const s = await fb.acceptWith(connack)
  const client = await pending
  clients.add(client)
  return { fb, client, s }
}

/** Keeps `client` ended after the file. */
export function track(client: Client): Client {
  clients.add(client)
  return client
}
