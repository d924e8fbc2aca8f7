import type { PublishPacket } from '../../protocol/packets.js'
import { exceedsLevels } from '../../protocol/topic.js'
import type { Core } from '../core.js'
import { Message } from '../message.js'
import type { ClientInfo } from '../options.js'
import type { Peer } from '../peer.js'

/**
 * PUBLISH from a client: topic depth, the authorizePublish hook, the receiver's QoS
 * rules (InboundFlow), then routing; the acknowledgement is queued on the connection.
 * A Promise only when the hook answered with one.
 */
export function onPublish(
  core: Core,
  peer: Peer,
  p: PublishPacket,
  raw: Buffer | null,
): Promise<void> | undefined {
  core.stats.publishReceived++
  if (exceedsLevels(p.topic, core.options.maxTopicLevels)) {
    // MQTT 3.1.1 cannot refuse a PUBLISH: closing is the other answer it allows [MQTT-3.3.5-2]
    tooDeep(core, peer, 'PUBLISH')
    return undefined
  }
  const hooks = core.hooks
  if (!hooks.checksPublish) return received(core, peer, p, raw, true)
  const ok = hooks.authorizePublish(peer, p.topic, p.payload, p.qos, p.retain)
  if (ok instanceof Promise) return ok.then((allowed) => received(core, peer, p, raw, allowed))
  return received(core, peer, p, raw, ok)
}

function received(core: Core, peer: Peer, p: PublishPacket, raw: Buffer | null, allowed: boolean): undefined {
  // The connection ended while a hook was pending (taken over, timed out): the
  // client was not acknowledged and re-sends QoS 1/2 on its next connection.
  if (peer.state === 'closed') return undefined
  const inbound = peer.session!.inbound
  // [MQTT-4.3.3-2] exactly once: a QoS 2 PUBLISH sent again before PUBREL is acknowledged, not passed on.
  // Clients may not publish into the broker's own $SYS tree: acknowledged, then dropped [MQTT-3.3.5-2].
  if (inbound.receive(p.qos, p.packetId) && allowed && !p.topic.startsWith('$SYS')) {
    route(core, new Message(p.topic, p.payload, p.qos, p.retain, raw, false), peer, peer)
  }
  const ack = inbound.answer(p.qos, p.packetId) // [MQTT-4.3.2-2] PUBACK, [MQTT-4.3.3-2] PUBREC
  if (ack !== null) peer.send(ack)
  return undefined
}

/** Routes an accepted message (keeping it if retained) and tells 'published' listeners. */
export function route(core: Core, msg: Message, client: ClientInfo | null, from: Peer | null): void {
  core.router.route(msg, from)
  const events = core.events
  if (events.listenerCount('published') > 0) {
    events.emit(
      'published',
      { topic: msg.topic, payload: msg.payload, qos: msg.qos, retain: msg.retain },
      client,
    )
  }
}

/** A topic deeper than maxTopicLevels where MQTT 3.1.1 has no refusal: the connection closes. */
export function tooDeep(core: Core, peer: Peer, what: string): void {
  const max = core.options.maxTopicLevels
  core.options.logger.debug(
    { clientId: peer.id, maxTopicLevels: max },
    `${what} topic has more than ${max} levels`,
  )
  peer.close(`${what} topic has more than ${max} levels (maxTopicLevels)`, true)
}
