/**
 * Peers for the listener tests: a TLS socket (node:tls) wrapped in our RawClient, a raw
 * WebSocket (the `ws` package) whose messages are read as MQTT, and bounded waits.
 */
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls'
import { WebSocket } from 'ws'
import { Decoder, encode, type Packet } from '../../../src/protocol/index.js'
import { LOOPBACK } from '../../helpers/net.js'
import { RawClient } from '../../helpers/raw-client.js'

/** A TLS connection to `port` on loopback; rejects with the handshake's error. */
export function tlsSocket(port: number, options: ConnectionOptions = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: LOOPBACK, port, servername: 'localhost', ...options })
    const timer = setTimeout(() => {
      s.destroy()
      reject(new Error('no TLS handshake within 3000 ms'))
    }, 3000)
    s.once('secureConnect', () => {
      clearTimeout(timer)
      s.off('error', onError)
      resolve(s)
    })
    const onError = (err: Error): void => {
      clearTimeout(timer)
      s.destroy()
      reject(err)
    }
    s.once('error', onError)
    // a TLS 1.3 server refuses a client certificate after the handshake: the error comes with the first read
    s.once('close', () => onError(new Error('closed during the TLS handshake')))
  })
}

/** Our RawClient over a TLS connection. */
export async function tlsClient(port: number, options: ConnectionOptions = {}): Promise<RawClient> {
  return RawClient.wrap(await tlsSocket(port, options))
}

/** Whether a TLS connection gets through the handshake and a CONNACK 0 (TLS 1.3 refuses client certificates late). */
export async function tlsConnects(port: number, options: ConnectionOptions = {}): Promise<boolean> {
  let c: RawClient
  try {
    c = await tlsClient(port, options)
  } catch {
    return false
  }
  try {
    const connack = await c.connect()
    return connack.returnCode === 0
  } catch {
    return false
  } finally {
    c.destroy()
  }
}

/** What a WebSocket upgrade came to: the subprotocol chosen, or the HTTP status of a refusal. */
export type Upgrade = { ok: true; ws: WebSocket; protocol: string } | { ok: false; status: number }

/** Tries a WebSocket upgrade; bounded to 3 s. */
export function upgrade(
  url: string,
  protocols: string[] = ['mqtt'],
  options: ConstructorParameters<typeof WebSocket>[2] = {},
): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options)
    const timer = setTimeout(() => {
      ws.terminate()
      reject(new Error(`no answer to the upgrade of ${url} within 3000 ms`))
    }, 3000)
    ws.once('open', () => {
      clearTimeout(timer)
      resolve({ ok: true, ws, protocol: ws.protocol })
    })
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer)
      res.resume()
      ws.terminate()
      resolve({ ok: false, status: res.statusCode ?? 0 })
    })
    ws.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

/** MQTT over a raw WebSocket: each message's bytes go through our decoder. */
export class WsMqtt {
  readonly packets: Packet[] = []
  closeCode: number | null = null
  private readonly decoder: Decoder
  private readonly closed: Promise<number>

  constructor(
    readonly ws: WebSocket,
    version: 4 | 5 = 4,
  ) {
    this.decoder = new Decoder((p) => this.packets.push(p), { protocolVersion: version })
    ws.on('message', (data: Buffer) => this.decoder.push(Buffer.from(data)))
    ws.on('error', () => {})
    this.closed = new Promise((resolve) =>
      ws.once('close', (code) => {
        this.closeCode = code
        resolve(code)
      }),
    )
  }

  send(packet: Parameters<typeof encode>[0], version: 4 | 5 = 4): void {
    this.ws.send(encode(packet, version))
  }

  /** Waits (up to `ms`) until `n` packets have arrived. */
  async waitPackets(n: number, ms = 2000): Promise<Packet[]> {
    const deadline = Date.now() + ms
    while (this.packets.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} packets, got ${JSON.stringify(this.packets)}`)
      await new Promise((r) => setTimeout(r, 10))
    }
    return this.packets
  }

  /** The close code, once closed; rejects after `ms`. */
  whenClosed(ms = 3000): Promise<number> {
    return Promise.race([
      this.closed,
      new Promise<number>((_, reject) =>
        setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms).unref(),
      ),
    ])
  }
}

/** Polls `check` every 10 ms until it holds; fails after `ms`. */
export async function eventually(check: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
