import { PublishJob } from '../../../src/client/pending.js'
import { ClientSession, type SessionLimits } from '../../../src/client/session.js'
import { MemoryOutboundStore } from '../../../src/client/store.js'
import { Writer } from '../../../src/client/writer.js'
import { Decoder, type Packet, type PublishPacket, type QoS } from '../../../src/protocol/index.js'
import type { ByteDuplex } from '../../../src/transport/transport.js'

/** A ByteDuplex that records what is written; `full` makes write() report backpressure. */
export class FakeDuplex implements ByteDuplex {
  writes: Buffer[] = []
  full = false
  corked = 0
  paused = false
  ended = false
  destroyed = false
  write(bytes: Buffer): boolean {
    this.writes.push(Buffer.from(bytes))
    return !this.full
  }
  cork(): void {
    this.corked++
  }
  uncork(): void {}
  pause(): void {
    this.paused = true
  }
  resume(): void {
    this.paused = false
  }
  end(): void {
    this.ended = true
  }
  destroy(): void {
    this.destroyed = true
  }
  /** Every packet written so far, decoded; clears the record. */
  take(): Packet[] {
    const out: Packet[] = []
    const d = new Decoder((p) => out.push(p))
    for (const w of this.writes) d.push(w)
    this.writes = []
    return out
  }
}

export interface SessionRig {
  session: ClientSession
  writer: Writer
  duplex: FakeDuplex
  store: MemoryOutboundStore
  delivered: PublishPacket[]
  host: { online: boolean }
  /** Flushes the writer and returns the packets written since the last call. */
  sent(): Packet[]
}

export function sessionRig(
  limits: Partial<SessionLimits> = {},
  store = new MemoryOutboundStore(),
): SessionRig {
  const writer = new Writer()
  const duplex = new FakeDuplex()
  writer.attach(duplex)
  const delivered: PublishPacket[] = []
  const host = { online: true, deliver: (p: PublishPacket) => delivered.push(p) }
  const session = new ClientSession(host, writer, store, {
    maxInflight: 65_535,
    maxInflightQoS2: 20,
    maxOfflineQueue: 1000,
    queueQoS0: true,
    resubscribe: true,
    ...limits,
  })
  return {
    session,
    writer,
    duplex,
    store,
    delivered,
    host,
    sent() {
      writer.flush()
      return duplex.take()
    },
  }
}

export function job(
  topic: string,
  payload: string,
  qos: QoS,
): { job: PublishJob; promise: Promise<unknown> } {
  const j = new PublishJob(topic, Buffer.from(payload), qos, false)
  return { job: j, promise: j.promise() }
}

/** Settled state of a promise, after pending microtasks ran. */
export async function state(p: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let s: 'pending' | 'resolved' | 'rejected' = 'pending'
  p.then(
    () => {
      s = 'resolved'
    },
    () => {
      s = 'rejected'
    },
  )
  await new Promise((r) => setImmediate(r))
  return s
}
