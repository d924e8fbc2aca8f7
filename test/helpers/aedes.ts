/**
 * An in-memory Aedes broker on a free loopback port, as a second reference
 * broker for client tests (no binaries needed, so never skipped).
 *
 *   const a = await startAedes()
 *   after(() => a.close())
 *   // connect to a.port / a.url
 */
import { createServer, type Socket } from 'node:net'
import { Aedes, type AedesOptions } from 'aedes'
import { LOOPBACK } from './net.js'

export interface AedesBroker {
  readonly aedes: Aedes
  readonly host: string
  readonly port: number
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string
  /** Closes the broker and its listener, destroying open connections. Idempotent. */
  close(): Promise<void>
}

export async function startAedes(options: AedesOptions = {}): Promise<AedesBroker> {
  const aedes = await Aedes.createBroker(options)
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    aedes.handle(socket)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, LOOPBACK, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address()
  if (typeof addr !== 'object' || addr === null) throw new Error('aedes listener has no address')
  let closing: Promise<void> | null = null
  return {
    aedes,
    host: LOOPBACK,
    port: addr.port,
    url: `mqtt://${LOOPBACK}:${addr.port}`,
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => aedes.close(() => resolve()))
        for (const s of sockets) s.destroy()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      })()
      return closing
    },
  }
}
