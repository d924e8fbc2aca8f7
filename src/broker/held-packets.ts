import { PacketType } from '../protocol/constants.js'
import type { Packet } from '../protocol/packets.js'

/**
 * Packets a connection keeps for later, in arrival order, while a hook settles or while
 * its publisher is slowed (see Connection.hold). A QoS 0 PUBLISH keeps its wire bytes
 * too (a view of the read buffer its payload already points into), so it is forwarded
 * unchanged when its turn comes, like one handled at once. `bytes` tells about how much
 * memory they keep.
 */
export class HeldPackets {
  bytes = 0
  /** The wire bytes of the packet last taken by shift(), when it can be forwarded as is. */
  raw: Buffer | null = null
  private packets: Packet[] = []
  private raws: (Buffer | null)[] = []
  private at = 0

  get size(): number {
    return this.packets.length - this.at
  }

  push(packet: Packet, raw: Buffer | null): void {
    this.packets.push(packet)
    this.raws.push(raw)
    this.bytes += heldSize(packet)
  }

  /** The next packet (and its bytes in `raw`), or undefined. */
  shift(): Packet | undefined {
    if (this.at === this.packets.length) return undefined
    const packet = this.packets[this.at]!
    this.raw = this.raws[this.at]!
    this.packets[this.at] = undefined as unknown as Packet
    this.raws[this.at++] = null
    this.bytes -= heldSize(packet)
    return packet
  }

  /** Forgets the rest (the connection closed). */
  clear(): void {
    this.at = this.packets.length
    this.compact()
  }

  /** After a run of shift(): lets go of what was handed out. */
  compact(): void {
    this.raw = null
    if (this.at === this.packets.length) {
      this.packets = []
      this.raws = []
      this.at = 0
      this.bytes = 0
    } else if (this.at > 1024 && this.at * 2 > this.packets.length) {
      // keep the arrays from growing under a steady trickle
      this.packets = this.packets.slice(this.at)
      this.raws = this.raws.slice(this.at)
      this.at = 0
    }
  }
}

/** About what a held packet keeps in memory: its topics and payload, plus a little. */
function heldSize(p: Packet): number {
  switch (p.type) {
    case PacketType.PUBLISH:
      return p.payload.length + p.topic.length + 8
    case PacketType.SUBSCRIBE: {
      let n = 8
      for (const s of p.subscriptions) n += s.topic.length + 8
      return n
    }
    case PacketType.UNSUBSCRIBE: {
      let n = 8
      for (const t of p.topics) n += t.length + 8
      return n
    }
    default:
      return 16
  }
}
