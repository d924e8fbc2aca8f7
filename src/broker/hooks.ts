import { ConnectReturnCode, type QoS, SUBACK_FAILURE } from '../protocol/constants.js'
import type { AuthAnswer, AuthRequest, ClientInfo, HookSet, Logger } from './options.js'

type Answer<T> = T | Promise<T>

/**
 * What the authenticate hooks decided, together:
 * - `accept`: every hook accepted; `handled` when one of them took the enhanced
 *   authentication method (answered `success`, or challenged and then succeeded), with
 *   the Authentication Data to send back;
 * - `refuse`: the first refusal, as the hook gave it (see refusalCode);
 * - `challenge`: send AUTH 0x18 with `data`; the client's answer goes to `next`.
 */
export type AuthOutcome =
  | { readonly kind: 'accept'; readonly handled: boolean; readonly data: Buffer | undefined }
  | { readonly kind: 'refuse'; readonly answer: false | number }
  | {
      readonly kind: 'challenge'
      readonly data: Buffer
      readonly next: (data: Buffer | undefined) => Answer<AuthOutcome>
    }

interface AuthContext {
  readonly client: ClientInfo
  readonly username: string | undefined
  readonly password: Buffer | undefined
  readonly auth: AuthRequest | undefined
}
/** The enhanced authentication success so far (its data), or null. */
type Handled = { readonly data: Buffer | undefined } | null

/** A hook that threw or rejected: the client is refused as if the server were unavailable. */
const HOOK_FAILED: AuthOutcome = { kind: 'refuse', answer: ConnectReturnCode.SERVER_UNAVAILABLE }

/**
 * Every hook the broker calls, run from this one place, in the order the sets were
 * given (the options' own hooks first), each inside the same guard: a hook that
 * throws or whose Promise rejects refuses that one request, and the reason is
 * logged. It never fails the connection's decoder, never escapes as an uncaught
 * exception or an unhandled rejection, and never reaches other clients.
 * - authenticate: every set that has it must accept; the first refusal answers; an
 *   MQTT 5 challenge (AUTH 0x18) is followed through before the next set is asked.
 * - authorizePublish: every set must allow.
 * - authorizeSubscribe: every set must grant; the lowest grant wins, and the first
 *   refusal answers (its reason code, if it gave one).
 * - authorizeRead: every set must allow; synchronous, asked per delivery (see readerFor);
 *   a failure is logged once.
 * - onConnect / onDisconnect: notifications; a failure is logged.
 * With no hook of a kind the answer is immediate and costs nothing.
 */
export class Hooks {
  private readonly authenticates: NonNullable<HookSet['authenticate']>[]
  private readonly publishes: NonNullable<HookSet['authorizePublish']>[]
  private readonly subscribes: NonNullable<HookSet['authorizeSubscribe']>[]
  private readonly connects: NonNullable<HookSet['onConnect']>[]
  private readonly disconnects: NonNullable<HookSet['onDisconnect']>[]
  private readonly reads: NonNullable<HookSet['authorizeRead']>[]
  /** A failing authorizeRead is logged once, not on every message. */
  private readFailed = false
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
    this.reads = all('authorizeRead')
    this.log = log
  }

  /**
   * Runs the authenticate hooks for a CONNECT (or a re-authentication): see AuthOutcome.
   * `auth` is the client's enhanced authentication, if it uses it.
   */
  authenticate(
    client: ClientInfo,
    username: string | undefined,
    password: Buffer | undefined,
    auth?: AuthRequest,
  ): Answer<AuthOutcome> {
    return this.authFrom({ client, username, password, auth }, 0, null)
  }

  /** The hooks from `from` on; `handled` is the Authentication Data of an enhanced success so far. */
  private authFrom(ctx: AuthContext, from: number, handled: Handled): Answer<AuthOutcome> {
    const hooks = this.authenticates
    for (let i = from; i < hooks.length; i++) {
      let r: Answer<AuthAnswer>
      try {
        r = hooks[i]!(ctx.client, ctx.username, ctx.password, ctx.auth)
      } catch (err) {
        return this.failed('authenticate', ctx.client, err, HOOK_FAILED)
      }
      if (r !== true && r !== undefined) return this.authAnswer(ctx, i, r, handled)
    }
    return { kind: 'accept', handled: handled !== null, data: handled?.data }
  }

  /** Hook `i` answered `r`: refuse, challenge, or go on with the next hook. */
  private authAnswer(
    ctx: AuthContext,
    i: number,
    r: Answer<AuthAnswer>,
    handled: Handled,
  ): Answer<AuthOutcome> {
    if (r instanceof Promise) {
      return r.then(
        (v) => this.authAnswer(ctx, i, v, handled),
        (err: unknown) => this.failed('authenticate', ctx.client, err, HOOK_FAILED),
      )
    }
    if (r === true || r === undefined) return this.authFrom(ctx, i + 1, handled)
    if (r === false || typeof r === 'number') return { kind: 'refuse', answer: r }
    if (typeof r === 'object' && r !== null) {
      if ('challenge' in r && Buffer.isBuffer(r.challenge) && typeof r.next === 'function') {
        const next = r.next
        return {
          kind: 'challenge',
          data: r.challenge,
          next: (data) => {
            let n: Answer<AuthAnswer>
            try {
              n = next(data)
            } catch (err) {
              return this.failed('authenticate', ctx.client, err, HOOK_FAILED)
            }
            return this.authAnswer(ctx, i, n, handled)
          },
        }
      }
      if ('success' in r) return this.authFrom(ctx, i + 1, { data: r.success })
    }
    this.log.error(
      { clientId: ctx.client.id, answer: String(r) },
      'authenticate hook gave an answer it may not give',
    )
    return HOOK_FAILED
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

  get checksSubscribe(): boolean {
    return this.subscribes.length > 0
  }

  /**
   * What decides whether messages go to `client` (every authorizeRead hook must allow; one
   * that throws refuses), or null when no hook has a say: then nothing is asked per message.
   */
  readerFor(client: ClientInfo): ((topic: string) => boolean) | null {
    const hooks = this.reads
    if (hooks.length === 0) return null
    if (hooks.length === 1) {
      const h = hooks[0]!
      return (topic) => {
        try {
          return h(client, topic) === true
        } catch (err) {
          return this.readFailure(client, err)
        }
      }
    }
    return (topic) => {
      try {
        for (const h of hooks) if (h(client, topic) !== true) return false
        return true
      } catch (err) {
        return this.readFailure(client, err)
      }
    }
  }

  private readFailure(client: ClientInfo, err: unknown): false {
    if (!this.readFailed) {
      this.readFailed = true
      this.failed('authorizeRead', client, err, false)
    }
    return false
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
