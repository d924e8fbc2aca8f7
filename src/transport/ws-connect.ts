import type { ClientRequestArgs } from 'node:http'
import WebSocket from 'ws'
import { ConfigError } from '../errors.js'
import { explainTlsError, TransportError, TransportErrorCode } from './connect-errors.js'
import { type TlsClientOptions, type TlsConnectParts, tlsConnectParts } from './tls-options.js'
import { type ByteDuplex, type DuplexEvents, type Transport, urlHost } from './transport.js'

/** The WebSocket subprotocol of MQTT [MQTT-6.0.0-3] (MQTT 3.1 brokers named it 'mqttv3.1'). */
export const MQTT_SUBPROTOCOL = 'mqtt'

/**
 * Above this many buffered bytes `write` returns false and `drain` follows once they
 * are sent (a WebSocket has no 'drain' of its own). As large as a gathered write.
 */
export const WS_HIGH_WATER = 64 * 1024

/** One WebSocket message may hold the largest MQTT packet (256 MiB and its 5-byte header). */
const MAX_MESSAGE = 256 * 1024 * 1024 + 5

export interface WsConnectOptions extends TlsClientOptions {
  /** `ws://host[:port]/path` or `wss://...` (the path as the server serves it, e.g. /mqtt). */
  url: string | URL
  /** Extra HTTP headers of the upgrade request (a token, a cookie...). */
  headers?: Record<string, string>
  /** The Origin header, for servers that allow only some. */
  origin?: string
}

/**
 * A client transport over WebSocket (ws:// and wss://, with the `ws` package): offers
 * the subprotocol 'mqtt', sends each flush as one binary message and reads binary
 * messages as bytes. TLS options apply to wss:// only.
 */
export function wsTransport(options: WsConnectOptions): Transport {
  let url: URL
  try {
    url = typeof options.url === 'string' ? new URL(options.url) : options.url
  } catch {
    throw new ConfigError('url', `not a URL: ${String(options.url)}; write e.g. ws://127.0.0.1:8080/mqtt`)
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ConfigError('url', `wsTransport takes ws:// or wss:// URLs; got ${url.protocol}//`)
  }
  const host = urlHost(url)
  const tls: TlsConnectParts | undefined =
    url.protocol === 'wss:' ? tlsConnectParts(host, options) : undefined
  // ws hands these on to tls.connect (its typing of checkServerIdentity is not node's)
  const wsOptions: Omit<WebSocket.ClientOptions, 'checkServerIdentity'> & ClientRequestArgs = {
    perMessageDeflate: false,
    maxPayload: MAX_MESSAGE,
    ...(tls ?? {}),
  }
  if (options.headers !== undefined) wsOptions.headers = options.headers
  if (options.origin !== undefined) wsOptions.origin = options.origin
  // The URL without credentials: those are MQTT's (CONNECT), not HTTP's.
  const target = new URL(url.href)
  target.username = ''
  target.password = ''
  const href = target.href
  const shown = withoutQueryValues(target)
  return {
    name: shown,
    open(events: DuplexEvents, signal: AbortSignal): Promise<ByteDuplex> {
      return new Promise((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason)
          return
        }
        const ws = new WebSocket(href, MQTT_SUBPROTOCOL, wsOptions as WebSocket.ClientOptions)
        let settled = false
        const fail = (err: Error): void => {
          if (settled) return
          settled = true
          signal.removeEventListener('abort', onAbort)
          ws.terminate()
          reject(err)
        }
        const onAbort = (): void => fail(signal.reason as Error)
        signal.addEventListener('abort', onAbort, { once: true })
        ws.on('unexpected-response', (_req, res) => {
          res.resume()
          fail(
            new TransportError(
              TransportErrorCode.WS_HANDSHAKE,
              `the server answered the WebSocket upgrade of ${shown} with HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trimEnd(),
            ),
          )
        })
        ws.on('error', (err) => fail(handshakeError(err, shown)))
        ws.once('open', () => {
          if (settled) return
          settled = true
          signal.removeEventListener('abort', onAbort)
          ws.removeAllListeners('error')
          ws.removeAllListeners('unexpected-response')
          resolve(new WsDuplex(ws, events))
        })
      })
    },
  }
}

/**
 * The URL for messages and logs: a query often carries a token or a signature (presigned
 * URLs), so its values are left out and only the names shown.
 */
export function withoutQueryValues(url: URL): string {
  if (url.search === '') return url.href
  const bare = new URL(url.href)
  bare.search = ''
  const names = [...url.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=***`)
  return `${bare.href}?${names.join('&')}`
}

function handshakeError(err: Error, href: string): Error {
  const tls = explainTlsError(err)
  if (tls !== err) return tls
  if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') {
    // ws's 'socket hang up': the port took the connection but not the HTTP upgrade (an MQTT
    // TCP port, or a TLS one reached with ws://).
    const other = href.startsWith('wss:') ? '' : ' (wss:// if it takes TLS)'
    return new TransportError(
      TransportErrorCode.WS_HANDSHAKE,
      `the server closed the connection instead of upgrading ${href} to WebSocket (${err.message}); check that this port is a WebSocket listener${other}`,
      err,
    )
  }
  if (/subprotocol/i.test(err.message)) {
    return new TransportError(
      TransportErrorCode.WS_HANDSHAKE,
      `the WebSocket server at ${href} did not accept the subprotocol 'mqtt' (${err.message})`,
      err,
    )
  }
  return err
}

/**
 * The ByteDuplex of an open WebSocket. Writes between cork and uncork leave as one
 * message (MQTT packets may span or share WebSocket messages). `close` is reported
 * once, after ws's 'close', with the error that ended it.
 */
class WsDuplex implements ByteDuplex {
  private corked = 0
  private held: Buffer[] = []
  private heldBytes = 0
  private needDrain = false
  private error: Error | undefined
  private readonly onSent = (): void => {
    if (this.needDrain && this.ws.bufferedAmount < WS_HIGH_WATER) {
      this.needDrain = false
      this.events.drain()
    }
  }

  constructor(
    private readonly ws: WebSocket,
    private readonly events: DuplexEvents,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        // [MQTT-6.0.0-1] MQTT travels in binary frames; anything else closes the connection.
        this.error ??= new TransportError(
          TransportErrorCode.WS_CLOSED,
          'the server sent a text WebSocket frame',
        )
        ws.close(1003, 'MQTT needs binary frames')
        return
      }
      events.data(data)
    })
    ws.on('error', (err) => {
      this.error ??= err
    })
    ws.once('close', (code: number, reason: Buffer) => {
      // 1000 normal, 1005 no code, 1006 dropped: the peer closed; others say why.
      if (code !== 1000 && code !== 1005 && code !== 1006) {
        const why = reason.length > 0 ? `: ${reason.toString('utf8')}` : ''
        this.error ??= new TransportError(
          TransportErrorCode.WS_CLOSED,
          `the server closed the WebSocket with code ${code}${why}`,
        )
      }
      events.close(this.error)
    })
  }

  write(bytes: Buffer): boolean {
    const ws = this.ws
    if (ws.readyState !== WebSocket.OPEN) return false
    if (this.corked > 0) {
      this.held.push(bytes)
      this.heldBytes += bytes.length
      if (ws.bufferedAmount + this.heldBytes < WS_HIGH_WATER) return true
      // 'drain' comes from the send callback of the message uncork makes
      this.needDrain = true
      return false
    }
    ws.send(bytes, { binary: true }, this.onSent)
    if (ws.bufferedAmount < WS_HIGH_WATER) return true
    this.needDrain = true
    return false
  }

  cork(): void {
    this.corked++
  }

  uncork(): void {
    if (this.corked === 0 || --this.corked > 0) return
    const held = this.held
    if (held.length === 0) return
    const bytes = held.length === 1 ? held[0]! : Buffer.concat(held, this.heldBytes)
    this.held = []
    this.heldBytes = 0
    this.write(bytes)
  }

  pause(): void {
    this.ws.pause()
  }

  resume(): void {
    this.ws.resume()
  }

  end(): void {
    this.uncork()
    this.ws.close(1000)
  }

  destroy(): void {
    this.ws.terminate()
  }
}
