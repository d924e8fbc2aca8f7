import type { QoS } from '../protocol/constants.js'
import type { AckProperties, PublishProperties, UserProperties } from '../protocol/packets.js'

/**
 * How a publish ended. `reasonCode` is 0 (Success) for QoS 0, for 3.1.1, and for
 * an MQTT 5 acknowledgement without a reason code; 0x10 No matching subscribers is
 * a success too. Codes of 0x80 and more reject the publish instead (PublishRefusedError).
 */
export interface PublishResult {
  readonly reasonCode: number
  readonly reasonString?: string
  readonly userProperties?: UserProperties
}

/** The result of every publish that ended in plain success: shared, never allocated per publish. */
export const PUBLISH_OK: PublishResult = Object.freeze({ reasonCode: 0 })

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
export class PublishJob extends Pending<PublishResult> {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: QoS
  readonly retain: boolean
  /** MQTT 5 properties, as given (never a topic alias: the session assigns those). */
  readonly properties: PublishProperties | undefined

  constructor(
    topic: string,
    payload: Buffer,
    qos: QoS,
    retain: boolean,
    properties: PublishProperties | undefined = undefined,
  ) {
    super()
    this.topic = topic
    this.payload = payload
    this.qos = qos
    this.retain = retain
    this.properties = properties
  }

  override resolve(value: PublishResult = PUBLISH_OK): void {
    super.resolve(value)
  }
}

type PromiseExecutor<T> = (res: (value: T) => void, rej: (err: Error) => void) => void

let capturing: Pending<unknown> | null = null

function executor(res: (value: unknown) => void, rej: (err: Error) => void): void {
  capturing!.capture(res, rej)
}

/** What a PUBACK or PUBCOMP with a reason code or properties (MQTT 5) resolves a publish with. */
export function publishResult(reasonCode: number, properties: AckProperties | undefined): PublishResult {
  const r: { reasonCode: number; reasonString?: string; userProperties?: UserProperties } = { reasonCode }
  if (properties?.reasonString !== undefined) r.reasonString = properties.reasonString
  if (properties?.userProperties !== undefined) r.userProperties = properties.userProperties
  return r
}
