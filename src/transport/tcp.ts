import { createServer, type Server } from 'node:net'
import { wrapDuplex } from './duplex.js'
import { authority, type Incoming, type ListenBase, type Listener } from './transport.js'

export type TcpListenOptions = ListenBase

/** A plain TCP listener (Nagle off: the broker gathers its own writes). */
export function listenTcp(
  options: TcpListenOptions,
  accept: (incoming: Incoming) => void,
): Promise<Listener> {
  let name = ''
  const server: Server = createServer({ noDelay: true }, (socket) =>
    accept({ remoteAddress: socket.remoteAddress, listener: name, open: (e) => wrapDuplex(socket, e) }),
  )
  return bindServer(server, 'mqtt', options).then((l) => {
    name = l.name
    return l
  })
}

/**
 * Binds a net (or tls) server: default port 1883 on 127.0.0.1, `maxConnections` enforced by
 * the server itself (one over is closed at once, and reported), errors of the server socket
 * after it listens reported instead of thrown.
 */
export function bindServer(
  server: Server,
  scheme: string,
  options: ListenBase,
  defaultPort = 1883,
): Promise<Listener> {
  const { report } = options
  if (options.maxConnections !== undefined) {
    server.maxConnections = options.maxConnections
    server.on('drop', (data) =>
      report?.refused('max-connections', 'over maxConnections', data?.remoteAddress),
    )
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? defaultPort, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      // EMFILE on accept and the like: the listener goes on, the broker logs it
      server.on('error', (err) => report?.error(err))
      const addr = server.address()
      const bound = typeof addr === 'object' && addr !== null
      const port = bound ? addr.port : (options.port ?? defaultPort)
      const host = bound ? addr.address : (options.host ?? '127.0.0.1')
      resolve({
        name: `${scheme}://${authority(host, port)}`,
        port,
        host,
        close: () => new Promise<void>((res) => server.close(() => res())),
      })
    })
  })
}
