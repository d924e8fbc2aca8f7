import { PacketType } from '../protocol/constants.js'
import type { Packet } from '../protocol/packets.js'
import { Fifo } from '../session/fifo.js'

/** A packet kept for later, with its wire bytes when it is a QoS 0 PUBLISH that can be forwarded as is. */
export interface Held {
  readonly packet: Packet
  readonly raw: Buffer | null
}

/**
 * Packets a connection keeps for later, in arrival order, while a hook settles or while
 * its publisher is slowed (see ConnectionMachine). A QoS 0 PUBLISH keeps its wire bytes
 * too (a view of the read buffer its payload already points into), so it is forwarded
 * unchanged when its turn comes, like one handled at once. `bytes` tells about how much
 * memory they keep.
 */
export class HeldPackets {
  bytes = 0
  /** QoS 1/2 PUBLISHes among them: not yet acknowledged (MQTT 5 Receive Maximum counts them). */
  unacknowledged = 0
  private readonly queue = new Fifo<Held>()

  get size(): number {
    return this.queue.size
  }

  push(packet: Packet, raw: Buffer | null): void {
    this.queue.push({ packet, raw })
    this.bytes += heldSize(packet)
    if (packet.type === PacketType.PUBLISH && packet.qos > 0) this.unacknowledged++
  }

  /** The next packet, or undefined. */
  shift(): Held | undefined {
    const h = this.queue.shift()
    if (h === undefined) return h
    this.bytes -= heldSize(h.packet)
    if (h.packet.type === PacketType.PUBLISH && h.packet.qos > 0) this.unacknowledged--
    return h
  }

  /** Forgets the rest (the connection closed). */
  clear(): void {
    this.queue.drain()
    this.bytes = 0
    this.unacknowledged = 0
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
