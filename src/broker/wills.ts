import type { ConnectProperties, Will } from '../protocol/packets.js'
import type { ClientInfo } from './options.js'
import type { Session } from './session.js'

/** The longest delay a Node timer takes (about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647

interface Waiting {
  readonly client: ClientInfo
  readonly will: Will
  readonly timer: NodeJS.Timeout
}

/**
 * Wills waiting for their MQTT 5 Will Delay Interval. A will is published when its delay
 * has passed or its session ends, whichever comes first [MQTT-3.1.2-8], and not at all
 * when a new connection takes the session before that [MQTT-3.1.3-9]. They live in
 * memory only: a broker that restarts forgets the wills it was delaying.
 */
export class Wills {
  private readonly waiting = new Map<Session, Waiting>()
  private readonly publish: (client: ClientInfo, will: Will) => void

  /** `publish` publishes a will that is due (handlers/will.ts). */
  constructor(publish: (client: ClientInfo, will: Will) => void) {
    this.publish = publish
  }

  get size(): number {
    return this.waiting.size
  }

  /** The connection of `session` ended with a will to publish after `delay` seconds. */
  delay(client: ClientInfo, session: Session, will: Will, delay: number): void {
    this.resumed(session)
    const kept = ownWill(will)
    const who = snapshot(client)
    const timer = setTimeout(
      () => {
        this.waiting.delete(session)
        this.publish(who, kept)
      },
      Math.min(delay * 1000, MAX_TIMER_MS),
    )
    timer.unref()
    this.waiting.set(session, { client: who, will: kept, timer })
  }

  /** A new connection took the session in time: its will is not sent [MQTT-3.1.3-9]. */
  resumed(session: Session): void {
    const w = this.waiting.get(session)
    if (w === undefined) return
    clearTimeout(w.timer)
    this.waiting.delete(session)
  }

  /** The session ended: a will still waiting is published now [MQTT-3.1.2-8]. */
  ended(session: Session): void {
    const w = this.waiting.get(session)
    if (w === undefined) return
    clearTimeout(w.timer)
    this.waiting.delete(session)
    this.publish(w.client, w.will)
  }

  /** The broker closes: wills still waiting are dropped, not published. */
  close(): void {
    for (const w of this.waiting.values()) clearTimeout(w.timer)
    this.waiting.clear()
  }
}

/** Seconds a will waits after its connection ends (MQTT 5 Will Delay Interval; 0 for 3.1.1). */
export function willDelay(will: Will): number {
  return will.properties?.willDelayInterval ?? 0
}

/** A will that no longer shares memory with the read buffer of its CONNECT. */
function ownWill(will: Will): Will {
  const p = will.properties
  return {
    topic: will.topic,
    payload: Buffer.from(will.payload),
    qos: will.qos,
    retain: will.retain,
    properties:
      p === undefined
        ? undefined
        : {
            ...p,
            ...(p.correlationData === undefined ? {} : { correlationData: Buffer.from(p.correlationData) }),
            ...(p.userProperties === undefined
              ? {}
              : { userProperties: p.userProperties.map(([k, v]): [string, string] => [k, v]) }),
          },
  }
}

/** What hooks see of a client whose connection is gone. */
function snapshot(c: ClientInfo): ClientInfo {
  return {
    id: c.id,
    username: c.username,
    remoteAddress: c.remoteAddress,
    protocolVersion: c.protocolVersion,
    // without its Authentication Data: a view of the CONNECT's read buffer
    connectProperties: c.connectProperties === undefined ? undefined : withoutAuthData(c.connectProperties),
  }
}

function withoutAuthData(p: ConnectProperties): ConnectProperties {
  const { authenticationData: _, ...rest } = p
  return rest
}
