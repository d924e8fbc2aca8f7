/** petrel/protocol: the pure MQTT codec. No I/O, no timers. */
export { ConfigError, PetrelError, ProtocolError } from '../errors.js'
export * from './constants.js'
export { Decoder, type DecoderOptions, type PacketHandler } from './decoder.js'
export {
  encode,
  encodePuback,
  encodePubcomp,
  encodePublish,
  encodePubrec,
  encodePubrel,
  encodeUnsuback,
  varintSize,
  writeVarint,
} from './encoder.js'
export { ErrorCode } from './errors.js'
export * from './packets.js'
export type { AnyProperties } from './properties.js'
/**
 * MQTT 5: `tpl.v5(qos, packetId, dup, retain, extra)` encodes one delivery;
 * `tpl.v5Size(qos, extra)` (and `tpl.size(qos)` for 3.1.1) is its size in bytes,
 * to check against a client's Maximum Packet Size before sending.
 */
export { type PublishExtra, PublishTemplate, restampPublish } from './publish-template.js'
export { isReasonCodeOf } from './reason-codes.js'
export { exceedsLevels, hasWildcard, isValidTopicFilter, isValidTopicName, topicMatches } from './topic.js'
export { isValidMqttString } from './utf8.js'
