import { ConnectReturnCode, type QoS, SUBACK_FAILURE } from '../protocol/constants.js'
import type { ClientInfo, HookSet, Logger } from './options.js'

type Answer<T> = T | Promise<T>

/**
 * Every hook the broker calls, run from this one place, in the order the sets were
 * given (the options' own hooks first), each inside the same guard: a hook that
 * throws or whose Promise rejects refuses that one request, and the reason is
 * logged. It never fails the connection's decoder, never escapes as an uncaught
 * exception or an unhandled rejection, and never reaches other clients.
 * - authenticate: every set that has it must accept; the first refusal answers.
 * - authorizePublish: every set must allow.
 * - authorizeSubscribe: every set must grant; the lowest grant wins, and the first
 *   refusal answers (its reason code, if it gave one).
 * - onConnect / onDisconnect: notifications; a failure is logged.
 * With no hook of a kind the answer is immediate and costs nothing.
 */
export class Hooks {
  private readonly authenticates: NonNullable<HookSet['authenticate']>[]
  private readonly publishes: NonNullable<HookSet['authorizePublish']>[]
  private readonly subscribes: NonNullable<HookSet['authorizeSubscribe']>[]
  private readonly connects: NonNullable<HookSet['onConnect']>[]
  private readonly disconnects: NonNullable<HookSet['onDisconnect']>[]
  private readonly log: Logger

  constructor(sets: readonly HookSet[], log: Logger) {
    // bound to their set, so a hook set may be an object with methods
    const all = <K extends keyof HookSet>(k: K) =>
      sets.flatMap((s) => {
        const f = s[k] as ((...args: unknown[]) => unknown) | undefined
        return f === undefined ? [] : [f.bind(s) as NonNullable<HookSet[K]>]
      })
    this.authenticates = all('authenticate')
    this.publishes = all('authorizePublish')
    this.subscribes = all('authorizeSubscribe')
    this.connects = all('onConnect')
    this.disconnects = all('onDisconnect')
    this.log = log
  }

  /** `true`, or the CONNACK return code that refuses (a failing hook: 3, server unavailable). */
  authenticate(client: ClientInfo, username?: string, password?: Buffer, from = 0): Answer<true | number> {
    const hooks = this.authenticates
    for (let i = from; i < hooks.length; i++) {
      let r: Answer<boolean | number>
      try {
        r = hooks[i]!(client, username, password)
      } catch (err) {
        return this.failed('authenticate', client, err, ConnectReturnCode.SERVER_UNAVAILABLE)
      }
      if (r instanceof Promise) {
        return r.then(
          (v) => (v === true ? this.authenticate(client, username, password, i + 1) : refusal(v)),
          (err: unknown) => this.failed('authenticate', client, err, ConnectReturnCode.SERVER_UNAVAILABLE),
        )
      }
      if (r !== true) return refusal(r)
    }
    return true
  }

  /** Whether `client` may publish this message (a failing hook: no). */
  authorizePublish(
    client: ClientInfo,
    topic: string,
    payload: Buffer,
    qos: QoS,
    retain: boolean,
    from = 0,
  ): Answer<boolean> {
    const hooks = this.publishes
    for (let i = from; i < hooks.length; i++) {
      let r: Answer<boolean>
      try {
        r = hooks[i]!(client, topic, payload, qos, retain)
      } catch (err) {
        return this.failed('authorizePublish', client, err, false)
      }
      if (r instanceof Promise) {
        return r.then(
          (ok) => ok === true && this.authorizePublish(client, topic, payload, qos, retain, i + 1),
          (err: unknown) => this.failed('authorizePublish', client, err, false),
        )
      }
      if (r !== true) return false
    }
    return true
  }

  get checksPublish(): boolean {
    return this.publishes.length > 0
  }

  /**
   * The SUBACK code for one filter: the QoS granted, or a failure: 0x80 (`false`, or a
   * failing hook), or the MQTT 5 reason code a hook answered (0x87, 0x97, ...). The
   * caller turns every failure into 0x80 for a 3.1.1 client.
   */
  authorizeSubscribe(client: ClientInfo, filter: string, qos: QoS, from = 0): Answer<number> {
    const hooks = this.subscribes
    let granted: number = qos
    for (let i = from; i < hooks.length; i++) {
      let r: Answer<boolean | number>
      try {
        r = hooks[i]!(client, filter, qos)
      } catch (err) {
        return this.failed('authorizeSubscribe', client, err, SUBACK_FAILURE)
      }
      if (r instanceof Promise) {
        const before = granted
        return r.then(
          (v) => {
            const g = grant(v, before)
            if (g >= SUBACK_FAILURE) return g
            const rest = this.authorizeSubscribe(client, filter, g as QoS, i + 1)
            return rest
          },
          (err: unknown) => this.failed('authorizeSubscribe', client, err, SUBACK_FAILURE),
        )
      }
      granted = grant(r, granted)
      if (granted >= SUBACK_FAILURE) return granted
    }
    return granted
  }

  /** The broker accepted `client` (CONNACK 0 is on its way). */
  connected(client: ClientInfo): void {
    for (const h of this.connects) this.notify('onConnect', client, () => h(client))
  }

  /** `client`'s connection ended. */
  disconnected(client: ClientInfo, reason: string): void {
    for (const h of this.disconnects) this.notify('onDisconnect', client, () => h(client, reason))
  }

  private notify(name: string, client: ClientInfo, call: () => void | Promise<void>): void {
    try {
      const r = call()
      if (r instanceof Promise) r.catch((err: unknown) => this.failed(name, client, err, undefined))
    } catch (err) {
      this.failed(name, client, err, undefined)
    }
  }

  private failed<T>(name: string, client: ClientInfo, err: unknown, answer: T): T {
    const what = answer === undefined ? '' : ': the request is refused'
    this.log.error({ clientId: client.id, err }, `${name} hook failed${what}`)
    return answer
  }
}

/** An authenticate answer other than true, as a CONNACK return code (1-5). */
function refusal(answer: false | number): number {
  if (answer === false) return ConnectReturnCode.BAD_USERNAME_OR_PASSWORD
  return answer >= 1 && answer <= 5 ? answer : ConnectReturnCode.NOT_AUTHORIZED
}

/**
 * An authorizeSubscribe answer as a SUBACK code: a QoS at most `asked`, a failure reason
 * code as given (0x80-0xFF), or 0x80 for `false` and for a number that is neither.
 */
function grant(answer: boolean | number, asked: number): number {
  if (answer === false) return SUBACK_FAILURE
  if (answer === true) return asked
  if (!Number.isInteger(answer) || answer < 0 || (answer > 2 && answer < SUBACK_FAILURE) || answer > 0xff) {
    return SUBACK_FAILURE
  }
  return answer >= SUBACK_FAILURE ? answer : Math.min(answer, asked)
}
