/**
 * A scripted MQTT 5 server on loopback for client tests that must see or
 * shape the exact packets: the test accepts each connection the client makes,
 * reads what the client sent (decoded, with its raw bytes) and answers with any
 * packet it likes (a CONNACK with chosen properties, AUTH, DISCONNECT ...).
 *
 *   const fb = await startFakeBroker()
 *   const pending = connect(fb.url, { protocolVersion: 5, reconnect: false })
 *   const s = await fb.accept()                       // a connection, CONNECT read
 *   s.send({ type: PacketType.CONNACK, sessionPresent: false, returnCode: 0, properties: { ... } })
 *   const p = await s.next(PacketType.PUBLISH)        // asserted type; s.raw(p) for its bytes
 *
 * Everything is closed in an `after` hook; every wait has a timeout.
 */
import assert from 'node:assert/strict'
import { createServer, type Server, type Socket } from 'node:net'
import { after } from 'node:test'
import {
  type ConnectPacket,
  Decoder,
  encode,
  PACKET_NAMES,
  type Packet,
  PacketType,
  type ProtocolVersion,
} from '../../../src/protocol/index.js'
import { LOOPBACK } from '../../helpers/net.js'
import { Wakeup } from '../../helpers/wakeup.js'

const DEFAULT_TIMEOUT = 2000

type PacketOf<T extends PacketType> = Extract<Packet, { type: T }>

export class FakeSession {
  readonly socket: Socket
  /** The CONNECT that opened the connection. */
  connect!: ConnectPacket
  private readonly queue: Packet[] = []
  private readonly raws = new WeakMap<Packet, Buffer>()
  private readonly wakeup = new Wakeup()
  private isClosed = false
  private version: ProtocolVersion = 5

  constructor(socket: Socket) {
    this.socket = socket
    const decoder: Decoder = new Decoder(
      (p) => {
        if (p.type === PacketType.CONNECT) {
          this.version = p.protocolVersion
          decoder.protocolVersion = p.protocolVersion
        }
        this.raws.set(p, Buffer.from(decoder.rawBytes()))
        this.queue.push(p)
        this.wakeup.wake()
      },
      { protocolVersion: 5 },
    )
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(Buffer.from(chunk))
      } catch {
        socket.destroy()
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      this.isClosed = true
      this.wakeup.wake()
    })
  }

  get ended(): boolean {
    return this.isClosed
  }

  send(p: Packet): void {
    if (!this.socket.destroyed) this.socket.write(encode(p, this.version))
  }

  raw(p: Packet): Buffer {
    const b = this.raws.get(p)
    assert.ok(b, 'raw(): not a packet of this session')
    return b
  }

  /** Packets read and not yet taken. */
  get received(): readonly Packet[] {
    return this.queue
  }

  async next(type?: undefined, timeoutMs?: number): Promise<Packet>
  async next<T extends PacketType>(type: T, timeoutMs?: number): Promise<PacketOf<T>>
  async next(type?: PacketType, timeoutMs = DEFAULT_TIMEOUT): Promise<Packet> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const p = this.queue.shift()
      if (p !== undefined) {
        if (type !== undefined && p.type !== type) {
          assert.fail(
            `expected ${PACKET_NAMES[type]} but the client sent ${PACKET_NAMES[p.type]}: ${show(p)}`,
          )
        }
        return p
      }
      if (this.isClosed)
        assert.fail(
          `connection closed while waiting for ${type === undefined ? 'a packet' : PACKET_NAMES[type]}`,
        )
      const left = deadline - Date.now()
      if (left <= 0)
        assert.fail(`no ${type === undefined ? 'packet' : PACKET_NAMES[type]} within ${timeoutMs} ms`)
      await this.wakeup.wait(left)
    }
  }

  /** Asserts no packet comes for `ms`. */
  async nothingFor(ms: number): Promise<void> {
    if (this.queue.length === 0) await new Promise((r) => setTimeout(r, ms))
    if (this.queue.length > 0) assert.fail(`expected nothing but the client sent ${show(this.queue[0]!)}`)
  }

  /** Waits for the client to close the connection. */
  async closed(timeoutMs = DEFAULT_TIMEOUT): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.isClosed) {
      const left = deadline - Date.now()
      if (left <= 0) assert.fail(`the client did not close within ${timeoutMs} ms`)
      await this.wakeup.wait(left)
    }
  }

  destroy(): void {
    this.socket.destroy()
  }
}

export interface FakeBroker {
  readonly port: number
  readonly url: string
  /** The next connection, once its CONNECT has been read. */
  accept(timeoutMs?: number): Promise<FakeSession>
  /** Accepts, reads CONNECT and answers CONNACK 0 with these properties. */
  acceptWith(
    properties?: PacketOf<typeof PacketType.CONNACK>['properties'],
    sessionPresent?: boolean,
  ): Promise<FakeSession>
  close(): Promise<void>
}

export async function startFakeBroker(): Promise<FakeBroker> {
  const sessions: FakeSession[] = []
  const waiting: ((s: FakeSession) => void)[] = []
  const all = new Set<FakeSession>()
  const server: Server = createServer({ noDelay: true }, (socket) => {
    const s = new FakeSession(socket)
    all.add(s)
    const w = waiting.shift()
    if (w !== undefined) w(s)
    else sessions.push(s)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, LOOPBACK, () => resolve())
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0
  const accept = async (timeoutMs = DEFAULT_TIMEOUT): Promise<FakeSession> => {
    const s =
      sessions.shift() ??
      (await new Promise<FakeSession>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs)
        waiting.push((s) => {
          clearTimeout(timer)
          resolve(s)
        })
      }))
    s.connect = await s.next(PacketType.CONNECT, timeoutMs)
    return s
  }
  let closing: Promise<void> | null = null
  const fb: FakeBroker = {
    port,
    url: `mqtt://${LOOPBACK}:${port}`,
    accept,
    async acceptWith(properties, sessionPresent = false) {
      const s = await accept()
      s.send({ type: PacketType.CONNACK, sessionPresent, returnCode: 0, properties })
      return s
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const s of all) s.destroy()
        server.close(() => resolve())
      })
      return closing
    },
  }
  after(() => fb.close())
  return fb
}

function show(p: Packet): string {
  return JSON.stringify(p, (_k, v: unknown) =>
    v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? '<buffer>' : v,
  )
}
