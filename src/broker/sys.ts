import { VERSION } from '../version.js'
import type { BrokerStats } from './events.js'
import { LIMITS } from './limits.js'

/** What the $SYS topics report (the Broker). */
export interface SysSource {
  readonly stats: BrokerStats
  readonly connectedCount: number
  readonly sessionCount: number
  readonly subscriptionCount: number
  readonly retainedCount: number
}

/**
 * $SYS/broker/... topics, named as Mosquitto names them, published as retained
 * messages every `sysInterval` seconds.
 */
export function sysValues(b: SysSource): [string, string][] {
  const s = b.stats
  const connected = b.connectedCount
  const total = b.sessionCount
  return [
    ['$SYS/broker/version', `petrel version ${VERSION}`],
    ['$SYS/broker/uptime', `${Math.floor((Date.now() - s.startedAt) / 1000)} seconds`],
    ['$SYS/broker/clients/connected', String(connected)],
    ['$SYS/broker/clients/active', String(connected)],
    ['$SYS/broker/clients/disconnected', String(total - connected)],
    ['$SYS/broker/clients/inactive', String(total - connected)],
    ['$SYS/broker/clients/total', String(total)],
    ['$SYS/broker/clients/maximum', String(s.maxConnected)],
    ['$SYS/broker/messages/received', String(s.messagesReceived)],
    ['$SYS/broker/messages/sent', String(s.messagesSent)],
    ['$SYS/broker/publish/messages/received', String(s.publishReceived)],
    ['$SYS/broker/publish/messages/sent', String(s.messagesSent)],
    ['$SYS/broker/publish/messages/dropped', String(s.dropped)],
    ['$SYS/broker/publish/messages/expired', String(s.expired)],
    ['$SYS/broker/bytes/received', String(s.bytesReceived)],
    ['$SYS/broker/bytes/sent', String(s.bytesSent)],
    ['$SYS/broker/subscriptions/count', String(b.subscriptionCount)],
    ['$SYS/broker/retained messages/count', String(b.retainedCount)],
    // issue 13: transport
    ['$SYS/broker/listeners/refused', String(s.listenerRefused)],
    ['$SYS/broker/listeners/tls handshake failures', String(s.tlsHandshakeFailures)],
    // issue 13: limits
    ...LIMITS.map((l): [string, string] => [
      `$SYS/broker/limits/${l.name}/${l.counts}`,
      String(s.limits[l.name]),
    ]),
  ]
}
