import { createServer, type Server, type Socket } from 'node:net'

/** TCP listener: the broker's only contact with node:net. */
export interface TcpListenOptions {
  port?: number
  host?: string
}

export interface Listening {
  port: number
  host: string
  close(): Promise<void>
}

export function listenTcp(options: TcpListenOptions, onSocket: (socket: Socket) => void): Promise<Listening> {
  const server: Server = createServer({ noDelay: true }, onSocket)
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 1883, options.host ?? '127.0.0.1', () => {
      server.off('error', reject)
      const addr = server.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : (options.port ?? 1883)
      const host = typeof addr === 'object' && addr !== null ? addr.address : (options.host ?? '127.0.0.1')
      resolve({
        port,
        host,
        close: () => new Promise<void>((res) => server.close(() => res())),
      })
    })
  })
}
