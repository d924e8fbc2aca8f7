import type { ByteDuplex } from '../transport/transport.js'
import type { Pending } from './pending.js'

/** Largest gathered write: small packets are copied into buffers of about this size. */
const GATHER_BYTES = 64 * 1024

/**
 * Output of one connection, gathered per event-loop turn: packets queued in a
 * turn (a publish loop, the acks for one read) leave in one flush, scheduled as
 * a microtask, as few large writes inside one cork. QoS 0 publishes settle when
 * their bytes are handed to the transport, or, when it pushed back, at its next
 * 'drain', so an awaiting publisher is slowed by the socket and memory stays bounded.
 */
export class Writer {
  private out: ByteDuplex | null = null
  private chunks: Buffer[] = []
  private bytes = 0
  /** QoS 0 publishes in this batch. */
  private written: Pending[] = []
  /** QoS 0 publishes flushed while the transport was over its limit. */
  private draining: Pending[] = []
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
  detach(): Pending[] {
    this.out = null
    this.chunks = []
    this.bytes = 0
    this.needDrain = false
    const unsent = this.written.concat(this.draining)
    this.written = []
    this.draining = []
    return unsent
  }

  push(bytes: Buffer): void {
    this.chunks.push(bytes)
    this.bytes += bytes.length
    if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(this.flushTask)
    }
  }

  /** A QoS 0 PUBLISH whose promise settles once it is written. */
  pushSettling(bytes: Buffer, pending: Pending): void {
    this.written.push(pending)
    this.push(bytes)
  }

  flush(): void {
    this.scheduled = false
    const out = this.out
    const chunks = this.chunks
    const n = chunks.length
    if (out === null || n === 0) return
    const total = this.bytes
    this.chunks = []
    this.bytes = 0
    let ok: boolean
    if (n === 1) {
      ok = out.write(chunks[0]!)
    } else if (total <= GATHER_BYTES) {
      ok = out.write(Buffer.concat(chunks, total))
    } else {
      ok = true
      out.cork()
      let from = 0
      let size = 0
      for (let i = 0; i < n; i++) {
        const len = chunks[i]!.length
        if (size > 0 && size + len > GATHER_BYTES) {
          ok = out.write(gather(chunks, from, i, size)) && ok
          from = i
          size = 0
        }
        size += len
      }
      ok = out.write(gather(chunks, from, n, size)) && ok
      out.uncork()
    }
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

function gather(chunks: Buffer[], from: number, to: number, size: number): Buffer {
  if (to - from === 1) return chunks[from]!
  return Buffer.concat(chunks.slice(from, to), size)
}
