// Shared by the benchmark scripts: whether something listens on a loopback port, and a sleep.
import { createConnection } from 'node:net'

/** True when a TCP connection to 127.0.0.1:port is accepted. */
export function canConnect(port) {
  return new Promise((res) => {
    const s = createConnection({ port, host: '127.0.0.1' })
    s.once('connect', () => {
      s.destroy()
      res(true)
    })
    s.once('error', () => res(false))
  })
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
