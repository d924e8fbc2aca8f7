import type { ClusterHost } from './cluster-bridge.js'
import type { Core } from './core.js'
import type { Flusher } from './flusher.js'
import { capExpiry } from './handlers/connack.js'
import { Message } from './message.js'

/** What a node's broker does for the cluster it joined (see ClusterHost), over its Core. */
export function clusterHost(core: Core, flusher: Flusher): ClusterHost {
  const { router, sessions } = core
  /** A takeover by a connection on another node of the cluster: counted and reported. */
  const takenByAnotherNode = (clientId: string): void => {
    core.stats.takeovers++
    core.notable.report(
      'takeover',
      'info',
      `session ${clientId} taken over by a connection on another node`,
      {
        clientId,
      },
    )
  }
  return {
    log: core.options.logger,
    deliverRemote: (msg, shared) => router.routeRemote(msg, shared),
    setRetained: (topic, msg) => router.retained.set(topic, msg),
    takenOver: (clientId, at) => {
      const s = sessions.get(clientId)
      if (s === undefined || s.link === null || s.connectedAt > at) return
      takenByAnotherNode(clientId)
      s.link.takenOver()
    },
    wrote: flusher.wrote,
    session: (clientId) => sessions.get(clientId),
    unstored: (clientId) => sessions.get(clientId)?.link?.unstored(),
    // its connection here is closed (taken over, MQTT 5 0x8E, its will as on any takeover) and it
    // leaves this node, kept by the cluster
    release: async (clientId) => {
      const s = sessions.get(clientId)
      if (s === undefined) return
      const link = s.link
      if (link !== null) {
        takenByAnotherNode(clientId)
        const peer = [...core.peers].find((p) => p.session === s && p.state !== 'closed')
        link.takenOver()
        if (peer !== undefined) await peer.whenClosed
      }
      await flusher.idle()
      if (sessions.get(clientId) === s) sessions.forget(s)
    },
    adopt: (clientId, r) => {
      const s = sessions.create(clientId, false, false, capExpiry(core.options, r.expiry))
      s.disconnectedAt = r.disconnectedAt || Date.now()
      for (const [filter, sub] of r.subs) router.restoreSubscription(s, filter, sub)
      for (const id of r.inbound) s.inbound.restore(id)
      // past PUBREC on the node it was on: only the PUBREL is sent again, with its packet id
      const none = new Message('', Buffer.alloc(0), 2, false, null, true)
      r.released.forEach(([packetId], i) => {
        s.restoreInflight({ msg: none, qos: 2, retain: false, seq: i + 1, subIds: null }, packetId, true)
      })
      return s
    },
  }
}
