import { createServer, type Server } from 'node:net'
import { incomingStream } from './duplex.js'
import type { Incoming, Listener } from './transport.js'

export interface TcpListenOptions {
  port?: number
  host?: string
}

/** A plain TCP listener (Nagle off: the broker gathers its own writes). */
export function listenTcp(
  options: TcpListenOptions,
  accept: (incoming: Incoming) => void,
): Promise<Listener> {
  const server: Server = createServer({ noDelay: true }, (socket) =>
    accept(incomingStream(socket, socket.remoteAddress)),
  )
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 1883, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      const addr = server.address()
      const bound = typeof addr === 'object' && addr !== null
      resolve({
        port: bound ? addr.port : (options.port ?? 1883),
        host: bound ? addr.address : (options.host ?? '127.0.0.1'),
        close: () => new Promise<void>((res) => server.close(() => res())),
      })
    })
  })
}
