/**
 * A TCP proxy on loopback in front of a broker, under the test's control:
 * `cut()` destroys every open connection mid-flow (both sides see a reset);
 * `blackhole(true)` keeps the connections open but stops forwarding what the
 * broker sends, so the client sees a silent, half-dead link; `refuse(true)`
 * makes new connections close at once. Works the same for every broker.
 */
import { connect, createServer, type Socket } from 'node:net'
import { LOOPBACK } from '../../helpers/net.js'

export interface TcpProxy {
  readonly port: number
  readonly url: string
  /** Connections accepted so far. */
  readonly accepted: number
  /** Open connection pairs. */
  readonly open: number
  cut(): void
  blackhole(on: boolean): void
  refuse(on: boolean): void
  close(): Promise<void>
}

export async function startProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>()
  let accepted = 0
  let holed = false
  let refusing = false
  const server = createServer({ noDelay: true }, (client) => {
    accepted++
    if (refusing) {
      client.destroy()
      return
    }
    const upstream = connect({ port: targetPort, host: LOOPBACK, noDelay: true })
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    const drop = (): void => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('data', (b: Buffer) => {
      if (!upstream.destroyed) upstream.write(b)
    })
    upstream.on('data', (b: Buffer) => {
      if (!holed && !client.destroyed) client.write(b)
    })
    client.on('error', drop)
    upstream.on('error', drop)
    client.on('close', drop)
    upstream.on('close', drop)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, LOOPBACK, () => resolve())
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  const cut = (): void => {
    for (const [a, b] of [...pairs]) {
      a.resetAndDestroy()
      b.resetAndDestroy()
    }
    pairs.clear()
  }
  return {
    port,
    url: `mqtt://${LOOPBACK}:${port}`,
    get accepted() {
      return accepted
    },
    get open() {
      return pairs.size
    },
    cut,
    blackhole(on) {
      holed = on
    },
    refuse(on) {
      refusing = on
    },
    close() {
      cut()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
