import { PacketType, type QoS, SUBACK_FAILURE } from '../../protocol/constants.js'
import { encode, encodeUnsuback } from '../../protocol/encoder.js'
import type { SubscribePacket, UnsubscribePacket } from '../../protocol/packets.js'
import { exceedsLevels, isValidTopicFilter } from '../../protocol/topic.js'
import type { Core } from '../core.js'
import type { Peer } from '../peer.js'

/**
 * SUBSCRIBE: one return code per filter, in order: 0x80 for an invalid filter
 * [MQTT-4.7.1-1..3] [MQTT-4.7.3-1], one deeper than maxTopicLevels, or one the hooks
 * refuse; else the QoS granted. A Promise only when a hook answered with one.
 */
export function onSubscribe(core: Core, peer: Peer, packet: SubscribePacket): Promise<void> | undefined {
  const granted: (number | Promise<number>)[] = []
  let pending = false
  for (const { topic, qos } of packet.subscriptions) {
    if (!isValidTopicFilter(topic) || exceedsLevels(topic, core.options.maxTopicLevels)) {
      granted.push(SUBACK_FAILURE)
      continue
    }
    const g = core.hooks.authorizeSubscribe(peer, topic, qos)
    if (g instanceof Promise) pending = true
    granted.push(g)
  }
  if (pending) return Promise.all(granted).then((g) => subscribed(core, peer, packet, g))
  subscribed(core, peer, packet, granted as number[])
  return undefined
}

function subscribed(core: Core, peer: Peer, packet: SubscribePacket, granted: number[]): void {
  if (peer.state === 'closed') return
  const session = peer.session!
  const subs = packet.subscriptions
  for (let i = 0; i < subs.length; i++) {
    if (granted[i] !== SUBACK_FAILURE) core.router.subscribe(session, subs[i]!.topic, granted[i] as QoS)
  }
  // [MQTT-3.8.4-1] [MQTT-3.8.4-5] one return code per filter, in order
  peer.send(encode({ type: PacketType.SUBACK, packetId: packet.packetId, granted }, peer.protocolVersion))
  for (let i = 0; i < subs.length; i++) {
    if (granted[i] !== SUBACK_FAILURE) core.router.deliverRetained(session, subs[i]!.topic, granted[i] as QoS)
  }
  core.events.emit(
    'subscribed',
    subs.map((s, i) => ({ topic: s.topic, qos: granted[i]! })),
    peer,
  )
}

export function onUnsubscribe(core: Core, peer: Peer, packet: UnsubscribePacket): void {
  for (const topic of packet.topics) core.router.unsubscribe(peer.session!, topic)
  // [MQTT-3.10.4-4] [MQTT-3.10.4-5] UNSUBACK even when nothing matched
  peer.send(encodeUnsuback(packet.packetId))
  core.events.emit('unsubscribed', packet.topics, peer)
}
