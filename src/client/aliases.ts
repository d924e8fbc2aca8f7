import { ProtocolError } from '../errors.js'
import { ReasonCode } from '../protocol/constants.js'
import type { PublishPacket } from '../protocol/packets.js'
import { ClientErrorCode } from './errors.js'

/**
 * Topic aliases the client assigns to its own PUBLISHes, for one connection: the
 * first topics published get aliases 1..max (the broker's Topic Alias Maximum
 * [MQTT-3.2.2-17]); a topic keeps its alias for the connection's life; once all
 * are taken, other topics go out in full. A mapping never outlives its connection
 * [MQTT-3.3.2-7]: `reset` at every new one, and whatever is re-sent after a
 * reconnect carries its full topic (the bytes kept for re-sending never use an alias).
 */
export class OutboundAliases {
  private readonly byTopic = new Map<string, number>()
  private max = 0
  /** `{ topicAlias: n }` for alias n, made once: the property object of a PUBLISH with no other properties. */
  private readonly bare: { topicAlias: number }[] = []

  reset(max: number): void {
    this.byTopic.clear()
    this.max = max
  }

  /** The alias the broker already knows for `topic`, or 0. */
  get(topic: string): number {
    return this.max === 0 ? 0 : (this.byTopic.get(topic) ?? 0)
  }

  /** A new alias for `topic`, or 0 when none is left. Only once its PUBLISH is written does the broker know it. */
  assign(topic: string): number {
    const n = this.byTopic.size + 1
    if (n > this.max) return 0
    this.byTopic.set(topic, n)
    return n
  }

  /** Undoes `assign` for a PUBLISH that was refused before it was written. */
  forget(topic: string): void {
    this.byTopic.delete(topic)
  }

  bareProperties(alias: number): { topicAlias: number } {
    return (this.bare[alias] ??= { topicAlias: alias })
  }
}

/**
 * Topic aliases the broker uses towards the client, for one connection: an alias
 * from 1 to our Topic Alias Maximum [MQTT-3.3.2-10] is set by a PUBLISH with a
 * topic and used by one without. Anything else is a protocol error the client
 * answers with DISCONNECT 0x94 Topic Alias invalid or 0x82 Protocol Error.
 */
export class InboundAliases {
  private topics: (string | undefined)[] = []
  private readonly max: number

  constructor(max: number) {
    this.max = max
  }

  reset(): void {
    this.topics = []
  }

  /**
   * Gives `p` its topic; throws a ProtocolError for a bad alias. The alias stays in
   * `p.properties.topicAlias`, as the broker sent it (mosquitto's clients keep it too).
   */
  resolve(p: PublishPacket): void {
    const props = p.properties
    const alias = props?.topicAlias
    if (props === undefined || alias === undefined) {
      if (p.topic === '')
        throw reasonError(ReasonCode.PROTOCOL_ERROR, 'a PUBLISH with no topic and no alias', 'MQTT-3.3.2-1')
      return
    }
    if (alias === 0 || alias > this.max) {
      throw reasonError(
        ReasonCode.TOPIC_ALIAS_INVALID,
        `topic alias ${alias} is outside 1..${this.max}, our Topic Alias Maximum`,
        alias === 0 ? 'MQTT-3.3.2-8' : 'MQTT-3.3.2-11',
      )
    }
    if (p.topic === '') {
      const topic = this.topics[alias]
      if (topic === undefined) {
        throw reasonError(
          ReasonCode.PROTOCOL_ERROR,
          `topic alias ${alias} was never set on this connection`,
          'MQTT-3.3.2-7',
        )
      }
      p.topic = topic
    } else {
      this.topics[alias] = p.topic
    }
  }
}

/** A ProtocolError carrying the MQTT 5 DISCONNECT reason code to close with. */
export function reasonError(reasonCode: number, message: string, rule: string): ProtocolError {
  return new ProtocolError(ClientErrorCode.UNEXPECTED_PACKET, message, rule, undefined, reasonCode)
}

/** The DISCONNECT reason for an error that ends a v5 connection: the error's own, else Protocol Error / Unspecified. */
export function disconnectReason(err: unknown): number {
  if (!(err instanceof ProtocolError)) return ReasonCode.UNSPECIFIED_ERROR
  const rc = err.reasonCode
  return rc !== undefined && rc >= ReasonCode.UNSPECIFIED_ERROR ? rc : ReasonCode.PROTOCOL_ERROR
}
