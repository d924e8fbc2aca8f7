/** A bundle is sent when it reaches this size, before the turn ends. */
const BUNDLE_BYTES = 256 * 1024

/** A turn's messages to one subject. */
interface Bundle {
  envelopes: Buffer[]
  owners: (string | null)[]
  bytes: number
}

/** Sends one subject's envelopes (and the clients they answer for) as one NATS message. */
export type SendBundle = (subject: string, envelopes: Buffer[], owners: (string | null)[]) => void

/**
 * A turn's QoS 0 and QoS 1 messages, gathered by subject so that each subject's leave as one NATS
 * message at the end of the turn (a busy topic costs NATS one message a turn, not one an MQTT message).
 */
export class Bundler {
  private readonly bundles = new Map<string, Bundle>()

  constructor(private readonly send: SendBundle) {}

  /**
   * Adds an envelope (its sequence not yet stamped) to this turn's bundle for `subject`; true when
   * it is the turn's first (the end of the turn must then flush).
   */
  add(subject: string, envelope: Buffer, owner: string | null): boolean {
    let b = this.bundles.get(subject)
    const first = this.bundles.size === 0
    if (b === undefined) {
      b = { envelopes: [], owners: [], bytes: 0 }
      this.bundles.set(subject, b)
    } else if (b.bytes + envelope.length > BUNDLE_BYTES) {
      this.send(subject, b.envelopes, b.owners)
      b = { envelopes: [], owners: [], bytes: 0 }
      this.bundles.set(subject, b)
    }
    b.envelopes.push(envelope)
    b.owners.push(owner)
    b.bytes += envelope.length + 4
    return first
  }

  /** Sends this turn's bundles, in the order their subjects came. */
  flush(): void {
    if (this.bundles.size === 0) return
    for (const [subject, b] of this.bundles) this.send(subject, b.envelopes, b.owners)
    this.bundles.clear()
  }
}
