/** Where an Outbox writes: a transport (see ByteDuplex). */
export interface ByteSink {
  /** False when the transport's buffer is over its limit. */
  write(bytes: Buffer): boolean
  cork(): void
  uncork(): void
}

/** Largest gathered write: small packets are copied into buffers of about this size. */
const GATHER_BYTES = 64 * 1024
/**
 * The buffers one writev takes (IOV_MAX on Linux). libuv writes no more per system call and
 * leaves the rest for a later event-loop turn, so a batch of more small buffers than this is
 * gathered even without `copy`: otherwise a subscriber of many small packets gets ~1024 of them
 * (tens of KiB) per turn while the turns are long, and looks stuck.
 */
const WRITEV_MAX = 1024

/**
 * The output of one connection, broker or client side, between the moment a packet
 * is encoded and the moment it is handed to the transport. Packets queued in one
 * event-loop turn leave together: one write when they are few and small, else
 * buffers of about 64 KiB inside one cork (one writev). The owner decides when to
 * flush: the client once per microtask, the broker once per turn, after its store
 * committed.
 */
export class Outbox {
  /** Bytes queued and not yet written. */
  bytes = 0
  private chunks: Buffer[] = []

  get empty(): boolean {
    return this.chunks.length === 0
  }

  /** Queues `bytes`; true when the outbox was empty (the first packet of a batch). */
  push(bytes: Buffer): boolean {
    this.chunks.push(bytes)
    this.bytes += bytes.length
    return this.chunks.length === 1
  }

  /** Takes what is queued, as one batch to write later (see writeBatch). */
  take(): Buffer[] {
    const chunks = this.chunks
    this.chunks = []
    this.bytes = 0
    return chunks
  }

  /** Writes what is queued; returns the transport's verdict (false: wait for its drain). */
  flushTo(out: ByteSink, copy = true): boolean {
    return writeBatch(out, this.take(), copy)
  }

  clear(): void {
    this.chunks = []
    this.bytes = 0
  }
}

/**
 * Writes `chunks` in as few writes as possible (see Outbox). Past 64 KiB, `copy` gathers
 * them into 64 KiB pieces (fewer, larger writes); without `copy` each goes to the cork as it
 * is (one writev, no copy), which suits a broker whose packets are many shared buffers, up to
 * WRITEV_MAX buffers: more than one writev takes are gathered all the same.
 */
export function writeBatch(out: ByteSink, chunks: Buffer[], copy = true): boolean {
  const n = chunks.length
  if (n === 0) return true
  if (n === 1) return out.write(chunks[0]!)
  let total = 0
  for (let i = 0; i < n; i++) total += chunks[i]!.length
  if (total <= GATHER_BYTES) return out.write(Buffer.concat(chunks, total))
  let ok = true
  out.cork()
  if (!copy && n <= WRITEV_MAX) {
    for (let i = 0; i < n; i++) ok = out.write(chunks[i]!) && ok
    out.uncork()
    return ok
  }
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
  return ok
}

function gather(chunks: Buffer[], from: number, to: number, size: number): Buffer {
  if (to - from === 1) return chunks[from]!
  return Buffer.concat(chunks.slice(from, to), size)
}
