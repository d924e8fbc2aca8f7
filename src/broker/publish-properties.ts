import { ConfigError } from '../errors.js'
import type { PublishProperties, UserProperties } from '../protocol/packets.js'
import { isValidTopicName } from '../protocol/topic.js'
import { isValidMqttString } from '../protocol/utf8.js'

/** Largest Four Byte Integer: the longest Message Expiry Interval, in seconds. */
const MAX_FOUR_BYTE = 0xffff_ffff
const MAX_STRING = 65_535

/**
 * Checks the MQTT 5 properties an embedder gives `Broker.publish()` and returns a copy of
 * them. Only the properties of an application message are allowed: a Topic Alias belongs
 * to one connection, Subscription Identifiers to one delivery. Throws a ConfigError that
 * names the property at fault.
 */
export function checkPublishProperties(p: unknown): PublishProperties {
  if (typeof p !== 'object' || p === null || Array.isArray(p))
    throw new ConfigError('properties', `properties must be an object; got ${typeof p}`)
  const out: PublishProperties = {}
  for (const [key, value] of Object.entries(p)) {
    if (value === undefined) continue
    const where = `properties.${key}`
    switch (key) {
      case 'payloadFormatIndicator':
        if (value !== 0 && value !== 1)
          throw new ConfigError(where, `${where} must be 0 or 1; got ${String(value)}`)
        out.payloadFormatIndicator = value
        break
      case 'messageExpiryInterval':
        if (!Number.isInteger(value) || value < 0 || value > MAX_FOUR_BYTE)
          throw new ConfigError(
            where,
            `${where} must be a whole number of seconds from 0 to ${MAX_FOUR_BYTE}`,
          )
        out.messageExpiryInterval = value as number
        break
      case 'contentType':
        out.contentType = str(where, value)
        break
      case 'responseTopic': {
        // [MQTT-3.3.2-14] a topic name: no wildcards
        const topic = str(where, value)
        if (!isValidTopicName(topic))
          throw new ConfigError(where, `${where} must be a valid topic name (no + or #, not empty)`)
        out.responseTopic = topic
        break
      }
      case 'correlationData':
        if (!Buffer.isBuffer(value) || value.length > MAX_STRING)
          throw new ConfigError(where, `${where} must be a Buffer of at most ${MAX_STRING} bytes`)
        out.correlationData = Buffer.from(value)
        break
      case 'userProperties':
        out.userProperties = userProperties(where, value)
        break
      default:
        throw new ConfigError(
          where,
          `${where} is not a property of a published message (payloadFormatIndicator, messageExpiryInterval, contentType, responseTopic, correlationData, userProperties)`,
        )
    }
  }
  return out
}

function str(where: string, value: unknown): string {
  if (typeof value !== 'string' || !isValidMqttString(value) || Buffer.byteLength(value) > MAX_STRING)
    throw new ConfigError(
      where,
      `${where} must be a UTF-8 string of at most ${MAX_STRING} bytes, without U+0000`,
    )
  return value
}

function userProperties(where: string, value: unknown): UserProperties {
  if (!Array.isArray(value)) throw new ConfigError(where, `${where} must be a list of [name, value] pairs`)
  return value.map((pair: unknown, i) => {
    if (!Array.isArray(pair) || pair.length !== 2)
      throw new ConfigError(`${where}[${i}]`, `${where}[${i}] must be a [name, value] pair`)
    return [str(`${where}[${i}][0]`, pair[0]), str(`${where}[${i}][1]`, pair[1])] as [string, string]
  })
}
