import { connect as netConnect } from 'node:net'
import { wrapDuplex } from './duplex.js'
import type { ByteDuplex, DuplexEvents, Transport } from './transport.js'

export interface TcpConnectOptions {
  host: string
  port: number
}

/** A client transport over plain TCP (Nagle off: the client batches its own writes). */
export function tcpTransport(options: TcpConnectOptions): Transport {
  const { host, port } = options
  return {
    name: `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`,
    open(events: DuplexEvents, signal: AbortSignal): Promise<ByteDuplex> {
      return new Promise((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason)
          return
        }
        const socket = netConnect({ host, port, noDelay: true })
        const onAbort = (): void => {
          socket.destroy()
          reject(signal.reason)
        }
        const onError = (err: Error): void => {
          signal.removeEventListener('abort', onAbort)
          socket.destroy()
          reject(err)
        }
        signal.addEventListener('abort', onAbort, { once: true })
        socket.once('error', onError)
        socket.once('connect', () => {
          signal.removeEventListener('abort', onAbort)
          socket.off('error', onError)
          resolve(wrapDuplex(socket, events))
        })
      })
    },
  }
}
