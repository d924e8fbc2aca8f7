/**
 * A tiny MQTT test client over node:net that speaks through our codec, so tests
 * can assert exactly what a server puts on the wire.
 *
 *   const tb = await startBroker()                // port 0 on 127.0.0.1, $SYS off; closed after the file
 *   const c = await tb.connect({ clientId: 'a' }) // CONNECT + CONNACK 0 (tb.open(): no CONNECT)
 *   c.send({ type: PacketType.PINGREQ })          // any packet ...
 *   c.sendRaw('c0 00')                            // ... or raw bytes (hex or Buffer)
 *   const r = await c.next(PacketType.PINGRESP)   // next decoded packet, asserted to be of that type
 *   c.raw(r)                                      // its exact bytes
 *   await c.nothingFor(100)                       // no packet arrives for 100 ms
 *   await c.closed()                              // the server closed the socket
 *
 * Also: `c.connect(opts)`, `c.subscribe(filter, qos)`, `c.publish(topic, payload, opts)`,
 * `c.until(predicate)`, `c.disconnect()`, `c.destroy()`; `RawClient.wrap(stream)` for a
 * non-socket duplex.
 *
 * MQTT 5: `tb.connect({ protocolVersion: 5, properties: {...} })`. Sending a CONNECT
 * of level 5 switches the client to MQTT 5 (its encoder, and its decoder before the
 * CONNACK arrives); `c.protocolVersion = 5` switches it by hand (e.g. after a raw
 * CONNECT). `c.subscribe()`, `c.publish()` and `c.disconnect()` take v5 properties. Every wait has a timeout (default 1000 ms) and fails the test with
 * what arrived instead. Clients and brokers are destroyed in an `after` hook.
 */
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import type { Duplex } from 'node:stream'
import { after, type TestContext } from 'node:test'
import { Broker } from '../../src/broker/broker.js'
import type { BrokerOptions } from '../../src/broker/options.js'
import {
  type ConnackPacket,
  type ConnectPacket,
  Decoder,
  type DisconnectProperties,
  encode,
  PACKET_NAMES,
  type Packet,
  PacketType,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type SubackPacket,
  type SubscribeProperties,
  type Subscription,
} from '../../src/protocol/index.js'
import { Wakeup } from './wakeup.js'

export const DEFAULT_TIMEOUT = 1000

/** The packet of a given type. */
export type PacketOf<T extends PacketType> = Extract<Packet, { type: T }>

/** CONNECT fields; anything left out gets a default (3.1.1, clean session, keep-alive off, a fresh id). */
export type ConnectOptions = Partial<Omit<ConnectPacket, 'type'>>

let idCounter = 0
/** A client id unique within this process. */
export function uniqueId(prefix = 'c'): string {
  return `${prefix}-${process.pid}-${++idCounter}`
}

/** A CONNECT: 'MQTT' level 4, clean session, keep-alive 0 and a unique id unless told otherwise. */
export function connectPacket(options: ConnectOptions = {}): ConnectPacket {
  const level = options.protocolVersion ?? 4
  return {
    type: PacketType.CONNECT,
    protocolName: level === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: level,
    clean: true,
    keepalive: 0,
    clientId: uniqueId(),
    ...options,
  }
}

/** Bytes from hex, whitespace ignored: `hex('c0 00')`. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex')
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A packet as one readable line, for failure messages. */
export function show(p: Packet): string {
  const name = PACKET_NAMES[p.type] ?? String(p.type)
  if (p.type === PacketType.PUBLISH) {
    return `${name}(topic=${p.topic}, qos=${p.qos}, dup=${p.dup}, retain=${p.retain}, id=${p.packetId}, payload=${p.payload.toString()})`
  }
  return `${name}${JSON.stringify({ ...p, type: undefined })}`
}

const live = new Set<RawClient>()
after(() => {
  for (const c of live) c.destroy()
})

export class RawClient {
  /** The TCP socket, or the stream given to `wrap()`. */
  readonly socket: Duplex
  /** The CONNACK received by `connect()`, if it was used. */
  connack: ConnackPacket | null = null
  private readonly queue: Packet[] = []
  private readonly raws = new WeakMap<Packet, Buffer>()
  private readonly wakeup = new Wakeup()
  private isClosed = false
  private error: unknown = null
  private nextId = 1
  private readonly decoder: Decoder
  private version: ProtocolVersion = 4

  private constructor(socket: Duplex) {
    this.socket = socket
    const decoder: Decoder = new Decoder((p) => {
      this.raws.set(p, Buffer.from(decoder.rawBytes()))
      this.queue.push(p)
      this.wakeup.wake()
    })
    this.decoder = decoder
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(Buffer.from(chunk))
      } catch (err) {
        this.error = err
        socket.destroy()
      }
    })
    socket.on('error', () => {}) // a reset by the server shows up as 'close'
    socket.on('close', () => {
      this.isClosed = true
      live.delete(this)
      this.wakeup.wake()
    })
    live.add(this)
  }

  /** A client over any byte stream (e.g. one end of an in-memory pair). */
  static wrap(stream: Duplex): RawClient {
    return new RawClient(stream)
  }

  /** Opens a TCP connection; sends nothing. */
  static open(port: number, host = '127.0.0.1', timeoutMs = DEFAULT_TIMEOUT): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host, noDelay: true })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error(`could not connect to ${host}:${port} in ${timeoutMs} ms`))
      }, timeoutMs)
      socket.once('connect', () => {
        clearTimeout(timer)
        resolve(new RawClient(socket))
      })
      socket.once('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
    })
  }

  /** True once the socket has closed. */
  get ended(): boolean {
    return this.isClosed
  }

  /** Packets received and not yet taken by `next()`. */
  get received(): readonly Packet[] {
    return this.queue
  }

  /**
   * The version this client encodes and decodes: 4 (3.1.1, also fine for 3.1) until
   * it sends a CONNECT of level 5. Setting it switches the decoder for the next packet.
   */
  get protocolVersion(): ProtocolVersion {
    return this.version
  }
  set protocolVersion(v: ProtocolVersion) {
    this.version = v
    this.decoder.protocolVersion = v
  }

  /** Encodes and sends a packet, in this client's version (a CONNECT names its own). */
  send(packet: Packet): void {
    // the server answers a level-5 CONNECT in MQTT 5: switch before the CONNACK arrives
    if (packet.type === PacketType.CONNECT) this.protocolVersion = packet.protocolVersion === 5 ? 5 : 4
    this.socket.write(encode(packet, this.version))
  }

  /** Sends bytes as they are: a Buffer, or hex such as `'c0 00'`. */
  sendRaw(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? hex(bytes) : bytes)
  }

  /** The exact wire bytes of a packet returned by `next()`. */
  raw(packet: Packet): Buffer {
    const b = this.raws.get(packet)
    assert.ok(b, 'raw(): not a packet received by this client')
    return b
  }

  /**
   * The next packet received. With `type`, asserts that it is of that type.
   * Fails if none arrives within `timeoutMs` or the socket closes first.
   */
  async next(type?: undefined, timeoutMs?: number): Promise<Packet>
  async next<T extends PacketType>(type: T, timeoutMs?: number): Promise<PacketOf<T>>
  async next(type?: PacketType, timeoutMs = DEFAULT_TIMEOUT): Promise<Packet> {
    const p = await this.take(() => true, timeoutMs, type === undefined ? 'any packet' : PACKET_NAMES[type]!)
    if (type !== undefined && p.type !== type) {
      assert.fail(`expected ${PACKET_NAMES[type]} but received ${show(p)}`)
    }
    return p
  }

  /** Skips packets until one satisfies `match` (the skipped ones are dropped). */
  async until<P extends Packet>(match: (p: Packet) => p is P, timeoutMs?: number, what?: string): Promise<P>
  async until(match: (p: Packet) => boolean, timeoutMs?: number, what?: string): Promise<Packet>
  async until(match: (p: Packet) => boolean, timeoutMs = DEFAULT_TIMEOUT, what = 'a matching packet') {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const p = await this.take(() => true, Math.max(1, deadline - Date.now()), what)
      if (match(p)) return p
    }
  }

  /** Asserts that no packet arrives for `ms` (and that none is already waiting). */
  async nothingFor(ms: number): Promise<void> {
    if (this.queue.length === 0) await delay(ms)
    if (this.queue.length > 0) assert.fail(`expected no packet but received ${show(this.queue[0]!)}`)
  }

  /**
   * Asserts that the server closes the connection within `timeoutMs`. Packets
   * still unread are left in `received`; pass `allowPackets: false` to fail if any came.
   */
  async closed(timeoutMs = DEFAULT_TIMEOUT, allowPackets = true): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.isClosed) {
      const left = deadline - Date.now()
      if (left <= 0) assert.fail(`the server did not close the connection within ${timeoutMs} ms`)
      await this.wakeup.wait(left)
    }
    if (!allowPackets && this.queue.length > 0) {
      assert.fail(`expected a close without packets but received ${show(this.queue[0]!)}`)
    }
  }

  /**
   * Sends CONNECT (defaults: 'MQTT' level 4, clean session, keep-alive 0, a unique id)
   * and returns the CONNACK.
   */
  async connect(options: ConnectOptions = {}, timeoutMs = DEFAULT_TIMEOUT): Promise<ConnackPacket> {
    this.send(connectPacket(options))
    this.connack = await this.next(PacketType.CONNACK, timeoutMs)
    return this.connack
  }

  /** A packet id for this client's SUBSCRIBE, UNSUBSCRIBE and PUBLISH: 1, 2, ... */
  packetId(): number {
    const id = this.nextId
    this.nextId = id === 65_535 ? 1 : id + 1
    return id
  }

  /**
   * Sends SUBSCRIBE (`filter` at `qos`, or a list; with MQTT 5 properties if given)
   * and returns the SUBACK.
   */
  async subscribe(
    filter: string | Subscription[],
    qos: QoS = 0,
    timeoutMs?: number,
    properties?: SubscribeProperties,
  ): Promise<SubackPacket> {
    const subscriptions = typeof filter === 'string' ? [{ topic: filter, qos }] : filter
    const packetId = this.packetId()
    this.send({
      type: PacketType.SUBSCRIBE,
      packetId,
      subscriptions,
      ...(properties === undefined ? {} : { properties }),
    })
    const suback = await this.next(PacketType.SUBACK, timeoutMs)
    assert.equal(suback.packetId, packetId, 'SUBACK carries the SUBSCRIBE packet id [MQTT-3.8.4-2]')
    return suback
  }

  /**
   * Sends a PUBLISH (QoS 0, no retain, no DUP unless told; a fresh packet id for
   * QoS 1/2) and returns its packet id. Acknowledgements are left to the test.
   */
  publish(topic: string, payload: Buffer | string, options: Partial<PublishPacket> = {}): number {
    const qos = options.qos ?? 0
    const packet: PublishPacket = {
      type: PacketType.PUBLISH,
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos,
      retain: false,
      dup: false,
      packetId: qos > 0 ? this.packetId() : 0,
      ...options,
    }
    this.send(packet)
    return packet.packetId
  }

  /**
   * Sends DISCONNECT (MQTT 5: with this reason code and properties, if given) and
   * ends the socket; waits for the close.
   */
  async disconnect(
    timeoutMs = DEFAULT_TIMEOUT,
    reasonCode?: number,
    properties?: DisconnectProperties,
  ): Promise<void> {
    if (this.isClosed) return
    this.send({
      type: PacketType.DISCONNECT,
      ...(reasonCode === undefined ? {} : { reasonCode }),
      ...(properties === undefined ? {} : { properties }),
    })
    this.socket.end()
    await this.closed(timeoutMs)
  }

  /** Drops the connection without DISCONNECT (an abnormal close for the server). */
  destroy(): void {
    this.socket.destroy()
  }

  private async take(match: (p: Packet) => boolean, timeoutMs: number, what: string): Promise<Packet> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.queue.findIndex(match)
      if (i >= 0) return this.queue.splice(i, 1)[0]!
      if (this.error !== null) throw this.error
      if (this.isClosed) assert.fail(`connection closed while waiting for ${what}`)
      const left = deadline - Date.now()
      if (left <= 0) assert.fail(`no ${what} within ${timeoutMs} ms`)
      await this.wakeup.wait(left)
    }
  }
}

export interface TestBroker {
  broker: Broker
  port: number
  host: string
  /** A raw TCP connection to the broker; no CONNECT sent. */
  open(): Promise<RawClient>
  /** A connection that has sent CONNECT and received CONNACK with return code 0. */
  connect(options?: ConnectOptions): Promise<RawClient>
}

/**
 * Starts a broker on 127.0.0.1, port 0 ($SYS off unless `sysInterval` is given).
 * It is closed, and every RawClient destroyed, after the test `t` when given,
 * else after the test file.
 */
export async function startBroker(options: BrokerOptions = {}, t?: TestContext): Promise<TestBroker> {
  const broker = new Broker({ sysInterval: 0, ...options })
  const { port, host } = await broker.listen({ port: 0, host: '127.0.0.1' })
  const mine = new Set<RawClient>()
  const cleanup = async (): Promise<void> => {
    for (const c of mine) c.destroy()
    await broker.close()
  }
  if (t !== undefined) t.after(cleanup)
  else after(cleanup)
  const open = async (): Promise<RawClient> => {
    const c = await RawClient.open(port, host)
    mine.add(c)
    return c
  }
  return {
    broker,
    port,
    host,
    open,
    async connect(connectOptions: ConnectOptions = {}): Promise<RawClient> {
      const c = await open()
      const ack = await c.connect(connectOptions)
      assert.equal(ack.returnCode, 0, `CONNACK return code for ${connectOptions.clientId ?? 'a new client'}`)
      return c
    },
  }
}
