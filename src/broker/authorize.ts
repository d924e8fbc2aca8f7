import { type QoS, SUBACK_FAILURE } from '../protocol/constants.js'
import type { Subscription } from '../protocol/packets.js'
import { exceedsLevels, isValidTopicFilter } from '../protocol/topic.js'
import type { AuthorizeSubscribe, ClientInfo } from './options.js'

/**
 * SUBACK return codes for the filters of one SUBSCRIBE, in order: 0x80 for an
 * invalid filter [MQTT-4.7.1-1..3] [MQTT-4.7.3-1], one deeper than `maxLevels`, or
 * one the hook refuses, else the QoS granted. A Promise only when the hook answered
 * with one.
 */
export function grantFilters(
  authz: AuthorizeSubscribe | undefined,
  client: ClientInfo,
  subs: Subscription[],
  maxLevels: number,
): number[] | Promise<number[]> {
  const granted: (number | Promise<number>)[] = []
  let async = false
  for (const { topic, qos } of subs) {
    if (!isValidTopicFilter(topic) || exceedsLevels(topic, maxLevels)) {
      granted.push(SUBACK_FAILURE)
      continue
    }
    if (authz === undefined) {
      granted.push(qos)
      continue
    }
    const r = authz(client, topic, qos)
    if (r instanceof Promise) {
      async = true
      granted.push(r.then((v) => grant(v, qos)))
    } else {
      granted.push(grant(r, qos))
    }
  }
  return async ? Promise.all(granted) : (granted as number[])
}

/** An authorizeSubscribe answer as a SUBACK return code. */
function grant(answer: boolean | number, asked: QoS): number {
  if (answer === false) return SUBACK_FAILURE
  if (answer === true) return asked
  if (answer === SUBACK_FAILURE || answer < 0) return SUBACK_FAILURE
  return Math.min(answer, asked)
}
