import { SUBACK_FAILURE } from '../protocol/constants.js'
import type { Core } from './core.js'
import type { Peer } from './peer.js'
import type { Session } from './session.js'
import { qosOf } from './subscription.js'

/**
 * A connection is about to take `session` (new, or resumed when `present`): what it may
 * read is settled for this connection (the authorizeRead hooks, asked per delivery), and a
 * resumed session's subscriptions are put to the authorizeSubscribe hooks again, as if the
 * client had just made them: the rules or the client's identity may have changed since.
 * A subscription now refused is removed. A hook answering with a Promise removes it when
 * it settles (messages routed meanwhile still pass the read check, if there is one).
 */
export function reattach(core: Core, peer: Peer, session: Session, present: boolean): void {
  session.mayRead = core.hooks.readerFor(peer)
  if (!present || !core.hooks.checksSubscribe || session.subscriptions.size === 0) return
  for (const [filter, sub] of [...session.subscriptions]) {
    const refused = (code: number): void => {
      if (code < SUBACK_FAILURE || session.subscriptions.get(filter) !== sub) return
      core.router.unsubscribe(session, filter)
      core.options.logger.debug(
        { clientId: peer.id, filter, reasonCode: code },
        'subscription of a resumed session is no longer authorised: removed',
      )
    }
    const code = core.hooks.authorizeSubscribe(peer, filter, qosOf(sub))
    if (code instanceof Promise) code.then(refused, () => {})
    else refused(code)
  }
}
