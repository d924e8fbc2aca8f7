import { PacketType, PROTOCOL_V5, ReasonCode } from '../protocol/constants.js'
import { encode } from '../protocol/encoder.js'
import type { AuthPacket } from '../protocol/packets.js'
import { reasonError } from './aliases.js'
import { AuthError } from './errors.js'
import type { AuthHandler } from './options.js'
import { Pending } from './pending.js'

/** What an exchange needs from the client. */
export interface AuthHost {
  /** Writes a packet on the current connection. */
  send(bytes: Buffer): void
  /** The exchange failed on the connection of `generation`: it must close (with this error). */
  fail(err: Error, generation: number): void
  /** The current connection. */
  readonly generation: number
}

/**
 * MQTT 5 enhanced authentication [MQTT-4.12], the client's side, over the
 * user's AuthHandler: the AUTH 0x18 round trips while connecting, the check of
 * the broker's final data, and re-authentication (AUTH 0x19) on a live
 * connection. Handler calls may be async; they run one at a time, in order.
 */
export class AuthExchange {
  private readonly handler: AuthHandler
  private readonly host: AuthHost
  private chain: Promise<void> = Promise.resolve()
  private reauth: ReauthPending | null = null

  constructor(handler: AuthHandler, host: AuthHost) {
    this.handler = handler
    this.host = host
  }

  get method(): string {
    return this.handler.method
  }

  /** AUTH from the broker, while connecting or re-authenticating. Throws a ProtocolError for one it must not send. */
  receive(p: AuthPacket): void {
    const rc = p.reasonCode ?? ReasonCode.SUCCESS
    // [MQTT-4.12.0-5] every AUTH names the method of CONNECT
    if (p.properties?.authenticationMethod !== this.handler.method) {
      throw reasonError(ReasonCode.PROTOCOL_ERROR, 'AUTH with another Authentication Method', 'MQTT-4.12.0-5')
    }
    const data = p.properties?.authenticationData
    if (rc === ReasonCode.CONTINUE_AUTHENTICATION) {
      this.run(async () => {
        const answer = await this.handler.challenge(data)
        this.host.send(this.authPacket(ReasonCode.CONTINUE_AUTHENTICATION, answer)) // [MQTT-4.12.0-3]
      })
      return
    }
    if (rc === ReasonCode.SUCCESS && this.reauth !== null) {
      const pending = this.reauth
      this.run(async () => {
        await this.handler.done?.(data)
        this.reauth = null
        pending.resolve()
      })
      return
    }
    throw reasonError(
      ReasonCode.PROTOCOL_ERROR,
      `unexpected AUTH reason code 0x${rc.toString(16)}`,
      'MQTT-3.15.2-1',
    )
  }

  /** CONNACK 0: the broker's final data must verify before the client goes online. */
  connected(data: Buffer | undefined): Promise<void> {
    const done = this.handler.done
    if (done === undefined) return Promise.resolve()
    return Promise.resolve().then(() => done.call(this.handler, data))
  }

  /** AUTH 0x19 [MQTT-4.12.1-1]; settles when the broker's AUTH 0x00 verified, or the connection failed. */
  reauthenticate(): Promise<void> {
    if (this.reauth !== null) return this.reauth.promise2
    const pending = new ReauthPending()
    this.reauth = pending
    this.run(async () => {
      const data = await this.handler.start()
      this.host.send(this.authPacket(ReasonCode.RE_AUTHENTICATE, data))
    })
    return pending.promise2
  }

  /** The connection ended: a re-authentication under way fails with `err`. */
  abort(err: Error): void {
    const r = this.reauth
    this.reauth = null
    r?.reject(err)
  }

  private authPacket(reasonCode: number, data: Buffer | undefined): Buffer {
    const properties: AuthPacket['properties'] = { authenticationMethod: this.handler.method }
    if (data !== undefined) properties.authenticationData = data
    return encode({ type: PacketType.AUTH, reasonCode, properties }, PROTOCOL_V5)
  }

  /** Runs a handler step after the ones before it; a throw fails the connection it belongs to. */
  private run(step: () => Promise<void>): void {
    const gen = this.host.generation
    this.chain = this.chain.then(async () => {
      if (gen !== this.host.generation) return
      try {
        await step()
      } catch (err) {
        if (gen !== this.host.generation) return
        const e =
          err instanceof AuthError
            ? err
            : new AuthError('the auth handler refused the exchange', undefined, err)
        this.abort(e)
        this.host.fail(e, gen)
      }
    })
  }
}

/** A Pending whose promise is made once, so concurrent callers share it. */
class ReauthPending extends Pending<void> {
  readonly promise2: Promise<void> = this.promise()
}
