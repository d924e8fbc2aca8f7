import { connect as tlsConnect } from 'node:tls'
import { explainTlsError } from './connect-errors.js'
import { wrapDuplex } from './duplex.js'
import { whenOpen } from './socket-open.js'
import { type TlsClientOptions, tlsConnectParts } from './tls-options.js'
import { authority, type ByteDuplex, type DuplexEvents, type Transport } from './transport.js'

export interface TlsConnectOptions extends TlsClientOptions {
  host: string
  port: number
}

/**
 * A client transport over TLS (mqtts://). Resolves once the handshake is done and the
 * server's certificate verified; Nagle off, as over TCP. The options are checked and the
 * secure context built here, once (a ConfigError for a bad PEM), not per connection.
 */
export function tlsTransport(options: TlsConnectOptions): Transport {
  const { host, port } = options
  const parts = tlsConnectParts(host, options)
  return {
    name: `mqtts://${authority(host, port)}`,
    open(events: DuplexEvents, signal: AbortSignal): Promise<ByteDuplex> {
      const start = () => tlsConnect({ host, port, ...parts }).setNoDelay(true)
      return whenOpen(
        start,
        'secureConnect',
        signal,
        (socket) => {
          // TLS 1.3 servers judge the client certificate after the handshake: explain that too.
          const explained: DuplexEvents = {
            data: (chunk) => events.data(chunk),
            drain: () => events.drain(),
            close: (e) => events.close(e && explainTlsError(e)),
          }
          return wrapDuplex(socket, explained)
        },
        explainTlsError,
      )
    },
  }
}
