// A minimal MQTT 3.1.1 client on a raw socket for the scale benchmarks: thousands of them fit in
// one process. It builds CONNECT, SUBSCRIBE and QoS 0 PUBLISH, and reads packets by their fixed
// header and remaining length only; a packet's body is handed over only when asked for, so
// counting a million PUBLISHes allocates nothing per packet.
import { createConnection } from 'node:net'

export const CONNACK = 2
export const PUBLISH = 3
export const SUBACK = 9
const EMPTY = Buffer.alloc(0)

function varint(n) {
  const out = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 128
    out.push(b)
  } while (n > 0)
  return out
}

const packet = (first, body) => Buffer.concat([Buffer.from([first, ...varint(body.length)]), body])
const str = (s) => {
  const b = Buffer.from(s)
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b])
}

/** CONNECT, MQTT 3.1.1, clean session, keep-alive 0 (no PINGREQ needed while idle). */
export const connectPacket = (clientId) =>
  packet(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0x02, 0, 0]), str(clientId)]))

/** SUBSCRIBE of every filter at QoS 0 in one packet. */
export const subscribePacket = (packetId, filters) =>
  packet(
    0x82,
    Buffer.concat([
      Buffer.from([packetId >> 8, packetId & 255]),
      ...filters.flatMap((f) => [str(f), Buffer.from([0])]),
    ]),
  )

/** QoS 0 PUBLISH. */
export const publishPacket = (topic, payload) => packet(0x30, Buffer.concat([str(topic), payload]))

/**
 * Reads packets from a byte stream. `onPacket(first, body)` gets the first byte of the fixed
 * header and, when `wantBody(first)` said so, the body (a view into the chunk, or a copy when it
 * spans chunks; valid during the call only), else null.
 */
export class PacketScanner {
  constructor(wantBody, onPacket) {
    this.wantBody = wantBody
    this.onPacket = onPacket
    this.state = 0 // 0: first byte, 1: remaining length, 2: body
    this.first = 0
    this.len = 0
    this.mul = 1
    this.left = 0
    this.body = null
    this.filled = 0
  }

  push(buf) {
    const n = buf.length
    let i = 0
    while (i < n) {
      if (this.state === 0) {
        this.first = buf[i++]
        this.len = 0
        this.mul = 1
        this.state = 1
      } else if (this.state === 1) {
        const b = buf[i++]
        this.len += (b & 127) * this.mul
        this.mul *= 128
        if (b & 128) continue
        const want = this.wantBody(this.first)
        if (this.len === 0) {
          this.state = 0
          this.onPacket(this.first, want ? EMPTY : null)
        } else if (want && n - i >= this.len) {
          // the whole body is in this chunk: a view, no copy
          const end = i + this.len
          this.state = 0
          this.onPacket(this.first, buf.subarray(i, end))
          i = end
        } else {
          this.body = want ? Buffer.allocUnsafe(this.len) : null
          this.filled = 0
          this.left = this.len
          this.state = 2
        }
      } else {
        const take = Math.min(this.left, n - i)
        if (this.body !== null) {
          buf.copy(this.body, this.filled, i, i + take)
          this.filled += take
        }
        i += take
        this.left -= take
        if (this.left === 0) {
          this.state = 0
          const body = this.body
          this.body = null
          this.onPacket(this.first, body)
        }
      }
    }
  }
}

/**
 * Opens a connection, sends CONNECT (and SUBSCRIBE when `filters` are given) and resolves with
 * the socket once the CONNACK (and SUBACK) arrived. Later packets go to `socket.mqtt.onPacket`
 * (with bodies when `socket.mqtt.wantBody` says so), which may be replaced at any time; the
 * default counts nothing and keeps nothing.
 */
export function openClient(port, clientId, { filters = [], noDelay = false, wantBody, onPacket } = {}) {
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1', noDelay })
    s.mqtt = { wantBody, onPacket }
    let phase = 'connack'
    const scanner = new PacketScanner(
      (first) => phase !== 'open' || (s.mqtt.wantBody?.(first) ?? false),
      (first, body) => {
        const type = first >> 4
        if (phase === 'connack') {
          if (type !== CONNACK || body[1] !== 0) return fail(new Error(`${clientId}: CONNACK refused`))
          if (filters.length === 0) return ready()
          phase = 'suback'
          s.write(subscribePacket(1, filters))
        } else if (phase === 'suback') {
          if (type !== SUBACK) {
            s.mqtt.onPacket?.(first, body)
            return
          }
          for (let k = 2; k < body.length; k++)
            if (body[k] === 0x80)
              return fail(new Error(`${clientId}: SUBACK refused filter ${filters[k - 2]}`))
          ready()
        } else s.mqtt.onPacket?.(first, body)
      },
    )
    const ready = () => {
      phase = 'open'
      s.off('error', fail)
      s.on('error', () => {})
      resolve(s)
    }
    const fail = (e) => {
      s.destroy()
      reject(e)
    }
    s.on('data', (d) => scanner.push(d))
    s.once('connect', () => s.write(connectPacket(clientId)))
    s.once('error', fail)
    s.once('close', () => {
      if (phase !== 'open') fail(new Error(`${clientId}: closed before ${phase.toUpperCase()}`))
    })
  })
}

/**
 * Opens `count` clients, `concurrency` handshakes at a time; `make(i)` returns client i's promise.
 * Resolves with the sockets (in order) and the milliseconds from the first connect to the last ack.
 */
export async function openMany(count, concurrency, make) {
  const sockets = new Array(count)
  let next = 0
  const t0 = performance.now()
  let opened = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      sockets[i] = await make(i)
      opened++
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  } catch (e) {
    next = count // the other workers stop at their next turn
    for (const s of sockets) s?.destroy()
    throw new Error(`${e.message} (after ${opened} of ${count} connections)`)
  }
  return { sockets, ms: performance.now() - t0 }
}
