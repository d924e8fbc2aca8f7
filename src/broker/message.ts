import type { QoS } from '../protocol/constants.js'
import { copyPublishProperties, type PublishProperties } from '../protocol/packets.js'
import { PublishTemplate } from '../protocol/publish-template.js'

/**
 * An application message inside the broker: one object per PUBLISH received,
 * shared by every subscriber it goes to. Its encoded forms are built lazily,
 * once (see PublishTemplate).
 */
export class Message {
  readonly topic: string
  payload: Buffer
  /** QoS it was published with. */
  readonly qos: QoS
  /** The RETAIN flag it was published with. */
  readonly retain: boolean
  /**
   * MQTT 5 properties as published, less the Topic Alias (resolved into `topic`) and
   * the Message Expiry Interval (kept as `expiresAt`); null when there are none.
   */
  properties: PublishProperties | null = null
  /** Date.now() after which the message is expired and no longer delivered [MQTT-3.3.2-5]; 0: never. */
  expiresAt = 0
  /** Client id of the publisher, for No Local [MQTT-3.8.3-3]; null for the broker's own messages. */
  origin: string | null = null
  /** It came from another node of a cluster: no publisher here can be slowed for it (see Session.deliver). */
  remote = false
  private wire: Buffer | null
  /**
   * An MQTT 5 publisher's own bytes when they equal the MQTT 5 QoS 0, non-retained form with
   * nothing per delivery (no properties at all): forwarded unchanged to MQTT 5 subscribers.
   */
  wire5: Buffer | null = null
  private template: PublishTemplate | null = null
  private owned: boolean

  /**
   * @param wire the publisher's own 3.1.1 bytes: forwarded unchanged when they are the QoS 0,
   *   non-retained form; at QoS 1/2, the image the copies are stamped from (see PublishTemplate)
   * @param owned false when `payload` is a view into a read buffer others share
   */
  constructor(
    topic: string,
    payload: Buffer,
    qos: QoS,
    retain: boolean,
    wire: Buffer | null,
    owned: boolean,
  ) {
    this.topic = topic
    this.payload = payload
    this.qos = qos
    this.retain = retain
    this.wire = wire
    this.owned = owned
  }

  get tpl(): PublishTemplate {
    if (this.template !== null) return this.template
    const wire = this.wire
    const plain = this.qos === 0 && !this.retain
    this.template = new PublishTemplate(
      this.topic,
      this.payload,
      plain ? wire : null,
      this.properties,
      this.qos > 0 ? wire : null,
    )
    return this.template
  }

  /** Milliseconds this message has left at `now` (Date.now()): Infinity when it never expires. */
  remaining(now: number): number {
    return this.expiresAt === 0 ? Number.POSITIVE_INFINITY : this.expiresAt - now
  }

  /**
   * Makes the message independent of the read buffer its payload came from, so
   * keeping it (queue, retained store) does not keep a whole socket chunk alive.
   */
  own(): this {
    if (!this.owned) {
      this.payload = Buffer.from(this.payload)
      // Correlation Data, like the payload, is a view into the read buffer when decoded.
      if (this.properties !== null) this.properties = copyPublishProperties(this.properties)
      this.wire = null
      this.wire5 = null
      this.template = null
      this.owned = true
    }
    return this
  }
}
