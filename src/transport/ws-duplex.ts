import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import { inFlight } from './duplex.js'
import type { DuplexEvents, ServedDuplex } from './transport.js'

/** How long a closing WebSocket may wait for the peer's close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 1000
/** Close code 1003: "received a type of data it cannot accept" (RFC 6455 7.4.1). */
const UNSUPPORTED_DATA = 1003
const NORMAL_CLOSURE = 1000
/** Largest message a corked batch is gathered into: whole writes, about this size (as the Outbox gathers). */
const GATHER_BYTES = 64 * 1024

/** Bytes of a server's (unmasked) frame header for a payload of `n` bytes (RFC 6455 5.2). */
function headerSize(n: number): number {
  return n < 126 ? 2 : n < 65_536 ? 4 : 10
}

/** The largest messages a served WebSocket takes: before the broker accepts the client, and after. */
export interface WsMessageLimits {
  readonly maxPayload: number
  readonly maxConnectPayload?: number | undefined
}

/**
 * Sets the largest message the `ws` receiver takes from now on (its frames' lengths are checked
 * against it as their headers arrive). `ws` has no public way to change it per connection: its
 * receiver's field is set, when it is there; otherwise the server's maxPayload stays.
 */
function setMaxPayload(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver
  if (receiver !== undefined && typeof receiver._maxPayload === 'number') receiver._maxPayload = bytes
}

/**
 * Serves MQTT over one accepted WebSocket: each write is one binary message (MQTT packets
 * may span or share frames [MQTT-6.0.0-2], so any split is fine), except that the writes
 * of one cork are gathered into messages of about 64 KiB; what is read goes on
 * message by message. A text frame closes the connection [MQTT-6.0.0-1]. Back-pressure
 * reads the socket under the WebSocket: `backlog` is its buffered amount, `drain` its own.
 * Until the broker accepts the client a message may be no larger than `maxConnectPayload`
 * (a larger one closes with 1009 as soon as its frame header says so).
 */
export function wrapWebSocket(
  ws: WebSocket,
  socket: Duplex,
  events: DuplexEvents,
  limits: WsMessageLimits,
): ServedDuplex {
  const before = limits.maxConnectPayload
  if (before !== undefined && before < limits.maxPayload) setMaxPayload(ws, before)
  let error: Error | undefined
  let closed = false
  /** Bytes handed to the socket, frame headers included (what bufferedAmount counts). */
  let written = 0
  let grace: NodeJS.Timeout | undefined
  /** Writes held while corked, sent as few messages at the last uncork (see `gathered`). */
  let corked = 0
  let held: Buffer[] = []
  let heldBytes = 0
  const send = (bytes: Buffer): void => {
    written += bytes.length + headerSize(bytes.length)
    ws.send(bytes, { binary: true })
  }
  // A message per write would cost two iovecs per packet: a batch of small packets would
  // then leave IOV_MAX (1024) iovecs, about 40 KiB, per event-loop turn (libuv writes the
  // rest on the next turn), however fast the subscriber reads.
  const sendHeld = (): void => {
    const chunks = held
    held = []
    heldBytes = 0
    if (ws.readyState !== ws.OPEN) return
    for (const piece of gathered(chunks)) send(piece)
  }
  const close = (code: number, why?: string): void => {
    ws.close(code, why)
    grace ??= setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref()
  }
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (closed) return
    if (isBinary) events.data(data)
    else {
      error ??= new Error('text frame received: MQTT over WebSocket uses binary frames only')
      close(UNSUPPORTED_DATA, 'binary frames only')
    }
  })
  socket.on('drain', () => {
    if (!closed) events.drain()
  })
  ws.on('error', (err: Error) => {
    error ??= err
  })
  ws.on('close', () => {
    if (closed) return
    closed = true
    clearTimeout(grace)
    events.close(error)
  })
  return {
    write: (bytes) => {
      if (ws.readyState !== ws.OPEN) return false
      if (corked > 0) {
        held.push(bytes)
        heldBytes += bytes.length
        // what the socket will hold once uncork sends them (it then emits 'drain' when past its mark)
        return ws.bufferedAmount + heldBytes < socket.writableHighWaterMark
      }
      send(bytes)
      return !socket.writableNeedDrain
    },
    cork: () => {
      corked++
      socket.cork()
    },
    uncork: () => {
      if (corked === 0) return
      if (--corked === 0 && held.length > 0) sendHeld()
      socket.uncork()
    },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    get paused() {
      return ws.isPaused
    },
    get backlog() {
      return ws.bufferedAmount
    },
    get taken() {
      // as for TCP: a large write the kernel takes in parts counts as it goes (see inFlight)
      return written - ws.bufferedAmount + inFlight(socket)
    },
    end: () => close(NORMAL_CLOSURE),
    destroy: () => ws.terminate(),
    reset: () => ws.terminate(),
    accepted: () => setMaxPayload(ws, limits.maxPayload),
  }
}

/** `chunks` as pieces of about GATHER_BYTES, each made of whole chunks (a larger chunk is a piece alone). */
function gathered(chunks: Buffer[]): Buffer[] {
  const pieces: Buffer[] = []
  let from = 0
  let size = 0
  for (let i = 0; i < chunks.length; i++) {
    const len = chunks[i]!.length
    if (size > 0 && size + len > GATHER_BYTES) {
      pieces.push(i - from === 1 ? chunks[from]! : Buffer.concat(chunks.slice(from, i), size))
      from = i
      size = 0
    }
    size += len
  }
  pieces.push(chunks.length - from === 1 ? chunks[from]! : Buffer.concat(chunks.slice(from), size))
  return pieces
}
