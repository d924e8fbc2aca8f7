import type { Socket } from 'node:net'

/**
 * Waits for a client socket (TCP or TLS) to be ready: resolves with what `ready` makes of it
 * once `event` fires ('connect', or 'secureConnect' after the TLS handshake); rejects with
 * the socket's error (as `explain` words it) or with `signal`'s reason, destroying the socket.
 * `start` makes the socket, unless the signal has already aborted.
 */
export function whenOpen<T>(
  start: () => Socket,
  event: 'connect' | 'secureConnect',
  signal: AbortSignal,
  ready: (socket: Socket) => T,
  explain: (err: Error) => Error = (err) => err,
): Promise<T> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    const socket = start()
    const onAbort = (): void => {
      socket.destroy()
      reject(signal.reason)
    }
    const onError = (err: Error): void => {
      signal.removeEventListener('abort', onAbort)
      socket.destroy()
      reject(explain(err))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    socket.once('error', onError)
    socket.once(event, () => {
      signal.removeEventListener('abort', onAbort)
      socket.off('error', onError)
      resolve(ready(socket))
    })
  })
}
