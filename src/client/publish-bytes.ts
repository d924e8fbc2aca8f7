import { PacketType, PROTOCOL_V5 } from '../protocol/constants.js'
import { encode, encodePublish } from '../protocol/encoder.js'
import type { OutboundAliases } from './aliases.js'
import type { PublishJob } from './pending.js'

/** How a PublishJob becomes the bytes of its PUBLISH, in either protocol version. */

/** 3.1.1: the PUBLISH of `job` with `packetId` (0 at QoS 0). */
export function publishBytes(job: PublishJob, packetId: number): Buffer {
  return encodePublish({
    type: PacketType.PUBLISH,
    topic: job.topic,
    payload: job.payload,
    qos: job.qos,
    retain: job.retain,
    dup: false, // first delivery [MQTT-3.3.1-3]
    packetId,
  })
}

/**
 * MQTT 5: the PUBLISH of `job` with its own properties, plus Topic Alias `alias`
 * unless 0; `omitTopic` sends an empty topic name for an alias the broker knows.
 */
export function publishBytesV5(
  job: PublishJob,
  packetId: number,
  alias: number,
  omitTopic: boolean,
  aliases: OutboundAliases,
): Buffer {
  const own = job.properties
  const properties =
    alias === 0 ? own : own === undefined ? aliases.bareProperties(alias) : { ...own, topicAlias: alias }
  return encode(
    {
      type: PacketType.PUBLISH,
      topic: omitTopic ? '' : job.topic, // [MQTT-3.3.2-12] an alias the broker knows stands for the topic
      payload: job.payload,
      qos: job.qos,
      retain: job.retain,
      dup: false,
      packetId,
      properties,
    },
    PROTOCOL_V5,
  )
}
