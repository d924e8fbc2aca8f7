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
  const s = stream as Duplex & InFlightWrite
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
      let taken = written - stream.writableLength
      // A write that the kernel takes in parts leaves writableLength only once it is whole;
      // libuv's queue tells how much of it is still waiting (a net.Socket's internals: a
      // stream without them is measured by whole writes).
      const state = s._writableState
      const queued = s._handle?.writeQueueSize
      if (state?.writing === true && typeof queued === 'number') taken += state.writelen - queued
      return taken
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

/** What a net.Socket shows of the write in progress (see `taken`). */
interface InFlightWrite {
  _writableState?: { writing: boolean; writelen: number }
  _handle?: { writeQueueSize?: number } | null
}
