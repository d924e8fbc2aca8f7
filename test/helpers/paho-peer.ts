/**
 * A client that behaves like the one the Eclipse Paho MQTT 5 interoperability tests
 * (paho.mqtt.testing, interoperability/client_test5.py) drive a broker with, so our
 * port of those tests checks what they check. It speaks MQTT 5 through mqtt-packet,
 * a codec independent of ours, so a bug shared by our encoder and decoder cannot hide.
 *
 * Its behaviour follows that client's: keep-alive 0 and no PINGREQ unless told,
 * a connect() on a new socket (closing the old one) that fails unless CONNACK 0 comes,
 * QoS 1 acknowledged on arrival, QoS 2 handed to the application at PUBREL,
 * `pause()` ignores incoming PUBLISHes (no acknowledgement), the records the Paho
 * callbacks keep (messages, subscribeds, unsubscribeds, publisheds, disconnects),
 * and a disconnect() that first waits (up to 4 s) for its QoS exchanges to finish.
 *
 *   const a = new PahoPeer('myclientid', port)
 *   await a.connect({ cleanStart: true, properties: { sessionExpiryInterval: 5 } })
 *   a.subscribe(['TopicA'], [{ qos: 2 }]); a.publish('TopicA', 'qos 1', 1)
 *   await a.waitFor(a.messages, 1, 3000)
 *
 * With `manual: true` nothing is answered automatically; `nextPacket()` reads packets.
 */
import assert from 'node:assert/strict'
import { connect as netConnect, type Socket } from 'node:net'
import { after } from 'node:test'
import {
  generate,
  type IConnackPacket,
  type IConnectPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type ISubscription,
  type Packet,
  parser,
  type UserProperties,
} from 'mqtt-packet'
import { LOOPBACK } from './net.js'

export type QoS = 0 | 1 | 2
export type PublishProperties = NonNullable<IPublishPacket['properties']>
export type ConnectProperties = NonNullable<IConnectPacket['properties']>
export type DisconnectProperties = NonNullable<IDisconnectPacket['properties']>
export type Will = NonNullable<IConnectPacket['will']>

/** A received application message, as the Paho test callbacks record it. */
export interface PahoMessage {
  topic: string
  payload: Buffer
  qos: QoS
  retained: boolean
  packetId: number
  properties: PublishProperties
}

export interface PahoConnectOptions {
  cleanStart?: boolean
  keepalive?: number
  protocolName?: string
  will?: Will
  properties?: ConnectProperties
  /** false: send CONNECT again on the current socket (the Paho `newsocket=False`). */
  newSocket?: boolean
  /** No automatic acknowledgements; read with nextPacket(). */
  manual?: boolean
}

/** How long connect() waits for CONNACK (Paho's socket timeout is 0.5 s; loaded CI machines need more). */
const CONNACK_TIMEOUT = 2000

const live = new Set<PahoPeer>()
after(() => {
  for (const c of live) c.terminate()
})

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** User properties as ordered pairs (mqtt-packet gives an object; repeated names hold arrays). */
export function userPairs(props: UserProperties | undefined): [string, string][] {
  const out: [string, string][] = []
  for (const [name, value] of Object.entries(props ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) out.push([name, v])
  }
  return out
}

export class PahoPeer {
  readonly messages: PahoMessage[] = []
  readonly subscribeds: { packetId: number; reasonCodes: number[] }[] = []
  readonly unsubscribeds: number[] = []
  readonly publisheds: number[] = []
  readonly disconnects: { reasonCode: number; properties: DisconnectProperties }[] = []
  /** Every packet received on the current socket, in order (manual mode reads them with nextPacket()). */
  private readonly inbox: Packet[] = []
  private socket: Socket | null = null
  private closed = true
  private waiter: (() => void) | null = null
  private paused = false
  private manual = false
  private msgId = 1
  /** Our QoS 1/2 PUBLISHes not yet completed, and inbound QoS 2 waiting for PUBREL (Paho's outMsgs/inMsgs). */
  readonly outMsgs = new Map<number, QoS>()
  private readonly inMsgs = new Map<number, PahoMessage>()

  constructor(
    readonly clientId: string,
    readonly port: number,
  ) {}

  /** Forgets every record (the Paho `callback.clear()`). */
  clear(): void {
    this.messages.length = 0
    this.subscribeds.length = 0
    this.unsubscribeds.length = 0
    this.publisheds.length = 0
    this.disconnects.length = 0
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** CONNECT, and the CONNACK; throws unless the CONNACK's reason code is 0 Success. */
  async connect(options: PahoConnectOptions = {}): Promise<IConnackPacket> {
    if (options.newSocket !== false || this.socket === null) await this.open()
    const cleanStart = options.cleanStart ?? true
    this.manual = options.manual ?? false
    const connect: IConnectPacket = {
      cmd: 'connect',
      protocolId: (options.protocolName ?? 'MQTT') as 'MQTT',
      protocolVersion: 5,
      clean: cleanStart,
      keepalive: options.keepalive ?? 0,
      clientId: this.clientId,
    }
    if (options.will !== undefined) connect.will = { qos: 2, retain: false, ...options.will }
    if (options.properties !== undefined) connect.properties = options.properties
    if (this.clientId === '' && !cleanStart) {
      // mqtt-packet refuses an empty client id without clean start (a 3.1.1 rule; MQTT 5 allows
      // it [MQTT-3.1.3-6]): build it with clean start and clear that flag bit in the bytes.
      const bytes = generate({ ...connect, clean: true }, { protocolVersion: 5 })
      const flags = bytes.indexOf(Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 5])) + 7
      bytes[flags] = bytes[flags]! & ~0x02
      this.writeRaw(bytes)
    } else this.write(connect)
    const connack = await this.nextPacket(CONNACK_TIMEOUT, (p) => p.cmd === 'connack')
    assert.equal(connack.cmd, 'connack')
    const code = connack.reasonCode ?? connack.returnCode ?? -1
    if (code !== 0) throw new Error(`connect failed: CONNACK reason code 0x${code.toString(16)}`)
    // A clean start, or a client that kept no state, starts a fresh exchange table.
    if (cleanStart) {
      this.outMsgs.clear()
      this.inMsgs.clear()
    }
    return connack
  }

  subscribe(
    topics: string[],
    options: Omit<ISubscription, 'topic'>[],
    properties?: { subscriptionIdentifier?: number; userProperties?: UserProperties },
  ): number {
    const messageId = this.nextMsgId()
    const subscriptions = topics.map((topic, i) => ({ topic, ...options[i]! }))
    this.write({ cmd: 'subscribe', messageId, subscriptions, ...(properties ? { properties } : {}) })
    return messageId
  }

  unsubscribe(topics: string[]): number {
    const messageId = this.nextMsgId()
    this.write({ cmd: 'unsubscribe', messageId, unsubscriptions: topics })
    return messageId
  }

  publish(
    topic: string,
    payload: Buffer | string,
    qos: QoS = 0,
    retained = false,
    properties?: PublishProperties,
  ): number {
    const messageId = qos === 0 ? 0 : this.nextMsgId()
    if (qos > 0) this.outMsgs.set(messageId, qos)
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos,
      retain: retained,
      dup: false,
      ...(qos > 0 ? { messageId } : {}),
      ...(properties ? { properties } : {}),
    }
    this.write(packet)
    return messageId
  }

  /** Sends any packet as it is (manual acknowledgements, hand-made packets). */
  write(packet: Packet): void {
    assert.ok(this.socket !== null && !this.closed, `${this.clientId}: not connected`)
    this.socket.write(generate(packet, { protocolVersion: 5 }))
  }

  /** Sends bytes as they are (for packets mqtt-packet refuses to build). */
  writeRaw(bytes: Buffer): void {
    assert.ok(this.socket !== null && !this.closed, `${this.clientId}: not connected`)
    this.socket.write(bytes)
  }

  /** Waits (up to 4 s) for QoS exchanges to finish unless paused, sends DISCONNECT, closes the socket. */
  async disconnect(properties?: DisconnectProperties): Promise<void> {
    if (this.socket === null || this.closed) return
    for (let i = 0; i < 20 && !this.paused && (this.inMsgs.size > 0 || this.outMsgs.size > 0); i++) {
      await sleep(200)
    }
    this.write({ cmd: 'disconnect', reasonCode: 0, ...(properties ? { properties } : {}) })
    const socket = this.socket
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy()
        resolve()
      }, 1000)
      socket.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      socket.end()
    })
    this.forget()
  }

  /** Drops the connection without DISCONNECT (an abnormal close: the will is due). */
  terminate(): void {
    this.socket?.destroy()
    this.closed = true
    this.forget()
  }

  /** After a disconnect the Paho client drops its exchange table (it keeps no session state). */
  private forget(): void {
    this.outMsgs.clear()
    this.inMsgs.clear()
  }

  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
  }

  /** The next packet received (in manual mode, or any packet matching `match`); fails after `timeoutMs`. */
  async nextPacket(timeoutMs = 1000, match: (p: Packet) => boolean = () => true): Promise<Packet> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const i = this.inbox.findIndex(match)
      if (i >= 0) return this.inbox.splice(i, 1)[0]!
      if (this.closed) throw new Error(`${this.clientId}: connection closed while waiting for a packet`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${this.clientId}: no packet within ${timeoutMs} ms`)
      await this.wait(left)
    }
  }

  /** Resolves once nothing arrives for `ms` (rejects with the packet if one does). */
  async nothingFor(ms: number): Promise<void> {
    await sleep(ms)
    if (this.inbox.length > 0)
      throw new Error(`${this.clientId}: unexpected ${JSON.stringify(this.inbox[0])}`)
  }

  /** Waits until `list` holds `depth` entries or `limitMs` has passed (Paho's waitfor: no failure on timeout). */
  async waitFor(list: readonly unknown[], depth: number, limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs
    while (list.length < depth && Date.now() < deadline) await sleep(50)
  }

  /** Waits until the server closes the connection; false after `limitMs`. */
  async waitClosed(limitMs: number): Promise<boolean> {
    const deadline = Date.now() + limitMs
    while (!this.closed && Date.now() < deadline) await sleep(20)
    return this.closed
  }

  /** Paho's packet ids: 2, 3, ... 65534, then 1 again, skipping those in use; none left is an error, not a spin. */
  private nextMsgId(): number {
    for (let tries = 0; tries < 65_535; tries++) {
      this.msgId = this.msgId + 1 >= 65_535 ? 1 : this.msgId + 1
      if (!this.outMsgs.has(this.msgId)) return this.msgId
    }
    throw new Error(
      `${this.clientId}: no packet identifier left (${this.outMsgs.size} QoS 1/2 PUBLISHes unacknowledged)`,
    )
  }

  private open(): Promise<void> {
    this.socket?.destroy()
    this.inbox.length = 0
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port: this.port, host: LOOPBACK, noDelay: true })
      const decoder = parser({ protocolVersion: 5 })
      decoder.on('packet', (p: Packet) => this.onPacket(p))
      decoder.on('error', () => socket.destroy())
      socket.on('data', (chunk: Buffer) => decoder.parse(chunk))
      socket.on('error', () => {})
      socket.on('close', () => {
        if (this.socket === socket) this.closed = true
        live.delete(this)
        this.waiter?.()
      })
      socket.once('connect', () => {
        this.socket = socket
        this.closed = false
        live.add(this)
        resolve()
      })
      socket.once('error', reject)
    })
  }

  private onPacket(p: Packet): void {
    if (this.manual || p.cmd === 'connack') this.inbox.push(p)
    else this.handle(p)
    this.waiter?.()
  }

  /** What the Paho test client's receiver thread does with each packet. */
  private handle(p: Packet): void {
    switch (p.cmd) {
      case 'suback':
        this.subscribeds.push({ packetId: p.messageId ?? 0, reasonCodes: p.granted as number[] })
        break
      case 'unsuback':
        this.unsubscribeds.push(p.messageId ?? 0)
        break
      case 'puback':
      case 'pubcomp':
        this.outMsgs.delete(p.messageId ?? 0)
        this.publisheds.push(p.messageId ?? 0)
        break
      case 'pubrec':
        if (this.outMsgs.has(p.messageId ?? 0)) this.write({ cmd: 'pubrel', messageId: p.messageId ?? 0 })
        break
      case 'pubrel': {
        const m = this.inMsgs.get(p.messageId ?? 0)
        if (m !== undefined) {
          this.messages.push(m)
          this.inMsgs.delete(p.messageId ?? 0)
          this.write({ cmd: 'pubcomp', messageId: p.messageId ?? 0 })
        }
        break
      }
      case 'publish': {
        if (this.paused) return
        const m: PahoMessage = {
          topic: p.topic,
          payload: Buffer.from(p.payload),
          qos: p.qos,
          retained: p.retain,
          packetId: p.messageId ?? 0,
          properties: p.properties ?? {},
        }
        if (p.qos === 0) this.messages.push(m)
        else if (p.qos === 1) {
          this.messages.push(m)
          this.write({ cmd: 'puback', messageId: m.packetId })
        } else {
          this.inMsgs.set(m.packetId, m)
          this.write({ cmd: 'pubrec', messageId: m.packetId })
        }
        break
      }
      case 'disconnect':
        this.disconnects.push({ reasonCode: p.reasonCode ?? 0, properties: p.properties ?? {} })
        break
      default:
        this.inbox.push(p)
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null
        resolve()
      }, ms)
      this.waiter = () => {
        clearTimeout(timer)
        this.waiter = null
        resolve()
      }
    })
  }
}
