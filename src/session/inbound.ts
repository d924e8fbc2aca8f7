/**
 * The receiver's side of QoS 2 [MQTT-4.3.3]: packet ids of PUBLISHes received
 * and passed on, until their PUBREL. A PUBLISH that arrives again with an id in
 * this set is a re-send and is not passed on twice (exactly once).
 */
export class InboundQos2 {
  private readonly ids = new Set<number>()

  /** Returns true when this PUBLISH is new and must be passed on. */
  receive(packetId: number): boolean {
    if (this.ids.has(packetId)) return false
    this.ids.add(packetId)
    return true
  }

  /** PUBREL: the flow ends; the id may be reused by the sender. [MQTT-4.3.3-2] */
  release(packetId: number): void {
    this.ids.delete(packetId)
  }

  get size(): number {
    return this.ids.size
  }

  values(): IterableIterator<number> {
    return this.ids.values()
  }

  clear(): void {
    this.ids.clear()
  }
}
