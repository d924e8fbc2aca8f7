import { isUtf8 } from 'node:buffer'
import { ConnectReturnCode, PROTOCOL_V5, ReasonCode } from '../../protocol/constants.js'
import type { ConnectPacket, Will } from '../../protocol/packets.js'
import { exceedsLevels } from '../../protocol/topic.js'
import type { Core } from '../core.js'
import type { AuthOutcome } from '../hooks.js'
import { refusalReason } from '../last-words.js'
import type { Peer } from '../peer.js'
import { reattach } from '../reattach.js'
import { willDelay } from '../wills.js'
import { encodeAuth } from './auth.js'
import { type ConnectTerms, connackProperties, connectTerms, encodeConnack, refusalCode } from './connack.js'
import { takeCertificateUser } from './identity.js'
import { deepTopic, tooDeep } from './publish.js'
import { publishWill } from './will.js'

/**
 * CONNECT of MQTT 3.1, 3.1.1 and 5: the client id, the will, keep-alive and session
 * expiry, the connection limit, the authenticate hooks (with MQTT 5 enhanced
 * authentication, an AUTH exchange: see auth.ts), then takeover of an earlier
 * connection, the session (new or resumed) and CONNACK. A Promise only when a hook
 * answered with one.
 */
export function onConnect(core: Core, peer: Peer, packet: ConnectPacket): Promise<void> | undefined {
  const v5 = packet.protocolVersion === PROTOCOL_V5
  if (!takeCertificateUser(peer, packet)) {
    peer.identify(packet)
    const code = v5 ? ReasonCode.NOT_AUTHORIZED : ConnectReturnCode.NOT_AUTHORIZED
    return refuse(core, peer, code, 'no verified client certificate (useIdentityAsUsername)', '')
  }
  let assigned = false
  if (packet.clientId.length === 0) {
    if (!v5 && (!packet.clean || packet.protocolVersion === 3)) {
      // [MQTT-3.1.3-8] a zero-length id needs clean session 1; MQTT 3.1 needs an id
      return refuse(core, peer, ConnectReturnCode.IDENTIFIER_REJECTED, 'empty client id', 'MQTT-3.1.3-8')
    }
    // [MQTT-3.1.3-6] [MQTT-3.1.3-7] processed as if the client had sent it; MQTT 5 tells it [MQTT-3.2.2-16]
    packet.clientId = core.sessions.assignId()
    assigned = true
  }
  const will = packet.will
  if (will !== undefined && exceedsLevels(will.topic, core.options.maxTopicLevels)) {
    if (!v5) {
      tooDeep(core, peer, 'will')
      return undefined
    }
    peer.identify(packet)
    deepTopic(core, peer, 'will topic')
    return refuse(core, peer, ReasonCode.TOPIC_NAME_INVALID, 'will topic has too many levels', '')
  }
  peer.identify(packet)
  if (v5 && will?.properties?.payloadFormatIndicator === 1 && !isUtf8(will.payload)) {
    // 3.1.3.2.3: a will that says it is UTF-8 and is not
    return refuse(core, peer, ReasonCode.PAYLOAD_FORMAT_INVALID, 'will payload is not UTF-8', '')
  }
  const terms = connectTerms(core.options, packet, assigned)
  if (typeof terms === 'number') {
    core.limits.hit('keepalive', packet.clientId, `refused ${packet.clientId}: keep-alive over maxKeepalive`)
    return refuse(core, peer, terms, `keep-alive ${packet.keepalive} s is over maxKeepalive`, '')
  }
  // A client taking over its own connection does not add one, so it is let in at the limit.
  if (core.connected >= core.options.maxConnections && !core.sessions.get(packet.clientId)?.link) {
    const code = v5 ? ReasonCode.SERVER_BUSY : ConnectReturnCode.SERVER_UNAVAILABLE
    core.limits.hit(
      'connections',
      '',
      `refused a client: ${core.options.maxConnections} connections (maxConnections)`,
    )
    return refuse(core, peer, code, 'too many connections', '')
  }
  const method = v5 ? packet.properties?.authenticationMethod : undefined
  const request = method === undefined ? undefined : { method, data: packet.properties?.authenticationData }
  if (method !== undefined) {
    // kept for re-authentication, which asks the hooks again [MQTT-4.12.1-1]
    const password = packet.password === undefined ? undefined : Buffer.from(packet.password)
    peer.auth = { method, password, next: null, deadline: null }
  }
  const auth = core.hooks.authenticate(peer, packet.username, packet.password, request)
  return settle(core, peer, packet, terms, auth)
}

/** Carries on with the hooks' answer, now or when it comes. */
function settle(
  core: Core,
  peer: Peer,
  packet: ConnectPacket,
  terms: ConnectTerms,
  outcome: AuthOutcome | Promise<AuthOutcome>,
): Promise<void> | undefined {
  if (outcome instanceof Promise) return outcome.then((o) => authenticated(core, peer, packet, terms, o))
  return authenticated(core, peer, packet, terms, outcome)
}

/** The hooks answered: refuse, challenge (AUTH 0x18 [MQTT-4.12.0-2]), or let the client in. */
function authenticated(
  core: Core,
  peer: Peer,
  packet: ConnectPacket,
  terms: ConnectTerms,
  outcome: AuthOutcome,
): Promise<void> | undefined {
  if (peer.state !== 'authenticating') return undefined // closed while the hook ran
  const v5 = peer.protocolVersion === PROTOCOL_V5
  const exchange = peer.auth
  switch (outcome.kind) {
    case 'refuse': {
      // [MQTT-4.12.0-4] the exchange may be refused at any point
      const code = refusalCode(outcome.answer, v5, exchange !== null)
      return refuse(core, peer, code, 'not authorised', '')
    }
    case 'challenge':
      if (exchange === null) {
        // [MQTT-4.12.0-6] no AUTH to a client that did not ask for enhanced authentication
        core.options.logger.error(
          { clientId: peer.id },
          'authenticate hook challenged a client without enhanced authentication',
        )
        return refuse(
          core,
          peer,
          refusalCode(ConnectReturnCode.NOT_AUTHORIZED, v5, false),
          'not authorised',
          '',
        )
      }
      {
        const bytes = encodeAuth(peer, ReasonCode.CONTINUE_AUTHENTICATION, exchange.method, outcome.data)
        if (bytes === null) {
          // [MQTT-3.1.2-24] not sent: the exchange cannot go on, and a CONNACK says so
          return refuse(
            core,
            peer,
            ReasonCode.PACKET_TOO_LARGE,
            "the AUTH challenge is larger than the client's Maximum Packet Size",
            'MQTT-3.1.2-24',
          )
        }
        exchange.next = (data) => settle(core, peer, packet, terms, outcome.next(data))
        peer.send(bytes)
      }
      return undefined
    case 'accept':
      if (exchange !== null && !outcome.handled) {
        // [MQTT-4.12.0-1] no hook knows the client's Authentication Method
        return refuse(
          core,
          peer,
          ReasonCode.BAD_AUTHENTICATION_METHOD,
          'unknown authentication method',
          'MQTT-4.12.0-1',
        )
      }
      {
        const auth = exchange === null ? null : { method: exchange.method, data: outcome.data }
        // a cluster node first takes the session from the node that holds it, if another does
        const claimed = core.router.cluster?.claim(packet.clientId, packet.clean) ?? null
        if (claimed === null) {
          connected(core, peer, packet, terms, auth)
          return undefined
        }
        return claimed.then(
          () => {
            if (peer.state === 'authenticating') connected(core, peer, packet, terms, auth)
          },
          (err: unknown) => {
            if (peer.state !== 'authenticating') return
            core.options.logger.warn(
              { err, clientId: packet.clientId },
              'cluster: the session could not be claimed',
            )
            const code = v5 ? ReasonCode.SERVER_UNAVAILABLE : ConnectReturnCode.SERVER_UNAVAILABLE
            refuse(core, peer, code, 'the cluster cannot be reached to take the session', '')
          },
        )
      }
  }
}

function refuse(core: Core, peer: Peer, code: number, why: string, rule: string): undefined {
  // [MQTT-3.2.2-6] session present is 0 with a refusal; [MQTT-3.2.2-7] then the close.
  // An MQTT 5 refusal says why in a Reason String, which CONNACK may always carry [MQTT-3.1.2-29].
  const v5 = peer.protocolVersion === PROTOCOL_V5
  peer.send(encodeConnack(peer, false, code, v5 ? { reasonString: why } : undefined))
  const reason = refusalReason(code)
  core.stats.refused[reason]++
  core.notable.report('refused', 'info', `CONNECT refused: ${why}`, {
    clientId: peer.id,
    remoteAddress: peer.remoteAddress,
    reason,
    returnCode: code,
    ...(rule === '' ? {} : { rule }),
  })
  peer.close(`CONNECT refused: ${why}`, false)
  return undefined
}

function connected(
  core: Core,
  peer: Peer,
  packet: ConnectPacket,
  terms: ConnectTerms,
  auth: { method: string; data: Buffer | undefined } | null,
): void {
  // [MQTT-3.1.4-2] (3.1.1) [MQTT-3.1.4-3] (5) a second connection with the same id takes
  // over: the first is closed (MQTT 5: DISCONNECT 0x8E first), its will published or delayed
  const previous = core.sessions.get(packet.clientId)?.link
  if (previous != null) {
    core.stats.takeovers++
    core.notable.report('takeover', 'info', `session ${packet.clientId} taken over by a new connection`, {
      clientId: packet.clientId,
      remoteAddress: peer.remoteAddress,
    })
    previous.takenOver()
  }
  const { session, present } = core.sessions.open(packet.clientId, packet.clean, terms.expiry)
  // [MQTT-3.1.3-9] back in time: the will of its last connection is not sent
  if (present) core.wills.resumed(session)
  reattach(core, peer, session, present)
  const properties =
    peer.protocolVersion === PROTOCOL_V5 ? connackProperties(core.options, peer, terms, auth) : undefined
  peer.send(encodeConnack(peer, present, ConnectReturnCode.ACCEPTED, properties))
  peer.accept(packet, session, terms.keepalive)
  core.stats.connectionsAccepted++
  if (++core.connected > core.stats.maxConnected) core.stats.maxConnected = core.connected
  session.attach(peer, packet)
  // a connection of this client id on another node of the cluster is taken over too
  core.router.cluster?.connected(packet.clientId, session.connectedAt)
  core.hooks.connected(peer)
  core.events.emit('clientConnected', peer)
}

/**
 * A connection ended: a session with no expiry ends with it; the will (if it ended
 * abnormally) is published, or waits for its Will Delay Interval while the session lives.
 */
export function onClosed(
  core: Core,
  peer: Peer,
  wasConnected: boolean,
  will: Will | null,
  reason: string,
): void {
  core.peers.delete(peer)
  if (!wasConnected) return
  core.connected--
  const session = peer.session!
  let publishNow = will !== null
  if (session.link === peer) {
    // delayed while the session lives; a session that ends now publishes it at once
    if (will !== null && willDelay(will) > 0 && session.expiryInterval !== 0) {
      core.wills.delay(peer, session, will, willDelay(will))
      publishNow = false
    }
    core.sessions.disconnected(session)
  }
  if (publishNow) publishWill(core, peer, will!)
  core.hooks.disconnected(peer, reason)
  core.events.emit('clientDisconnected', peer, reason)
}
