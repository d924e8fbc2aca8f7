import type { Duplex } from 'node:stream'
import type { DuplexEvents, Incoming, ServedDuplex } from './transport.js'

/**
 * Adapts a connected Node stream (a net or tls Socket, a WebSocket stream, a test
 * pair) to the ByteDuplex seam. `close` fires once, after the stream has closed.
 */
export function wrapDuplex(stream: Duplex, events: DuplexEvents): ServedDuplex {
  return new StreamDuplex(stream, events)
}

/** Where the StreamDuplex of a stream is kept, for the listeners shared by every stream. */
const OWNER = Symbol('petrel.duplex')
type Owned = Duplex & { [OWNER]: StreamDuplex }

/**
 * One per connection, so it holds no closures: its methods are the prototype's, and the
 * stream's listeners are module functions that find it on the stream (an emitter calls a
 * listener with itself as `this`). Ten thousand idle connections are ten thousand of these.
 */
class StreamDuplex implements ServedDuplex {
  private readonly stream: Duplex
  readonly events: DuplexEvents
  error: Error | undefined = undefined
  private closed = false
  private written = 0

  constructor(stream: Duplex, events: DuplexEvents) {
    this.stream = stream
    this.events = events
    ;(stream as Owned)[OWNER] = this
    stream.on('data', onData)
    stream.on('drain', onDrain)
    stream.on('error', onError)
    // 'end' without 'close' happens when the peer half-closes: MQTT has no use for that.
    stream.on('end', onEnd)
    stream.on('close', onClose)
  }

  finish(): void {
    if (this.closed) return
    this.closed = true
    this.events.close(this.error)
  }

  write(bytes: Buffer): boolean {
    const stream = this.stream
    if (stream.destroyed) return false
    this.written += bytes.length
    return stream.write(bytes)
  }
  cork(): void {
    this.stream.cork()
  }
  uncork(): void {
    this.stream.uncork()
  }
  pause(): void {
    this.stream.pause()
  }
  resume(): void {
    this.stream.resume()
  }
  get paused(): boolean {
    return this.stream.isPaused()
  }
  get backlog(): number {
    return this.stream.writableLength
  }
  get taken(): number {
    return this.written - this.stream.writableLength + inFlight(this.stream)
  }
  end(): void {
    this.stream.end()
  }
  destroy(): void {
    this.stream.destroy()
  }
  reset(): void {
    const stream = this.stream
    try {
      ;(stream as Duplex & { resetAndDestroy(): void }).resetAndDestroy()
    } catch {
      // not a TCP handle (TLS, a pipe, a test pair): there is no reset to send
      stream.destroy()
    }
  }
}

function onData(this: Owned, chunk: Buffer): void {
  this[OWNER].events.data(chunk)
}
function onDrain(this: Owned): void {
  this[OWNER].events.drain()
}
function onError(this: Owned, err: Error): void {
  const d = this[OWNER]
  d.error ??= err
}
function onEnd(this: Owned): void {
  this.destroy()
}
function onClose(this: Owned): void {
  this[OWNER].finish()
}

/** A stream accepted by a server (or handed to Broker.handle), not yet attached. */
export function incomingStream(stream: Duplex, remoteAddress: string | undefined): Incoming {
  return { remoteAddress, open: (events) => wrapDuplex(stream, events) }
}

/**
 * Bytes of the write in progress that the kernel has already taken: a write the kernel takes
 * in parts leaves the stream's writableLength only once it is whole, and libuv's queue tells
 * how much of it is still waiting (a net.Socket's internals, TLS included; a stream without
 * them counts 0, so it is measured by whole writes).
 */
export function inFlight(stream: Duplex): number {
  const s = stream as Duplex & InFlightWrite
  const state = s._writableState
  const queued = s._handle?.writeQueueSize
  return state?.writing === true && typeof queued === 'number' ? state.writelen - queued : 0
}

/** What a net.Socket shows of the write in progress (see `inFlight`). */
interface InFlightWrite {
  _writableState?: { writing: boolean; writelen: number }
  _handle?: { writeQueueSize?: number } | null
}
