import type { ConnackProperties } from '../protocol/packets.js'
import {
  AuthError,
  ConnackRefusedError,
  ConnectFailedError,
  ConnectionLostError,
  ConnectTimeoutError,
} from './errors.js'

/**
 * The client's connection lifecycle, as a pure state machine: an input in, the
 * new state and the effects for the client to carry out. No I/O, no timers, no
 * clock (the jitter's random source is injected), so it is tested without sockets.
 *
 *   connecting --CONNACK 0--> connected --lost--> reconnect-wait --retry--> connecting
 *   connected --end--> ending --transport closed / end timeout--> closed
 *   any --end(force) / failed first attempt / permanent refusal / lost without reconnect--> closed
 */
export type LifecycleState = 'connecting' | 'connected' | 'reconnect-wait' | 'ending' | 'closed'

export type LifecycleInput =
  | {
      type: 'connack'
      returnCode: number
      sessionPresent: boolean
      /** MQTT 5: the return code is a Connect Reason Code; the CONNACK's properties. */
      v5?: boolean
      properties?: ConnackProperties | undefined
    }
  | { type: 'connect-timeout'; timeout: number }
  /** The transport failed or closed (also a ping timeout or a protocol error, which the client turns into a drop). */
  | { type: 'lost'; error: Error | undefined }
  | { type: 'retry' }
  | { type: 'end'; force: boolean }
  | { type: 'end-timeout' }

export type Effect =
  /** Open a transport, send CONNECT, arm the connect timer. */
  | { type: 'open' }
  /** Destroy the current transport at once and disarm its timers. */
  | { type: 'drop' }
  /** Send DISCONNECT after what is queued, end the transport, arm the end timer. */
  | { type: 'disconnect' }
  | { type: 'schedule-retry'; delay: number }
  | { type: 'cancel-retry' }
  /** CONNACK 0: the session may send. `first` is the connection `connect()` waits for. */
  | { type: 'online'; sessionPresent: boolean; first: boolean }
  /** A live connection was lost; a reconnect follows. */
  | { type: 'offline'; error: Error }
  | { type: 'reconnecting'; attempt: number }
  /** A reconnect attempt failed; another follows. */
  | { type: 'attempt-failed'; error: Error }
  /** The client stopped for good; `error` is why, when it was not asked to. */
  | { type: 'closed'; error: Error | undefined }

export interface Backoff {
  minDelay: number
  maxDelay: number
}

/**
 * Exponential backoff with jitter, bounded: attempt n waits between half and
 * all of min(maxDelay, minDelay * 2^(n-1)), so clients that lost the same
 * broker do not all come back in the same millisecond.
 */
export function backoffDelay(attempt: number, b: Backoff, random: () => number): number {
  const exp = Math.min(attempt - 1, 30)
  const base = Math.min(b.maxDelay, b.minDelay * 2 ** exp)
  return Math.round(base / 2 + (random() * base) / 2)
}

const NONE: readonly Effect[] = []

export class Lifecycle {
  state: LifecycleState = 'connecting'
  /** Failed attempts since the last accepted connection. */
  attempts = 0
  /** True until the first connection is accepted: its failure fails `connect()` itself. */
  private first = true
  private readonly backoff: Backoff | null
  private readonly random: () => number

  constructor(backoff: Backoff | null, random: () => number = Math.random) {
    this.backoff = backoff
    this.random = random
  }

  /** The first attempt. */
  start(): readonly Effect[] {
    return [{ type: 'open' }]
  }

  handle(input: LifecycleInput): readonly Effect[] {
    switch (this.state) {
      case 'connecting':
        return this.connecting(input)
      case 'connected':
        return this.connected(input)
      case 'reconnect-wait':
        if (input.type === 'retry') {
          this.state = 'connecting'
          return [{ type: 'reconnecting', attempt: this.attempts }, { type: 'open' }]
        }
        if (input.type === 'end') return this.close([{ type: 'cancel-retry' }], undefined)
        return NONE // a late event of a transport already dropped
      case 'ending':
        if (input.type === 'lost' || input.type === 'end-timeout' || (input.type === 'end' && input.force)) {
          return this.close([{ type: 'drop' }], undefined)
        }
        return NONE
      case 'closed':
        return NONE
    }
  }

  private connecting(input: LifecycleInput): readonly Effect[] {
    switch (input.type) {
      case 'connack': {
        if (input.returnCode === 0) {
          const first = this.first
          this.first = false
          this.attempts = 0
          this.state = 'connected'
          return [{ type: 'online', sessionPresent: input.sessionPresent, first }]
        }
        const err = new ConnackRefusedError(input.returnCode, input.v5 === true, input.properties)
        return this.attemptFailed(err, err.permanent)
      }
      case 'connect-timeout':
        return this.attemptFailed(new ConnectTimeoutError(input.timeout), false)
      case 'lost':
        // an enhanced authentication failure is its own answer, not a transport failure
        if (input.error instanceof AuthError) return this.attemptFailed(input.error, false)
        return this.attemptFailed(new ConnectFailedError(input.error), false)
      case 'end':
        return this.close([{ type: 'drop' }], undefined)
      default:
        return NONE
    }
  }

  private connected(input: LifecycleInput): readonly Effect[] {
    switch (input.type) {
      case 'lost': {
        const err = input.error ?? new ConnectionLostError()
        if (this.backoff === null) return this.close([{ type: 'drop' }, { type: 'offline', error: err }], err)
        this.state = 'reconnect-wait'
        this.attempts = 1
        return [
          { type: 'drop' },
          { type: 'offline', error: err },
          { type: 'schedule-retry', delay: backoffDelay(1, this.backoff, this.random) },
        ]
      }
      case 'end':
        if (input.force) return this.close([{ type: 'drop' }], undefined)
        this.state = 'ending'
        return [{ type: 'disconnect' }]
      default:
        return NONE
    }
  }

  private attemptFailed(err: Error, permanent: boolean): readonly Effect[] {
    if (this.first || permanent || this.backoff === null) return this.close([{ type: 'drop' }], err)
    this.state = 'reconnect-wait'
    this.attempts++
    return [
      { type: 'drop' },
      { type: 'attempt-failed', error: err },
      { type: 'schedule-retry', delay: backoffDelay(this.attempts, this.backoff, this.random) },
    ]
  }

  private close(before: Effect[], error: Error | undefined): readonly Effect[] {
    this.state = 'closed'
    before.push({ type: 'closed', error })
    return before
  }
}
