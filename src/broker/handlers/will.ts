import type { Will } from '../../protocol/packets.js'
import type { Core } from '../core.js'
import { Message } from '../message.js'
import type { ClientInfo } from '../options.js'
import { route } from './publish.js'
import { applyProperties } from './publish-v5.js'

/** Publishes the will of a connection that ended abnormally [MQTT-3.1.2-8], if the hooks allow it. */
export function publishWill(core: Core, client: ClientInfo, will: Will): void {
  // This runs as a connection closes, from a transport event, a timer or after a hook
  // settles: nothing may escape from it (a 'published' listener that throws, say).
  const failed = (err: unknown): void =>
    core.options.logger.error({ clientId: client.id, err }, 'could not publish the will')
  const send = (ok: boolean): void => {
    if (!ok) {
      core.stats.denied.publish++
      core.stats.drops.notAuthorized++
      return
    }
    // like a PUBLISH, a will may not write into the broker's own $SYS tree
    if (will.topic.startsWith('$SYS')) return
    try {
      route(core, willMessage(will, client.id), null, null)
    } catch (err) {
      failed(err)
    }
  }
  try {
    const ok = core.hooks.authorizePublish(client, will.topic, will.payload, will.qos, will.retain)
    if (ok instanceof Promise) ok.then(send, failed)
    else send(ok)
  } catch (err) {
    failed(err)
  }
}

/**
 * The will as an application message: its MQTT 5 properties become the message's, but for
 * the Will Delay Interval; its Message Expiry Interval counts from now (3.1.3.2.4).
 */
function willMessage(will: Will, origin: string): Message {
  const msg = new Message(will.topic, will.payload, will.qos, will.retain, null, false).own()
  msg.origin = origin
  applyProperties(msg, will.properties, Date.now())
  return msg
}
