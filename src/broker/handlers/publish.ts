import { PacketType, PROTOCOL_V5, ReasonCode } from '../../protocol/constants.js'
import { ownsItsMemory } from '../../protocol/decoder.js'
import { encode } from '../../protocol/encoder.js'
import type { PublishPacket } from '../../protocol/packets.js'
import { exceedsLevels } from '../../protocol/topic.js'
import type { InboundFlow } from '../../session/inbound.js'
import type { Core } from '../core.js'
import { Message } from '../message.js'
import type { ClientInfo } from '../options.js'
import type { Peer } from '../peer.js'
import { applyProperties, checkPublishV5 } from './publish-v5.js'

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
  const v5 = peer.protocolVersion === PROTOCOL_V5
  if (v5) {
    const code = checkPublishV5(core, peer, p)
    if (code < 0) return undefined // the connection is closed
    if (code !== ReasonCode.SUCCESS) return refuseV5(peer, p, code)
  }
  if (exceedsLevels(p.topic, core.options.maxTopicLevels)) {
    // MQTT 5 refuses the message (Topic Name invalid); 3.1.1 cannot refuse a PUBLISH:
    // closing is the other answer it allows [MQTT-3.3.5-2]
    if (v5) {
      deepTopic(core, peer, 'PUBLISH topic')
      return refuseV5(peer, p, ReasonCode.TOPIC_NAME_INVALID)
    }
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
  const v5 = peer.protocolVersion === PROTOCOL_V5
  // [MQTT-4.3.3-2] exactly once: a QoS 2 PUBLISH sent again before PUBREL is acknowledged, not passed on.
  const fresh = inbound.receive(p.qos, p.packetId)
  let matched = -1
  // Clients may not publish into the broker's own $SYS tree: acknowledged, then dropped [MQTT-3.3.5-2].
  if (fresh && allowed && !p.topic.startsWith('$SYS')) {
    // the bytes of an MQTT 5 publisher are in the MQTT 5 form: for MQTT 5 subscribers only
    // A packet in memory of its own (a large one, gathered) is kept as it is: its payload needs no
    // copy, and its 3.1.1 bytes are stamped into the QoS 1/2 copies. One inside a read chunk is only
    // forwarded at QoS 0: an in-flight copy must not pin the chunk.
    const whole = raw !== null && ownsItsMemory(raw)
    const wire = v5 || !(whole || (p.qos === 0 && !p.retain)) ? null : raw
    const msg = new Message(p.topic, p.payload, p.qos, p.retain, wire, whole)
    msg.origin = peer.id // for No Local [MQTT-3.8.3-3]
    if (v5) {
      if (p.properties === undefined && p.qos === 0 && !p.retain) msg.wire5 = raw
      else applyProperties(msg, p.properties, Date.now())
    }
    matched = route(core, msg, peer, peer)
    // a retained message is kept for subscribers to come: not dropped
    if (matched === 0 && !p.retain) core.stats.drops.noSubscribers++
  } else if (fresh && !allowed) {
    core.stats.denied.publish++
    core.stats.drops.notAuthorized++
  } else if (
    !fresh &&
    allowed &&
    p.qos === 2 &&
    core.router.cluster !== null &&
    !p.topic.startsWith('$SYS')
  ) {
    // a cluster node: the session may come from a node that died before its PUBREC
    const msg = new Message(p.topic, p.payload, 2, p.retain, null, false)
    msg.origin = peer.id
    if (v5) applyProperties(msg, p.properties, Date.now())
    core.router.cluster.resent(msg.own(), p.packetId)
  }
  if (p.qos === 0) return undefined
  if (v5 && fresh) {
    // MQTT 5 says why: refused by the hook [MQTT-3.3.5-2 ff.], or nobody subscribed
    const code = !allowed
      ? ReasonCode.NOT_AUTHORIZED
      : matched === 0
        ? ReasonCode.NO_MATCHING_SUBSCRIBERS
        : ReasonCode.SUCCESS
    ackV5(peer, inbound, p, code)
    return undefined
  }
  // [MQTT-4.3.2-2] PUBACK, [MQTT-4.3.3-2] PUBREC (3.1.1 cannot refuse: a refused message is acknowledged too)
  peer.send(inbound.answer(p.qos, p.packetId)!)
  return undefined
}

/** An MQTT 5 PUBLISH refused before routing: PUBACK/PUBREC with `code`; QoS 0 is dropped. */
function refuseV5(peer: Peer, p: PublishPacket, code: number): undefined {
  if (p.qos > 0) ackV5(peer, peer.session!.inbound, p, code)
  return undefined
}

/** The MQTT 5 PUBACK or PUBREC of `p` with `code`; a failure ends a QoS 2 flow at once. */
function ackV5(peer: Peer, inbound: InboundFlow, p: PublishPacket, code: number): void {
  if (code === ReasonCode.SUCCESS) {
    // the 3.1.1 bytes are the MQTT 5 short form of Success [MQTT-3.4.2-1]
    peer.send(inbound.answer(p.qos, p.packetId)!)
    return
  }
  const type = p.qos === 1 ? PacketType.PUBACK : PacketType.PUBREC
  peer.send(encode({ type, packetId: p.packetId, reasonCode: code }, PROTOCOL_V5))
  // after a PUBREC of 0x80 or more no PUBREL comes: the packet id is free again (4.3.3)
  if (p.qos === 2 && code >= 0x80) inbound.release(p.packetId)
}

/**
 * PUBREL: the QoS 2 flow ends, answered with PUBCOMP [MQTT-4.3.3-2], also for an id not
 * known; MQTT 5 then says so (0x92 Packet Identifier not found).
 */
export function onPubrel(peer: Peer, packetId: number): void {
  const inbound = peer.session!.inbound
  const before = inbound.size
  const pubcomp = inbound.release(packetId)
  if (peer.protocolVersion === PROTOCOL_V5 && inbound.size === before) {
    peer.send(
      encode(
        { type: PacketType.PUBCOMP, packetId, reasonCode: ReasonCode.PACKET_IDENTIFIER_NOT_FOUND },
        PROTOCOL_V5,
      ),
    )
  } else peer.send(pubcomp)
}

/**
 * Routes an accepted message (keeping it if retained) and tells 'published' listeners.
 * Returns the number of subscribers it went to.
 */
export function route(core: Core, msg: Message, client: ClientInfo | null, from: Peer | null): number {
  const matched = core.router.route(msg, from)
  const events = core.events
  if (events.listenerCount('published') > 0) {
    events.emit(
      'published',
      {
        topic: msg.topic,
        payload: msg.payload,
        qos: msg.qos,
        retain: msg.retain,
        properties: msg.properties,
      },
      client,
    )
  }
  return matched
}

/** A topic deeper than maxTopicLevels where MQTT 3.1.1 has no refusal: the connection closes. */
export function tooDeep(core: Core, peer: Peer, what: string): void {
  deepTopic(core, peer, `${what} topic`)
  peer.close(`${what} topic has more than ${core.options.maxTopicLevels} levels (maxTopicLevels)`, true)
}

/** Counts a topic or filter deeper than maxTopicLevels (logged once per client). */
export function deepTopic(core: Core, peer: Peer, what: string): void {
  const max = core.options.maxTopicLevels
  const who = peer.id || (peer.remoteAddress ?? '')
  core.limits.hit('topic-levels', who, `${what} of ${who} has more than ${max} levels (maxTopicLevels)`, {
    clientId: peer.id,
  })
}
