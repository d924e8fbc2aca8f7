/**
 * Load for hostile-client tests, over raw sockets with our codec and nothing kept per
 * message: a QoS 0 publisher that writes as fast as its socket takes (bounded in time),
 * a subscriber that only counts and times what it receives, and the broker's heap after
 * a forced GC.
 */
import { connect as netConnect, type Socket } from 'node:net'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Decoder, encode, PacketType, type QoS } from '../../src/protocol/index.js'
import { type ConnectOptions, connectPacket } from './raw-client.js'

/** A connected raw socket whose CONNACK has arrived (or that was refused: then it is closed). */
export async function rawConnect(
  port: number,
  clientId: string,
  extra: ConnectOptions = {},
): Promise<Socket> {
  const socket = netConnect({ port, host: '127.0.0.1', noDelay: true })
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  socket.write(encode(connectPacket({ clientId, ...extra })))
  // CONNACK is 4 bytes
  await new Promise<void>((resolve) => {
    let got = 0
    const onData = (c: Buffer): void => {
      got += c.length
      if (got >= 4) done()
    }
    const done = (): void => {
      socket.off('data', onData)
      socket.off('close', done)
      resolve()
    }
    socket.on('data', onData)
    socket.once('close', done)
  })
  return socket
}

/** Counts the PUBLISH packets reaching a subscriber, with the longest silence between two. */
export class CountingSubscriber {
  readonly socket: Socket
  count = 0
  /** performance.now() of the last PUBLISH, and the longest gap between two, in ms. */
  last = 0
  maxGap = 0
  private readonly decoder: Decoder
  private acking = false

  private constructor(socket: Socket, ack: boolean) {
    this.socket = socket
    this.acking = ack
    this.decoder = new Decoder((p) => {
      if (p.type === PacketType.PUBLISH) {
        const now = performance.now()
        if (this.count > 0 && now - this.last > this.maxGap) this.maxGap = now - this.last
        this.last = now
        this.count++
        if (this.acking && p.qos === 1)
          socket.write(encode({ type: PacketType.PUBACK, packetId: p.packetId }))
      }
    })
    socket.on('data', (c: Buffer) => this.decoder.push(c))
  }

  /** Connects, subscribes to `filter` and waits for the SUBACK (counted out). */
  static async start(
    port: number,
    clientId: string,
    filter: string,
    qos: QoS = 0,
  ): Promise<CountingSubscriber> {
    const socket = await rawConnect(port, clientId)
    const sub = new CountingSubscriber(socket, true)
    const suback = new Promise<void>((resolve) => {
      const d = new Decoder((p) => {
        if (p.type === PacketType.SUBACK) {
          socket.off('data', onData)
          resolve()
        }
      })
      const onData = (c: Buffer): void => d.push(c)
      socket.on('data', onData)
    })
    socket.write(encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: filter, qos }] }))
    await suback
    // the SUBACK went through this decoder too; it is not a PUBLISH, so it is not counted
    return sub
  }

  /** Starts the gap clock afresh (after a phase of no traffic). */
  resetGaps(): void {
    this.maxGap = 0
    this.last = performance.now()
  }
}

/**
 * Publishes QoS 0 messages to `topic` for `ms`, as fast as the socket takes them (never
 * more than 256 KiB waiting in it), in batches that leave the event loop free. Resolves
 * with the number sent.
 */
export async function flood(socket: Socket, topic: string, ms: number, size = 64): Promise<number> {
  const packet = encode({
    type: PacketType.PUBLISH,
    topic,
    payload: Buffer.alloc(size, 0x61),
    qos: 0,
    retain: false,
    dup: false,
    packetId: 0,
  })
  const batch = Buffer.concat(Array.from({ length: 256 }, () => packet))
  const end = performance.now() + ms
  let sent = 0
  while (performance.now() < end && !socket.destroyed) {
    if (socket.writableLength < 256 * 1024) {
      socket.write(batch)
      sent += 256
    }
    await new Promise((r) => setImmediate(r))
  }
  return sent
}

let gcFn: (() => void) | null = null
/** V8's heap in use after a full collection, in bytes: what the process keeps, without V8's slack. */
export function heapAfterGc(): number {
  if (gcFn === null) {
    setFlagsFromString('--expose-gc')
    gcFn = runInNewContext('gc') as () => void
  }
  gcFn()
  gcFn()
  return process.memoryUsage().heapUsed
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
