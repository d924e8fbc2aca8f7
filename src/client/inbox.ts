import type { QoS } from '../protocol/constants.js'
import type { PublishPacket, PublishProperties } from '../protocol/packets.js'
import { Fifo } from '../session/fifo.js'

/** A message from the broker. The payload is the client's to keep. */
export interface Message {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: QoS
  readonly retain: boolean
  readonly dup: boolean
  /**
   * MQTT 5: the message's properties (subscriptionIdentifiers, responseTopic,
   * correlationData, userProperties, contentType, ...); absent when it has none.
   * A topic alias is resolved into `topic`; topicAlias keeps it as the broker sent it.
   */
  readonly properties?: PublishProperties | undefined
}

/** What the inbox needs from the client. */
export interface InboxHost {
  /** True when 'message' has listeners. */
  hasListeners(): boolean
  /** Emits 'message' to the listeners. */
  emitMessage(packet: PublishPacket): void
  /** Stop (true) or resume (false) reading from the broker. */
  pressure(paused: boolean): void
}

/**
 * Hands incoming messages to the 'message' listeners and to every messages()
 * iterator. Until the first consumer is attached, messages are held (those a
 * broker sends right after CONNACK to a persistent session arrive before the
 * caller could attach anything) and the first consumer gets them, in order.
 *
 * Bounded without dropping: when the held messages or an iterator's buffer
 * reach their limit, the client stops reading the socket (TCP pushes back on
 * the broker) until they drain to half. A read already in hand is still
 * delivered, so a buffer may pass its limit by one read's worth.
 */
export class Inbox {
  private readonly held = new Fifo<PublishPacket>()
  private readonly streams = new Set<MessageStream>()
  private readonly host: InboxHost
  private readonly limit: number
  private fullStreams = 0
  private heldFull = false
  private paused = false
  private closed = false
  private drainScheduled = false

  constructor(host: InboxHost, limit: number) {
    this.host = host
    this.limit = limit
  }

  deliver(p: PublishPacket): void {
    const listening = this.host.hasListeners()
    if (!listening && this.streams.size === 0) {
      this.held.push(p)
      if (!this.heldFull && this.held.size >= this.limit) {
        this.heldFull = true
        this.updatePressure()
      }
      return
    }
    if (this.held.size > 0) this.drainHeld()
    if (listening) this.host.emitMessage(p)
    if (this.streams.size > 0) for (const s of this.streams) s.push(p)
  }

  /** A first 'message' listener is being added: it gets the held messages once it is in place. */
  listenerAdded(): void {
    if (this.held.size === 0 || this.drainScheduled) return
    this.drainScheduled = true
    queueMicrotask(() => {
      this.drainScheduled = false
      if (this.host.hasListeners() || this.streams.size > 0) this.drainHeld()
    })
  }

  /** A new messages() iterator; the first one takes the held messages. */
  stream(bufferSize = this.limit): MessageStream {
    const s = new MessageStream(this, bufferSize)
    if (this.closed) {
      s.finish()
      return s
    }
    this.streams.add(s)
    if (this.held.size > 0 && !this.host.hasListeners()) this.drainHeld()
    return s
  }

  /** The client is closed: iterators end once they have handed out what they hold. */
  close(): void {
    this.closed = true
    for (const s of this.streams) s.finish()
    this.streams.clear()
  }

  get heldCount(): number {
    return this.held.size
  }

  private drainHeld(): void {
    const listening = this.host.hasListeners()
    for (const p of this.held.drain()) {
      if (listening) this.host.emitMessage(p)
      for (const s of this.streams) s.push(p)
    }
    if (this.heldFull) {
      this.heldFull = false
      this.updatePressure()
    }
  }

  /** @internal a stream crossed its limit (full) or drained to half (not full). */
  streamFull(full: boolean): void {
    this.fullStreams += full ? 1 : -1
    this.updatePressure()
  }

  /** @internal the iterator was ended by its consumer. */
  removeStream(s: MessageStream, wasFull: boolean): void {
    if (!this.streams.delete(s)) return
    if (wasFull) this.streamFull(false)
  }

  private updatePressure(): void {
    const paused = this.heldFull || this.fullStreams > 0
    if (paused === this.paused) return
    this.paused = paused
    this.host.pressure(paused)
  }
}

type Waiter = (r: IteratorResult<Message, undefined>) => void

/** One messages() iterator: a bounded buffer in front of `for await`. */
export class MessageStream implements AsyncIterableIterator<Message, undefined> {
  private readonly buf = new Fifo<PublishPacket>()
  private waiter: Waiter | null = null
  private done = false
  private full = false
  private readonly inbox: Inbox
  private readonly limit: number

  constructor(inbox: Inbox, limit: number) {
    this.inbox = inbox
    this.limit = limit
  }

  /** Messages waiting to be read. */
  get buffered(): number {
    return this.buf.size
  }

  /** @internal */
  push(p: PublishPacket): void {
    if (this.done) return
    const w = this.waiter
    if (w !== null) {
      this.waiter = null
      w({ value: p, done: false })
      return
    }
    this.buf.push(p)
    if (!this.full && this.buffered >= this.limit) {
      this.full = true
      this.inbox.streamFull(true)
    }
  }

  /** @internal no more messages will come. */
  finish(): void {
    this.done = true
    const w = this.waiter
    if (w !== null) {
      this.waiter = null
      w({ value: undefined, done: true })
    }
  }

  next(): Promise<IteratorResult<Message, undefined>> {
    const p = this.buf.shift()
    if (p !== undefined) {
      if (this.full && this.buffered <= this.limit >>> 1) {
        this.full = false
        this.inbox.streamFull(false)
      }
      return Promise.resolve({ value: p, done: false })
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true })
    return new Promise<IteratorResult<Message, undefined>>((resolve) => {
      this.waiter = resolve
    })
  }

  /** `break` out of `for await`: this iterator stops receiving. */
  return(): Promise<IteratorResult<Message, undefined>> {
    this.inbox.removeStream(this, this.full)
    this.full = false
    this.done = true
    this.buf.drain()
    this.finish()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }
}
