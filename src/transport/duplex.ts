import type { Duplex } from 'node:stream'
import type { ByteDuplex, DuplexEvents } from './transport.js'

/**
 * Adapts a connected Node stream (a net or tls Socket, a WebSocket stream) to
 * the ByteDuplex seam. `close` fires once, after the stream has closed.
 */
export function wrapDuplex(stream: Duplex, events: DuplexEvents): ByteDuplex {
  let error: Error | undefined
  let closed = false
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
    write: (bytes) => stream.write(bytes),
    cork: () => stream.cork(),
    uncork: () => stream.uncork(),
    pause: () => {
      stream.pause()
    },
    resume: () => {
      stream.resume()
    },
    end: () => {
      stream.end()
    },
    destroy: () => {
      stream.destroy()
    },
  }
}
