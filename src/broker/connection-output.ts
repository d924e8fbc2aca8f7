import { Fifo } from '../session/fifo.js'
import { Outbox, writeBatch } from '../session/outbox.js'
import type { ServedDuplex } from '../transport/transport.js'

/**
 * A connection's output: what the handlers sent this turn (an Outbox), and the batches set
 * aside until an asynchronous store commit is done (sealed), written to the transport when
 * the Flusher says so. Each write is one batch, gathered (see writeBatch).
 */
export class ConnectionOutput {
  private readonly outbox = new Outbox()
  /** Output set aside until an asynchronous store commit is done (see Flusher). */
  private readonly sealed = new Fifo<Buffer[]>()
  private sealedBytes = 0

  constructor(private readonly duplex: ServedDuplex) {}

  /** Queues bytes for this turn's write; true when the output was empty (mark it dirty). */
  push(bytes: Buffer): boolean {
    return this.outbox.push(bytes)
  }

  /** Bytes queued here or in the transport, not yet taken by the network. */
  get backlog(): number {
    return this.outbox.bytes + this.sealedBytes + this.duplex.backlog
  }

  /** Writes everything queued this turn; false when there was nothing. */
  flush(): boolean {
    if (this.outbox.empty) return false
    this.outbox.flushTo(this.duplex, false)
    return true
  }

  /** Sets this turn's output aside until the commit it waits for is done. */
  seal(): void {
    if (this.outbox.empty) return
    this.sealedBytes += this.outbox.bytes
    this.sealed.push(this.outbox.take())
  }

  /** Writes the oldest sealed batch; false when there was none. */
  release(): boolean {
    const batch = this.sealed.shift()
    if (batch === undefined) return false
    for (const b of batch) this.sealedBytes -= b.length
    writeBatch(this.duplex, batch, false)
    return true
  }

  /** Forgets the sealed batches (their commit failed). */
  dropSealed(): void {
    this.sealed.drain()
    this.sealedBytes = 0
  }
}
