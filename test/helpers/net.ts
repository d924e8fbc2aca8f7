import { connect, createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

/** Loopback only: every test peer binds and connects here. */
export const LOOPBACK = '127.0.0.1'

/**
 * A TCP port on loopback that was free a moment ago: bind port 0, read the port,
 * close. For servers that cannot be told to listen on port 0 (Mosquitto); another
 * process may take the port in between, so callers retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, LOOPBACK, () => {
      const addr = server.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from listen(0)'))))
    })
  })
}

/** Resolves once `port` on loopback accepts a TCP connection; rejects after `timeoutMs` or if `abort` fires. */
export async function waitForPort(
  port: number,
  timeoutMs = 5000,
  abort: AbortSignal | null = null,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (abort?.aborted) throw abort.reason
    if (await canConnect(port)) return
    if (Date.now() >= deadline)
      throw new Error(`nothing accepted connections on ${LOOPBACK}:${port} within ${timeoutMs} ms`)
    await sleep(25)
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: LOOPBACK })
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}
