import { ConnectReturnCode, PacketType, PROTOCOL_V5, type ProtocolVersion, type QoS } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'
import type { ConnectPacket, Will } from './packets.js'
import { readProperties, WILL_PROPERTIES } from './properties.js'
import type { Reader } from './reader.js'

/**
 * CONNECT of every protocol level: 3 (MQTT 3.1), 4 (3.1.1) and 5. It names its
 * own level, so the decoder parses it the same whatever version it speaks.
 * Statement ids differ between 3.1.1 and 5 for the same rule: `v5 ? a : b`.
 */
export function parseConnect(r: Reader): ConnectPacket {
  const name = r.string('protocol name')
  const level = r.u8('protocol level')
  if (name !== 'MQTT' && name !== 'MQIsdp') {
    throw protocolError(ErrorCode.BAD_PROTOCOL_NAME, `unknown protocol name '${name}'`, 'MQTT-3.1.2-1')
  }
  if (!((name === 'MQTT' && (level === 4 || level === PROTOCOL_V5)) || (name === 'MQIsdp' && level === 3))) {
    throw protocolError(
      ErrorCode.UNSUPPORTED_PROTOCOL_LEVEL,
      `unsupported protocol '${name}' level ${level}`,
      'MQTT-3.1.2-2',
      ConnectReturnCode.UNACCEPTABLE_PROTOCOL_VERSION,
    )
  }
  const v5 = level === PROTOCOL_V5
  const flags = r.u8('connect flags')
  if (flags & 0x01)
    throw protocolError(ErrorCode.CONNECT_RESERVED_FLAG, 'CONNECT reserved flag set', 'MQTT-3.1.2-3')
  const willFlag = (flags & 0x04) !== 0
  const willQos = (flags >>> 3) & 3
  const willRetain = (flags & 0x20) !== 0
  if (!willFlag && willQos !== 0) {
    throw protocolError(
      ErrorCode.WILL_FLAGS,
      'will QoS set without the will flag',
      v5 ? 'MQTT-3.1.2-11' : 'MQTT-3.1.2-13',
    )
  }
  if (!willFlag && willRetain) {
    throw protocolError(
      ErrorCode.WILL_FLAGS,
      'will retain set without the will flag',
      v5 ? 'MQTT-3.1.2-13' : 'MQTT-3.1.2-15',
    )
  }
  if (willQos === 3) {
    throw protocolError(ErrorCode.WILL_FLAGS, 'will QoS 3', v5 ? 'MQTT-3.1.2-12' : 'MQTT-3.1.2-14')
  }
  const hasUser = (flags & 0x80) !== 0
  const hasPassword = (flags & 0x40) !== 0
  // MQTT 5 allows a password without a user name (3.1.2.9)
  if (hasPassword && !hasUser && !v5) {
    throw protocolError(
      ErrorCode.PASSWORD_WITHOUT_USERNAME,
      'password flag set without username',
      'MQTT-3.1.2-22',
    )
  }
  const keepalive = r.u16('keep alive')
  const properties = v5 ? readProperties(r, PacketType.CONNECT) : undefined
  if (properties?.authenticationData !== undefined && properties.authenticationMethod === undefined) {
    throw protocolError(
      ErrorCode.INVALID_PROPERTY_VALUE,
      'Authentication Data without an Authentication Method (3.1.2.11.10)',
    )
  }
  const clientId = r.string('client id')
  let will: Will | undefined
  if (willFlag) {
    const willProperties = v5 ? readProperties(r, WILL_PROPERTIES) : undefined
    const topic = r.string('will topic')
    // the will is published to this topic, so it must be a valid topic name
    if (topic.length === 0) throw protocolError(ErrorCode.MALFORMED_TOPIC, 'empty will topic', 'MQTT-4.7.3-1')
    if (topic.includes('+') || topic.includes('#')) {
      throw protocolError(ErrorCode.MALFORMED_TOPIC, `wildcard in will topic '${topic}'`, 'MQTT-4.7.1-1')
    }
    const payload = r.binary('will message')
    will = { topic, payload, qos: willQos as QoS, retain: willRetain }
    if (willProperties !== undefined) will.properties = willProperties
  }
  const username = hasUser ? r.string('username') : undefined
  const password = hasPassword ? r.binary('password') : undefined
  r.done(PacketType.CONNECT)
  const packet: ConnectPacket = {
    type: PacketType.CONNECT,
    protocolName: name,
    protocolVersion: level as ProtocolVersion,
    clean: (flags & 0x02) !== 0,
    keepalive,
    clientId,
  }
  if (will) packet.will = will
  if (username !== undefined) packet.username = username
  if (password !== undefined) packet.password = password
  if (properties !== undefined) packet.properties = properties
  return packet
}
