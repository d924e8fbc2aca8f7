import { PacketType } from '../protocol/constants.js'
import type { Incoming, ServedDuplex } from '../transport/transport.js'
import type { ConnectionDeps } from './connection.js'
import type { LimitLog } from './limits.js'
import type { Peer, PeerHandler } from './peer.js'
import { topUp } from './token-bucket.js'

/**
 * maxInboundRate (PUBLISH packets per second) and maxInboundBytesRate (bytes per second) of
 * one connection: two token buckets, each holding one second's worth. A connection over
 * either budget is slowed, never dropped: past the message rate its PUBLISHes wait (held in
 * order, as for a publisher a slow subscriber slows); past the byte rate it is not read until
 * the bucket has refilled. Either way TCP slows the client down, and while it is not read it
 * is not blamed for silence (keep-alive, packetTimeout).
 *
 * It wraps what the Connection is given (its Incoming and its handler), so the connection
 * itself does not change: bytes are counted as they are read, PUBLISHes as they are handled,
 * and the transport the connection sees has its own pause and resume, kept apart from the
 * byte rate's. Each is given back unchanged when its rate is off.
 */
export function limitInbound(
  deps: ConnectionDeps,
  incoming: Incoming,
  log: LimitLog,
): [ConnectionDeps, Incoming] {
  const { maxInboundRate, maxInboundBytesRate } = deps.options
  if (maxInboundRate === 0 && maxInboundBytesRate === 0) return [deps, incoming]
  const rate = new InboundRate(maxInboundRate, maxInboundBytesRate, log, incoming.remoteAddress)
  return [
    maxInboundRate > 0 ? { ...deps, handler: rate.handler(deps.handler) } : deps,
    maxInboundBytesRate > 0 ? rate.incoming(incoming) : incoming,
  ]
}

class InboundRate {
  private readonly messageRate: number
  private readonly byteRate: number
  private readonly log: LimitLog
  private readonly address: string
  /** The buckets, in messages and bytes; below 0: overdrawn. */
  private messages: number
  private bytes: number
  private messagesAt = performance.now()
  private bytesAt = this.messagesAt
  /** Reading paused by the connection itself (it holds packets back), and here (bytes). */
  private own = false
  private byteTimer: NodeJS.Timeout | null = null
  /** The publisher slowed here (messages) until this fires. */
  private messageTimer: NodeJS.Timeout | null = null

  constructor(messageRate: number, byteRate: number, log: LimitLog, address: string | undefined) {
    this.messageRate = messageRate
    this.byteRate = byteRate
    this.messages = messageRate
    this.bytes = byteRate
    this.log = log
    this.address = address ?? 'unknown address'
  }

  /**
   * Counts the PUBLISHes handled. Past the budget the publisher is slowed as a backed-up
   * subscriber slows it (Peer.pauseReading): its later packets are held, in order, its
   * transport paused past a byte budget, until the bucket holds a tenth of a second's worth.
   */
  handler(h: PeerHandler): PeerHandler {
    return {
      packet: (peer, packet, raw) => {
        if (packet.type === PacketType.PUBLISH) this.message(peer)
        return h.packet(peer, packet, raw)
      },
      closed: (peer, wasConnected, will, reason) => {
        this.stop()
        h.closed(peer, wasConnected, will, reason)
      },
    }
  }

  private message(peer: Peer): void {
    const rate = this.messageRate
    const now = performance.now()
    this.messages = topUp(this.messages, this.messagesAt, now, rate) - 1
    this.messagesAt = now
    if (this.messages >= 0 || this.messageTimer !== null) return
    this.hit('inbound-rate', peer.id)
    peer.pauseReading()
    const wait = (Math.max(1, rate / 10) - this.messages) / rate
    this.messageTimer = setTimeout(
      () => {
        this.messageTimer = null
        peer.resumeReading()
      },
      Math.ceil(wait * 1000),
    )
  }

  /** Counts the bytes read; past the budget the transport is paused until the bucket is full again. */
  incoming(inc: Incoming): Incoming {
    return {
      remoteAddress: inc.remoteAddress,
      open: (events) => {
        const d = inc.open({
          data: (chunk) => {
            events.data(chunk)
            this.read(d, chunk.length)
          },
          drain: () => events.drain(),
          close: (err) => {
            this.stop()
            events.close(err)
          },
        })
        return this.gate(d)
      },
    }
  }

  private read(d: ServedDuplex, n: number): void {
    const rate = this.byteRate
    const now = performance.now()
    this.bytes = topUp(this.bytes, this.bytesAt, now, rate) - n
    this.bytesAt = now
    if (this.bytes >= 0 || this.byteTimer !== null) return
    this.hit('inbound-bytes-rate', '')
    d.pause()
    this.byteTimer = setTimeout(
      () => {
        this.byteTimer = null
        if (!this.own) d.resume()
      },
      Math.ceil((-this.bytes / rate) * 1000),
    )
  }

  private hit(limit: 'inbound-rate' | 'inbound-bytes-rate', id: string): void {
    const who = id || this.address
    const option = limit === 'inbound-rate' ? 'maxInboundRate' : 'maxInboundBytesRate'
    this.log.hit(limit, who, `slowed ${who}: it sends faster than ${option} allows`)
  }

  private stop(): void {
    if (this.byteTimer !== null) clearTimeout(this.byteTimer)
    if (this.messageTimer !== null) clearTimeout(this.messageTimer)
    this.byteTimer = this.messageTimer = null
  }

  /** The transport as the connection sees it: its own pause and resume, apart from the byte rate's. */
  private gate(d: ServedDuplex): ServedDuplex {
    const self = this
    return {
      write: (bytes) => d.write(bytes),
      cork: () => d.cork(),
      uncork: () => d.uncork(),
      pause: () => {
        self.own = true
        d.pause()
      },
      resume: () => {
        self.own = false
        if (self.byteTimer === null) d.resume()
      },
      end: () => d.end(),
      destroy: () => d.destroy(),
      reset: () => d.reset(),
      get paused() {
        return self.own || self.byteTimer !== null
      },
      get backlog() {
        return d.backlog
      },
      get taken() {
        return d.taken
      },
    }
  }
}
