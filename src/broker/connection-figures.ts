import { PacketType, type ProtocolVersion } from '../protocol/constants.js'
import type { BrokerStats, RefusedCounts } from './events.js'
import type { Notable } from './notable.js'

/** What the admin API shows of a connection (admin.ts); its bytes out are the transport's, Peer.flushed. */
export interface LinkFigures {
  /** Date.now() of the CONNACK that accepted it; 0 until then. */
  readonly connectedAt: number
  /** Keep-alive granted, in seconds. */
  readonly keepaliveSeconds: number
  /** Bytes read from the transport. */
  readonly bytesIn: number
  /** PUBLISH packets received (past the Receive Maximum check) and sent. */
  readonly messagesIn: number
  readonly messagesOut: number
}

/**
 * What one connection counts: its part of the broker's BrokerStats, and its own figures for the
 * admin API (LinkFigures). Integers only, one increment per chunk or packet: nothing on the
 * message path allocates or logs.
 */
export class ConnectionFigures implements LinkFigures {
  connectedAt = 0
  keepaliveSeconds = 0
  bytesIn = 0
  messagesIn = 0
  messagesOut = 0
  private readonly stats: BrokerStats
  private readonly notable: Notable

  constructor(stats: BrokerStats, notable: Notable) {
    this.stats = stats
    this.notable = notable
  }

  /** A chunk read from the transport. */
  read(length: number): void {
    this.stats.bytesReceived += length
    this.bytesIn += length
  }

  /** A packet decoded. */
  decoded(): void {
    this.stats.messagesReceived++ // packets of any type, as $SYS/broker/messages/received counts them
  }

  /** A PUBLISH taken in (not refused at once for Receive Maximum): by protocol version and QoS, with its size. */
  publish(qos: number, version: ProtocolVersion, bytes: number, payload: number): void {
    const stats = this.stats
    const i = (version - 3) * 3 + qos
    stats.publishIn[i]!++
    stats.publishInBytes[i]! += bytes
    stats.publishPayloadIn += payload
    this.messagesIn++
  }

  /** `packets` packets queued for the peer, of the type of the first (several: PUBLISHes). */
  sent(bytes: Buffer, packets = 1): void {
    const stats = this.stats
    stats.messagesSent += packets // packets of any type, as $SYS/broker/messages/sent counts them
    stats.bytesSent += bytes.length
    if (bytes[0]! >>> 4 === PacketType.PUBLISH) this.messagesOut += packets
  }

  /** A connection refused before its CONNECT was accepted: counted by reason and told. */
  refused(
    reason: keyof RefusedCounts,
    detail: string,
    clientId: string,
    remoteAddress: string | undefined,
  ): void {
    this.stats.refused[reason]++
    this.notable.report('refused', 'info', detail, { clientId, remoteAddress, reason })
  }

  /** A subscriber disconnected for taking nothing for slowConsumerTimeout: counted and told. */
  slowConsumer(clientId: string, remoteAddress: string | undefined, backlog: number): void {
    this.stats.slowConsumerDisconnects++
    this.notable.report(
      'slow-consumer',
      'warn',
      `disconnected slow consumer ${clientId}: took nothing for slowConsumerTimeout`,
      { clientId, remoteAddress, backlog },
    )
  }
}
