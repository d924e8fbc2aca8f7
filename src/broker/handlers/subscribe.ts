import { PacketType, PROTOCOL_V5, type QoS, ReasonCode, SUBACK_FAILURE } from '../../protocol/constants.js'
import { encode } from '../../protocol/encoder.js'
import type { SubscribePacket, Subscription, UnsubscribePacket } from '../../protocol/packets.js'
import { isReasonCodeOf } from '../../protocol/reason-codes.js'
import { exceedsLevels, isValidTopicFilter } from '../../protocol/topic.js'
import type { Core } from '../core.js'
import type { Peer } from '../peer.js'
import type { Session } from '../session.js'
import { makeSub, parseShared } from '../subscription.js'
import { deepTopic } from './publish.js'

/**
 * SUBSCRIBE: one code per filter, in order [MQTT-3.8.4-1] [MQTT-3.9.3-1]: the QoS granted,
 * or a failure: an invalid filter [MQTT-4.7.1-1..3] [MQTT-4.7.3-1], an invalid shared
 * subscription [MQTT-4.8.2-1] [MQTT-4.8.2-2] or one deeper than maxTopicLevels get 0x8F
 * Topic Filter invalid; a refusal by the hooks gets the code they answered (0x80 for
 * `false`); past maxSubscriptionsPerClient, 0x97 Quota exceeded. A 3.1.1 client sees every
 * failure as 0x80 [MQTT-3.9.3-2]. Shared subscriptions
 * (`$share/{group}/{filter}`) are for every protocol version, as Mosquitto has them.
 * A Promise only when a hook answered with one.
 */
export function onSubscribe(core: Core, peer: Peer, packet: SubscribePacket): Promise<void> | undefined {
  const v5 = peer.protocolVersion === PROTOCOL_V5
  const codes: (number | Promise<number>)[] = []
  let pending = false
  for (const s of packet.subscriptions) {
    const topic = s.topic
    const shared = parseShared(topic)
    if (
      shared === 'invalid' ||
      !isValidTopicFilter(topic) ||
      exceedsLevels(shared === null ? topic : shared.filter, core.options.maxTopicLevels)
    ) {
      if (isValidTopicFilter(topic) && shared !== 'invalid')
        deepTopic(core, peer, `filter '${topic.slice(0, 40)}…'`)
      codes.push(v5 ? ReasonCode.TOPIC_FILTER_INVALID : SUBACK_FAILURE)
      continue
    }
    if (shared !== null && s.noLocal === true) {
      // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error
      peer.violation(`No Local on shared subscription '${topic}'`, 'MQTT-3.8.3-4')
      return undefined
    }
    const g = core.hooks.authorizeSubscribe(peer, topic, s.qos)
    if (g instanceof Promise) {
      pending = true
      codes.push(g.then((code) => counted(core, code)))
    } else codes.push(counted(core, g))
  }
  if (pending) return Promise.all(codes).then((c) => subscribed(core, peer, packet, c))
  subscribed(core, peer, packet, codes as number[])
  return undefined
}

function subscribed(core: Core, peer: Peer, packet: SubscribePacket, codes: number[]): void {
  if (peer.state === 'closed') return
  const session = peer.session!
  const subs = packet.subscriptions
  // [MQTT-3.8.2.1.2] the packet's Subscription Identifier goes with each of its subscriptions
  const subId = packet.properties?.subscriptionIdentifier ?? 0
  quota(core, peer, session, subs, codes)
  const made = codes.map((code, i) => (code < SUBACK_FAILURE ? makeSub(subs[i]!, code as QoS, subId) : null))
  // [MQTT-3.8.4-3] an existing subscription to the same filter is replaced, options and all
  const existed = made.map((sub, i) => sub !== null && core.router.subscribe(session, subs[i]!.topic, sub))
  const v5 = peer.protocolVersion === PROTOCOL_V5
  // [MQTT-3.8.4-1] [MQTT-3.8.4-5] one code per filter, in order; 3.1.1 knows one failure code, and
  // a code a hook answered that SUBACK cannot carry [MQTT-3.9.3-2] is sent as 0x80 too
  const granted = codes.map((c) =>
    c < SUBACK_FAILURE || (v5 && isReasonCodeOf(PacketType.SUBACK, c)) ? c : SUBACK_FAILURE,
  )
  peer.send(encode({ type: PacketType.SUBACK, packetId: packet.packetId, granted }, peer.protocolVersion))
  for (let i = 0; i < subs.length; i++) {
    const sub = made[i]
    if (sub != null) core.router.deliverRetained(session, subs[i]!.topic, sub, existed[i]!)
  }
  core.events.emit(
    'subscribed',
    subs.map((s, i) => ({ topic: s.topic, qos: granted[i]! })),
    peer,
  )
}

/**
 * maxSubscriptionsPerClient: the filters granted past the quota become 0x97 Quota exceeded
 * (0x80 for 3.1.1). A filter the session holds, or one earlier in the packet, replaces a
 * subscription and needs no room.
 */
function quota(core: Core, peer: Peer, session: Session, subs: Subscription[], codes: number[]): void {
  const max = core.options.maxSubscriptionsPerClient
  const held = session.subscriptions
  if (max === 0 || held.size + subs.length <= max) return
  let room = max - held.size
  const added = new Set<string>()
  for (let i = 0; i < subs.length; i++) {
    const topic = subs[i]!.topic
    if (codes[i]! >= SUBACK_FAILURE || held.has(topic) || added.has(topic)) continue
    if (room > 0) {
      room--
      added.add(topic)
      continue
    }
    codes[i] = ReasonCode.QUOTA_EXCEEDED
    core.limits.hit(
      'subscriptions-per-client',
      peer.id,
      `refused a subscription of ${peer.id}: it holds ${max} (maxSubscriptionsPerClient)`,
    )
  }
}

/**
 * UNSUBSCRIBE: each filter's subscription (ordinary or shared, as written) is removed;
 * UNSUBACK even when nothing matched [MQTT-3.10.4-4] [MQTT-3.10.4-5]. MQTT 5 gives a
 * reason code per filter, in order [MQTT-3.11.3-1]: 0x00 Success, 0x11 No subscription
 * existed, 0x8F Topic Filter invalid.
 */
export function onUnsubscribe(core: Core, peer: Peer, packet: UnsubscribePacket): void {
  const session = peer.session!
  const v5 = peer.protocolVersion === PROTOCOL_V5
  const reasonCodes = packet.topics.map((topic) => {
    if (v5 && (!isValidTopicFilter(topic) || parseShared(topic) === 'invalid')) {
      return ReasonCode.TOPIC_FILTER_INVALID
    }
    return core.router.unsubscribe(session, topic) ? ReasonCode.SUCCESS : ReasonCode.NO_SUBSCRIPTION_EXISTED
  })
  // 3.1.1's UNSUBACK has no reason codes: the encoder leaves them out
  peer.send(
    encode({ type: PacketType.UNSUBACK, packetId: packet.packetId, reasonCodes }, peer.protocolVersion),
  )
  core.events.emit('unsubscribed', packet.topics, peer)
}

/** A hook's answer for one filter; a refusal is counted (BrokerStats.denied.subscribe). */
function counted(core: Core, code: number): number {
  if (code >= SUBACK_FAILURE) core.stats.denied.subscribe++
  return code
}
