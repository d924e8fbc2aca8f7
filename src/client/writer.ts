import { Outbox } from '../session/outbox.js'
import type { ByteDuplex } from '../transport/transport.js'

/** A promise's record that settles once its bytes are written (a QoS 0 publish). */
export interface Settling {
  resolve(): void
  reject(err: Error): void
}

/**
 * Output of one connection, gathered per event-loop turn: packets queued in a
 * turn (a publish loop, the acks for one read) leave in one flush, scheduled as
 * a microtask, through the shared Outbox (few large writes inside one cork).
 * QoS 0 publishes settle when their bytes are handed to the transport, or, when
 * it pushed back, at its next 'drain', so an awaiting publisher is slowed by the
 * socket and memory stays bounded.
 */
export class Writer {
  private out: ByteDuplex | null = null
  private readonly outbox = new Outbox()
  /** QoS 0 publishes in this batch. */
  private written: Settling[] = []
  /** QoS 0 publishes flushed while the transport was over its limit. */
  private draining: Settling[] = []
  private needDrain = false
  private scheduled = false
  /** Called after each flush that wrote something (keep-alive records it). */
  onFlush: () => void = () => {}
  private readonly flushTask = (): void => this.flush()

  get attached(): boolean {
    return this.out !== null
  }

  attach(out: ByteDuplex): void {
    this.out = out
    this.needDrain = false
  }

  /** The transport is gone: what was not written is dropped, its QoS 0 publishes returned. */
  detach(): Settling[] {
    this.out = null
    this.outbox.clear()
    this.needDrain = false
    const unsent = this.written.concat(this.draining)
    this.written = []
    this.draining = []
    return unsent
  }

  push(bytes: Buffer): void {
    this.outbox.push(bytes)
    if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(this.flushTask)
    }
  }

  /** A QoS 0 PUBLISH whose promise settles once it is written. */
  pushSettling(bytes: Buffer, pending: Settling): void {
    this.written.push(pending)
    this.push(bytes)
  }

  flush(): void {
    this.scheduled = false
    const out = this.out
    if (out === null || this.outbox.empty) return
    const ok = this.outbox.flushTo(out)
    this.onFlush()
    const written = this.written
    if (written.length === 0) {
      if (!ok) this.needDrain = true
      return
    }
    this.written = []
    if (ok && !this.needDrain) {
      for (let i = 0; i < written.length; i++) written[i]!.resolve()
      return
    }
    this.needDrain = true
    for (let i = 0; i < written.length; i++) this.draining.push(written[i]!)
  }

  /** The transport took its buffered bytes. */
  drain(): void {
    this.needDrain = false
    const d = this.draining
    if (d.length === 0) return
    this.draining = []
    for (let i = 0; i < d.length; i++) d[i]!.resolve()
  }
}
