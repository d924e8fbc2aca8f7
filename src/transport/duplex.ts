import type { Duplex } from 'node:stream'
import type { DuplexEvents, Incoming, ServedDuplex } from './transport.js'

/**
 * Adapts a connected Node stream (a net or tls Socket, a WebSocket stream, a test
 * pair) to the ByteDuplex seam. `close` fires once, after the stream has closed.
 */
export function wrapDuplex(stream: Duplex, events: DuplexEvents): ServedDuplex {
  let error: Error | undefined
  let closed = false
  let written = 0
  const finish = (): void => {
    if (closed) return
    closed = true
    events.close(error)
  }
  stream.on('data', (chunk: Buffer) => events.data(chunk))
  stream.on('drain', () => events.drain())
  stream.on('error', (err: Error) => {
    error ??= err
  })
  // 'end' without 'close' happens when the peer half-closes: MQTT has no use for that.
  stream.on('end', () => stream.destroy())
  stream.on('close', finish)
  return {
    write: (bytes) => {
      if (stream.destroyed) return false
      written += bytes.length
      return stream.write(bytes)
    },
    cork: () => stream.cork(),
    uncork: () => stream.uncork(),
    pause: () => {
      stream.pause()
    },
    resume: () => {
      stream.resume()
    },
    get paused() {
      return stream.isPaused()
    },
    get backlog() {
      return stream.writableLength
    },
    get taken() {
      return written - stream.writableLength + inFlight(stream)
    },
    end: () => {
      stream.end()
    },
    destroy: () => {
      stream.destroy()
    },
    reset: () => {
      try {
        ;(stream as Duplex & { resetAndDestroy(): void }).resetAndDestroy()
      } catch {
        // not a TCP handle (TLS, a pipe, a test pair): there is no reset to send
        stream.destroy()
      }
    },
  }
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
