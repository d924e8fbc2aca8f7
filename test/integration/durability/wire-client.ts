/**
 * An event-driven MQTT 3.1.1 test client over node:net that speaks through our
 * codec: the test sees every packet as it arrives and decides exactly what to
 * send back, so it knows which acknowledgements a peer really received before
 * the broker was killed.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { type ConnackPacket, Decoder, encode, type Packet, PacketType } from '../../../src/protocol/index.js'
import { LOOPBACK } from '../../helpers/net.js'

export type PacketHandler = (packet: Packet, client: WireClient) => void

export interface WireConnectOptions {
  clientId: string
  clean: boolean
  timeoutMs?: number
}

export class WireClient {
  readonly connack: ConnackPacket
  /** Resolves when the socket has closed (the broker died, or `close()`). */
  readonly closed: Promise<void>
  private readonly socket: Socket
  private isClosed = false

  private constructor(socket: Socket, connack: ConnackPacket, closed: Promise<void>) {
    this.socket = socket
    this.connack = connack
    this.closed = closed
    void closed.then(() => {
      this.isClosed = true
    })
  }

  /**
   * Connects, sends CONNECT and resolves with the client once CONNACK 0 arrives.
   * `onPacket` gets every later packet, including those in the same read as the CONNACK.
   */
  static connect(port: number, options: WireConnectOptions, onPacket: PacketHandler): Promise<WireClient> {
    const timeoutMs = options.timeoutMs ?? 5000
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host: LOOPBACK, noDelay: true })
      let client: WireClient | null = null
      let lastError: Error | null = null
      const closed = new Promise<void>((r) => socket.once('close', () => r()))
      const timer = setTimeout(
        () => fail(new Error(`no CONNACK from port ${port} within ${timeoutMs} ms`)),
        timeoutMs,
      )
      const fail = (err: Error): void => {
        clearTimeout(timer)
        socket.destroy()
        reject(err)
      }
      const decoder = new Decoder((p) => {
        // After destroy() the rest of the read is dropped too, as if it never arrived.
        if (client !== null) return socket.destroyed ? undefined : onPacket(p, client)
        if (p.type !== PacketType.CONNACK)
          return fail(new Error(`expected CONNACK, got packet type ${p.type}`))
        if (p.returnCode !== 0) return fail(new Error(`CONNACK return code ${p.returnCode}`))
        clearTimeout(timer)
        client = new WireClient(socket, p, closed)
        resolve(client)
      })
      socket.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk)
        } catch (err) {
          socket.destroy(err as Error)
        }
      })
      // A killed broker resets the connection; 'close' follows.
      socket.on('error', (err) => {
        lastError = err
      })
      socket.once('close', () => {
        if (client === null) {
          fail(new Error(`connection closed before CONNACK${lastError ? `: ${lastError.message}` : ''}`))
        }
      })
      socket.once('connect', () => {
        socket.write(
          encode({
            type: PacketType.CONNECT,
            protocolName: 'MQTT',
            protocolVersion: 4,
            clean: options.clean,
            keepalive: 0,
            clientId: options.clientId,
          }),
        )
      })
    })
  }

  /** True once the socket closed or was destroyed. */
  get ended(): boolean {
    return this.isClosed || this.socket.destroyed
  }

  send(packet: Packet): void {
    if (!this.socket.destroyed) this.socket.write(encode(packet))
  }

  /** DISCONNECT, then waits for the close. */
  async disconnect(): Promise<void> {
    this.send({ type: PacketType.DISCONNECT })
    this.socket.end()
    await this.closed
  }

  /** Drops the connection without DISCONNECT; packets not yet handled are dropped with it. */
  destroy(): void {
    this.socket.destroy()
  }
}
