import { createServer, type Server, type Socket } from 'node:net'
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
 * Connections a server accepted that are not MQTT connections yet (a TLS handshake, an HTTP
 * upgrade under way): destroyed when the listener closes, so that no half-open handshake
 * outlives the broker, and, with a `deadline`, when they are not MQTT connections that many
 * milliseconds after they were accepted (`expired` is told first). A socket's remote address
 * and port name it (the same on a TLS socket as on the TCP socket under it).
 */
export class Handshakes {
  private readonly sockets = new Map<string, { socket: Socket; timer: NodeJS.Timeout | null }>()

  constructor(
    private readonly deadline = 0,
    private readonly expired?: (socket: Socket) => void,
  ) {}

  watch(server: Server): void {
    server.on('connection', (socket: Socket) => {
      const k = key(socket)
      const timer = this.deadline > 0 ? setTimeout(() => this.expire(k, socket), this.deadline) : null
      const entry = { socket, timer }
      this.sockets.set(k, entry)
      socket.once('close', () => {
        if (entry.timer !== null) clearTimeout(entry.timer)
        if (this.sockets.get(k) === entry) this.sockets.delete(k)
      })
    })
  }

  private expire(k: string, socket: Socket): void {
    if (this.sockets.get(k)?.socket !== socket || socket.destroyed) return // done, or closed already
    this.sockets.delete(k)
    this.expired?.(socket)
    socket.destroy()
  }

  /** This connection is an MQTT connection now: the broker closes it. */
  done(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): void {
    const k = key(socket)
    const entry = this.sockets.get(k)
    if (entry === undefined) return
    if (entry.timer !== null) clearTimeout(entry.timer)
    this.sockets.delete(k)
  }

  closeAll(): void {
    for (const { socket, timer } of this.sockets.values()) {
      if (timer !== null) clearTimeout(timer)
      socket.destroy()
    }
    this.sockets.clear()
  }
}

function key(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${s.remoteAddress}|${s.remotePort}`
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
  handshakes?: Handshakes,
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
        // stops listening at once; the connections it accepted are the broker's to close
        close: async () => {
          server.close()
          handshakes?.closeAll()
        },
      })
    })
  })
}
