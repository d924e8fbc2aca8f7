import { MAX_PACKET_SIZE } from '../protocol/constants.js'
import type { ConnectProperties } from '../protocol/packets.js'
import type { ClientLimits } from './peer.js'

/** A 3.1.1 client's limits: none beyond the protocol's. */
export const NO_LIMITS: ClientLimits = {
  receiveMaximum: 65_535,
  maximumPacketSize: MAX_PACKET_SIZE,
  topicAliasMaximum: 0,
  problemInformation: true,
}

/** What an MQTT 5 client's CONNECT properties say it takes, with the defaults of those it left out. */
export function clientLimits(p: ConnectProperties): ClientLimits {
  return {
    receiveMaximum: p.receiveMaximum ?? 65_535,
    maximumPacketSize: p.maximumPacketSize ?? MAX_PACKET_SIZE,
    topicAliasMaximum: p.topicAliasMaximum ?? 0,
    problemInformation: p.requestProblemInformation ?? true,
  }
}
