import type { QoS } from '../protocol/constants.js'

/**
 * The record behind one promise the API returned: it settles once, and clears
 * its timeout when it does. Its promise is made with a shared executor, so a
 * publish allocates this record and its promise, and no closure.
 */
export class Pending<T = void> {
  settled = false
  timer: NodeJS.Timeout | null = null
  private res: ((value: T) => void) | null = null
  private rej: ((err: Error) => void) | null = null

  /** Makes the promise this record settles. Call once. */
  promise(): Promise<T> {
    capturing = this as Pending<unknown>
    const p = new Promise<T>(executor as PromiseExecutor<T>)
    capturing = null
    return p
  }

  resolve(value: T): void {
    if (this.settled) return
    this.settled = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.res!(value)
  }

  reject(err: Error): void {
    if (this.settled) return
    this.settled = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.rej!(err)
  }

  /** @internal */
  capture(res: (value: T) => void, rej: (err: Error) => void): void {
    this.res = res
    this.rej = rej
  }
}

/** A publish, from the call until its flow completes. */
export class PublishJob extends Pending<void> {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: QoS
  readonly retain: boolean

  constructor(topic: string, payload: Buffer, qos: QoS, retain: boolean) {
    super()
    this.topic = topic
    this.payload = payload
    this.qos = qos
    this.retain = retain
  }
}

type PromiseExecutor<T> = (res: (value: T) => void, rej: (err: Error) => void) => void

let capturing: Pending<unknown> | null = null

function executor(res: (value: unknown) => void, rej: (err: Error) => void): void {
  capturing!.capture(res, rej)
}
