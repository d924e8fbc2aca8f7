/**
 * MQTT.js as a reference client peer, with bounded waits.
 *
 *   const sub = await connectMqttJs(port, { clientId: 'sub' })
 *   await sub.client.subscribeAsync('a/#', { qos: 1 })
 *   const [m] = await sub.inbox.take(1)
 *   await sub.end()
 *
 * The inbox is attached before CONNECT is sent, so messages a broker sends
 * right after CONNACK (a resumed session) are not missed.
 */
import { randomBytes } from 'node:crypto'
import {
  connect,
  type IClientOptions,
  type IConnackPacket,
  type IPublishPacket,
  type MqttClient,
  type Packet,
} from 'mqtt'
import { LOOPBACK } from './net.js'

export type QoS = 0 | 1 | 2

export interface Received {
  topic: string
  payload: Buffer
  qos: QoS
  retain: boolean
  dup: boolean
  /** Packet id (QoS 1/2 only). */
  messageId: number | undefined
  /** MQTT 5 properties as MQTT.js decoded them (undefined at 3.1.1). */
  properties: IPublishPacket['properties']
}

function received(p: IPublishPacket): Received {
  const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : Buffer.from(p.payload)
  return {
    topic: p.topic,
    payload,
    qos: p.qos,
    retain: p.retain,
    dup: p.dup,
    messageId: p.messageId,
    properties: p.properties,
  }
}

/** Messages a client received, in the order MQTT.js handed them to the application. */
export class Inbox {
  /** Application messages not yet taken. */
  private readonly queue: Received[] = []
  /**
   * Every PUBLISH packet in wire order, including re-sends. MQTT.js emits a QoS 2
   * message only when PUBREL arrives, so across QoS levels the 'message' order can
   * differ from the order the broker sent; order checks across QoS use this.
   */
  readonly wire: Received[] = []
  /** The pending take()'s wake-up; one take() at a time per inbox. */
  private wake: (() => void) | null = null

  constructor(client: MqttClient) {
    client.on('message', (_topic, _payload, packet) => {
      this.queue.push(received(packet))
      this.wake?.()
    })
    client.on('packetreceive', (packet: Packet) => {
      if (packet.cmd === 'publish') this.wire.push(received(packet))
    })
  }

  /** Messages received and not yet taken. */
  get size(): number {
    return this.queue.length
  }

  /** Removes and returns the next `n` messages; rejects after `timeoutMs` saying what did arrive. */
  async take(n = 1, timeoutMs = 3000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs
    while (this.queue.length < n) {
      const left = deadline - Date.now()
      if (left <= 0 || !(await this.arrival(left))) {
        throw new Error(
          `expected ${n} message(s) within ${timeoutMs} ms, got ${this.queue.length}: ${describeMessages(this.queue)}`,
        )
      }
    }
    return this.queue.splice(0, n)
  }

  /** Removes and returns the next message. */
  async next(timeoutMs = 3000): Promise<Received> {
    const [m] = await this.take(1, timeoutMs)
    return m!
  }

  /** Removes and returns whatever has arrived. */
  drain(): Received[] {
    return this.queue.splice(0)
  }

  private arrival(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null
        resolve(false)
      }, ms)
      this.wake = () => {
        clearTimeout(timer)
        this.wake = null
        resolve(true)
      }
    })
  }
}

export function describeMessages(messages: readonly Received[]): string {
  return JSON.stringify(
    messages.map((m) => ({ topic: m.topic, payload: m.payload.toString(), qos: m.qos, retain: m.retain })),
  )
}

export interface MqttJsPeer {
  readonly client: MqttClient
  /** The CONNACK the broker answered with (sessionPresent, returnCode). */
  readonly connack: IConnackPacket
  readonly inbox: Inbox
  /** Clean close: DISCONNECT, then the socket closes (the will is discarded). Bounded to 3 s. */
  end(): Promise<void>
  /** Abnormal close: the socket is destroyed without DISCONNECT (the will is published). */
  drop(): Promise<void>
}

/**
 * Connects MQTT.js to a broker on loopback, MQTT 3.1.1 unless `protocolVersion: 5` is given,
 * no automatic reconnect.
 * Rejects after 5 s, or when the broker refuses (the error carries the return code).
 */
export async function connectMqttJs(port: number, options: IClientOptions = {}): Promise<MqttJsPeer> {
  const client = connect({
    host: LOOPBACK,
    port,
    protocol: 'mqtt',
    protocolVersion: 4,
    clientId: `mqttjs-${randomBytes(6).toString('hex')}`,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    keepalive: 30,
    ...options,
  })
  // Errors after the outcome is known (a refused CONNACK's follow-up, the broker closing a
  // taken-over session) must not crash the test run; the CONNACK wait below reports its own.
  client.on('error', () => {})
  const inbox = new Inbox(client)
  const connack = await new Promise<IConnackPacket>((resolve, reject) => {
    const settle = (err: Error | null, packet?: IConnackPacket): void => {
      clearTimeout(timer)
      client.removeListener('connect', ok)
      client.removeListener('error', fail)
      client.removeListener('close', closed)
      if (err === null) resolve(packet!)
      else {
        client.end(true)
        reject(err)
      }
    }
    const ok = (packet: IConnackPacket): void => settle(null, packet)
    const fail = (err: Error): void => settle(err)
    const closed = (): void => settle(new Error('connection closed before CONNACK'))
    const timer = setTimeout(() => settle(new Error('no CONNACK within 5000 ms')), 5000)
    client.once('connect', ok)
    client.once('error', fail)
    client.once('close', closed)
  })
  return {
    client,
    connack,
    inbox,
    end: () => bounded(client.endAsync(), 3000, 'MQTT.js end()'),
    drop: () => {
      const closed = new Promise<void>((resolve) => {
        if (client.stream.destroyed) resolve()
        else client.stream.once('close', () => resolve())
      })
      client.stream.destroy()
      return bounded(closed, 3000, 'socket close').finally(() => {
        client.end(true)
      })
    },
  }
}

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
