/**
 * A packet that has begun must end within `timeout`, so a client that trickles a large
 * packet cannot keep its buffer for long. One lazy timer per connection, as for
 * keep-alive: each chunk only records whether a new packet began since the last one.
 */
export interface PartlyReceived {
  /** Bytes of a packet begun and not yet ended (0: none). */
  readonly buffered: number
  /** The connection is not being read (the broker holds it back): its bytes wait in the socket. */
  readonly paused: boolean
  /** The packet took too long: end the connection. */
  packetTimedOut(): void
}

export class PacketTimer {
  private readonly owner: PartlyReceived
  private readonly timeout: number
  /** Packets decoded so far, and that count when the packet now partly received was first seen. */
  private packets = 0
  private mark = -1
  /** When it was first seen (fractional from the start, so V8 keeps one field representation). */
  private since = performance.now()
  private timer: NodeJS.Timeout | null = null

  constructor(owner: PartlyReceived, timeout: number) {
    this.owner = owner
    this.timeout = timeout
  }

  /** A packet was decoded. */
  packet(): void {
    this.packets++
  }

  /** After a chunk, at `now`, with a packet still partly received. */
  partial(now: number): void {
    if (this.mark !== this.packets) {
      this.mark = this.packets
      this.since = now
    }
    if (this.timer === null) this.arm(this.timeout)
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private arm(delay: number): void {
    this.timer = setTimeout(() => {
      this.timer = null
      if (this.owner.buffered === 0) return
      const now = performance.now()
      if (this.owner.paused) this.since = now
      const left = this.timeout - (now - this.since)
      if (left > 0) this.arm(left)
      else this.owner.packetTimedOut()
    }, delay)
  }
}
