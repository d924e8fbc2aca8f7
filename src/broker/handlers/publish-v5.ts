import { isUtf8 } from 'node:buffer'
import { ReasonCode } from '../../protocol/constants.js'
import type { PublishPacket, PublishProperties, WillProperties } from '../../protocol/packets.js'
import { hasWildcard } from '../../protocol/topic.js'
import type { Core } from '../core.js'
import type { Message } from '../message.js'
import type { Peer } from '../peer.js'

/**
 * The MQTT 5 checks of a PUBLISH from a client, before it is authorized and routed: its
 * Topic Alias resolved into `p.topic` (3.3.2.3.4), its properties checked. Returns
 * SUCCESS, PAYLOAD_FORMAT_INVALID (the message is refused, the connection stays), or -1
 * when the connection was closed for a protocol error.
 */
export function checkPublishV5(core: Core, peer: Peer, p: PublishPacket): number {
  const props = p.properties
  if (props === undefined) {
    if (p.topic.length > 0) return ReasonCode.SUCCESS
    // 3.3.2.1: an empty Topic Name needs a Topic Alias
    peer.violation(
      'PUBLISH with an empty topic and no Topic Alias',
      'MQTT-3.3.2-1',
      ReasonCode.PROTOCOL_ERROR,
    )
    return -1
  }
  const alias = props.topicAlias
  if (alias !== undefined && !resolveAlias(core, peer, p, alias)) return -1
  else if (alias === undefined && p.topic.length === 0) {
    peer.violation(
      'PUBLISH with an empty topic and no Topic Alias',
      'MQTT-3.3.2-1',
      ReasonCode.PROTOCOL_ERROR,
    )
    return -1
  }
  if (props.subscriptionIdentifiers !== undefined) {
    peer.violation(
      'PUBLISH from a client with a Subscription Identifier',
      'MQTT-3.3.4-6',
      ReasonCode.PROTOCOL_ERROR,
    )
    return -1
  }
  if (props.responseTopic !== undefined && hasWildcard(props.responseTopic)) {
    peer.violation('Response Topic with a wildcard', 'MQTT-3.3.2-14', ReasonCode.PROTOCOL_ERROR)
    return -1
  }
  // [MQTT-3.3.2-4] a receiver may check that a payload said to be UTF-8 is; Petrel does
  if (props.payloadFormatIndicator === 1 && !isUtf8(p.payload)) return ReasonCode.PAYLOAD_FORMAT_INVALID
  return ReasonCode.SUCCESS
}

/** Sets or uses a Topic Alias of this connection; false when the connection was closed for it. */
function resolveAlias(core: Core, peer: Peer, p: PublishPacket, alias: number): boolean {
  const max = core.options.topicAliasMaximum
  if (alias === 0 || alias > max) {
    // [MQTT-3.3.2-8] never 0; [MQTT-3.3.2-9] never above the Topic Alias Maximum of our CONNACK
    peer.violation(
      `Topic Alias ${alias} is not in 1..${max}`,
      alias === 0 ? 'MQTT-3.3.2-8' : 'MQTT-3.3.2-9',
      ReasonCode.TOPIC_ALIAS_INVALID,
    )
    return false
  }
  const session = peer.session!
  if (p.topic.length > 0) {
    // a topic with an alias sets (or changes) the mapping for this connection [MQTT-3.3.2-12]
    ;(session.inAliases ??= new Map()).set(alias, p.topic)
    return true
  }
  const topic = session.inAliases?.get(alias)
  if (topic === undefined) {
    // 3.3.2.3.4: an alias this connection never set is a Protocol Error
    peer.violation(
      `Topic Alias ${alias} was never set on this connection`,
      '3.3.2.3.4',
      ReasonCode.PROTOCOL_ERROR,
    )
    return false
  }
  p.topic = topic
  return true
}

/**
 * Gives a message the properties it was published with, less the Topic Alias (only for this
 * hop) and the Message Expiry Interval (kept as `expiresAt`, counted down) [MQTT-3.3.2-6];
 * for a will, less the Will Delay Interval (for the broker alone).
 */
export function applyProperties(
  msg: Message,
  props: PublishProperties | WillProperties | undefined,
  now: number,
): void {
  if (props === undefined) return
  const {
    topicAlias: _alias,
    messageExpiryInterval,
    subscriptionIdentifiers: _ids,
    willDelayInterval: _delay,
    ...kept
  } = props as PublishProperties & WillProperties
  // an interval of 0 is treated as none, as Mosquitto does
  if (messageExpiryInterval !== undefined && messageExpiryInterval > 0)
    msg.expiresAt = now + messageExpiryInterval * 1000
  for (const _ in kept) {
    msg.properties = kept
    break
  }
}
