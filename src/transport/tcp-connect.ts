import { connect as netConnect } from 'node:net'
import { wrapDuplex } from './duplex.js'
import { whenOpen } from './socket-open.js'
import { authority, type ByteDuplex, type DuplexEvents, type Transport } from './transport.js'

export interface TcpConnectOptions {
  host: string
  port: number
}

/** A client transport over plain TCP (Nagle off: the client batches its own writes). */
export function tcpTransport(options: TcpConnectOptions): Transport {
  const { host, port } = options
  return {
    name: `tcp://${authority(host, port)}`,
    open(events: DuplexEvents, signal: AbortSignal): Promise<ByteDuplex> {
      const start = () => netConnect({ host, port, noDelay: true })
      return whenOpen(start, 'connect', signal, (socket) => wrapDuplex(socket, events))
    },
  }
}
