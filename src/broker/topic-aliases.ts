/**
 * MQTT 5 Topic Aliases (3.3.2.3.4): a number standing for a topic name on one
 * connection, in one direction. Each side tells the other the most it accepts
 * (Topic Alias Maximum in CONNECT and CONNACK); the mappings live and die with the
 * connection [MQTT-3.3.2-7].
 */

/**
 * The aliases the broker gives the topics it sends to one client, at most the client's
 * Topic Alias Maximum [MQTT-3.3.2-8]. Once all are taken, the alias of the topic used
 * least recently is given to the new topic (sent with the topic, which re-maps it).
 */
export class OutboundAliases {
  private readonly max: number
  /** topic -> alias, least recently used first (a Map keeps insertion order). */
  private readonly byTopic = new Map<string, number>()

  constructor(max: number) {
    this.max = max
  }

  /** The alias the client already knows for `topic` (now the most recently used), or 0. */
  known(topic: string): number {
    const map = this.byTopic
    const alias = map.get(topic)
    if (alias === undefined) return 0
    map.delete(topic)
    map.set(topic, alias)
    return alias
  }

  /** A new alias for `topic`, to be sent with the topic [MQTT-3.3.2-12]. */
  assign(topic: string): number {
    const map = this.byTopic
    let alias = map.size + 1
    if (alias > this.max) {
      const [oldest, reused] = map.entries().next().value as [string, number]
      map.delete(oldest)
      alias = reused
    }
    map.set(topic, alias)
    return alias
  }
}
