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
export { PublishTemplate, restampPublish } from './publish-template.js'
export { exceedsLevels, hasWildcard, isValidTopicFilter, isValidTopicName, topicMatches } from './topic.js'
export { isValidMqttString } from './utf8.js'
