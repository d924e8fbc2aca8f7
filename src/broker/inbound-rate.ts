import { PacketType } from '../protocol/constants.js'
import type { Incoming, ServedDuplex } from '../transport/transport.js'
import type { ConnectionDeps } from './connection.js'
import type { LimitLog } from './limits.js'
import type { Peer, PeerHandler } from './peer.js'

/**
 * maxInboundRate (PUBLISH packets per second) and maxInboundBytesRate (bytes per second) of
 * one connection: two token buckets, each holding one second's worth. A connection over
 * either budget is not read until the bucket has refilled (its transport paused): TCP slows
 * the client down and nothing is dropped. While it is held back it is not blamed for
 * silence (keep-alive, packetTimeout), as when the broker holds a slowed publisher.
 *
 * It wraps what the Connection is given (its Incoming and its handler), so the connection
 * itself does not change: bytes are counted as they are read, PUBLISHes as they are handled,
 * and the transport the connection sees has its own pause and resume, kept apart from these.
 * Both are given back unchanged when both rates are off.
 */
export function limitInbound(
  deps: ConnectionDeps,
  incoming: Incoming,
  log: LimitLog,
): [ConnectionDeps, Incoming] {
  const { maxInboundRate, maxInboundBytesRate } = deps.options
  if (maxInboundRate === 0 && maxInboundBytesRate === 0) return [deps, incoming]
  const rate = new InboundRate(maxInboundRate, maxInboundBytesRate, log, incoming.remoteAddress)
  return [{ ...deps, handler: rate.handler(deps.handler) }, rate.incoming(incoming)]
}

class InboundRate {
  private readonly messageRate: number
  private readonly byteRate: number
  private readonly log: LimitLog
  private readonly address: string
  private messages: number
  private bytes: number
  private at = performance.now()
  private duplex: ServedDuplex | null = null
  /** Paused by the connection itself (it holds packets back). */
  private own = false
  /** Paused here until the buckets refill. */
  private timer: NodeJS.Timeout | null = null
  private reading = false
  private peer: Peer | null = null

  constructor(messageRate: number, byteRate: number, log: LimitLog, address: string | undefined) {
    this.messageRate = messageRate
    this.byteRate = byteRate
    this.messages = messageRate
    this.bytes = byteRate
    this.log = log
    this.address = address ?? 'unknown address'
  }

  handler(h: PeerHandler): PeerHandler {
    return {
      packet: (peer, packet, raw) => {
        if (packet.type === PacketType.PUBLISH && this.messageRate > 0) {
          this.peer = peer
          this.messages--
          // a held PUBLISH handled later (replayed) is charged then
          if (!this.reading) this.check()
        }
        return h.packet(peer, packet, raw)
      },
      closed: (peer, wasConnected, will, reason) => h.closed(peer, wasConnected, will, reason),
    }
  }

  incoming(inc: Incoming): Incoming {
    return {
      remoteAddress: inc.remoteAddress,
      open: (events) => {
        const d = inc.open({
          data: (chunk) => {
            this.reading = true
            try {
              events.data(chunk)
            } finally {
              this.reading = false
            }
            this.bytes -= chunk.length
            this.check()
          },
          drain: () => events.drain(),
          close: (err) => {
            if (this.timer !== null) clearTimeout(this.timer)
            this.timer = null
            events.close(err)
          },
        })
        this.duplex = d
        return this.gate(d)
      },
    }
  }

  /** Tops the buckets up to now; pauses reading, for as long as the larger debt takes to repay, when one is overdrawn. */
  private check(): void {
    const d = this.duplex
    if (this.timer !== null || d === null) return
    const now = performance.now()
    const elapsed = (now - this.at) / 1000
    this.at = now
    let wait = 0
    let limit: 'inbound-rate' | 'inbound-bytes-rate' = 'inbound-rate'
    if (this.messageRate > 0) {
      this.messages = Math.min(this.messageRate, this.messages + elapsed * this.messageRate)
      if (this.messages < 0) wait = -this.messages / this.messageRate
    }
    if (this.byteRate > 0) {
      this.bytes = Math.min(this.byteRate, this.bytes + elapsed * this.byteRate)
      const w = this.bytes < 0 ? -this.bytes / this.byteRate : 0
      if (w > wait) {
        wait = w
        limit = 'inbound-bytes-rate'
      }
    }
    if (wait === 0) return
    const who = this.peer?.id || this.address
    const option = limit === 'inbound-rate' ? 'maxInboundRate' : 'maxInboundBytesRate'
    this.log.hit(limit, who, `slowed ${who}: it sends faster than ${option} allows`, {
      clientId: this.peer?.id,
    })
    d.pause()
    this.timer = setTimeout(
      () => {
        this.timer = null
        if (!this.own) d.resume()
      },
      Math.ceil(wait * 1000),
    )
  }

  /** The transport as the connection sees it: its own pause and resume, apart from the rate's. */
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
        if (self.timer === null) d.resume()
      },
      end: () => d.end(),
      destroy: () => d.destroy(),
      reset: () => d.reset(),
      get paused() {
        return self.own || self.timer !== null
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
