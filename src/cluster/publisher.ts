import { randomBytes } from 'node:crypto'
import { headers, type Msg, type NatsConnection } from '@nats-io/transport-node'

/** How long JetStream may take to acknowledge a message before the publish counts as failed. */
const TIMEOUT_MS = 5000

/**
 * The messages of one turn: settled when JetStream acknowledged them all, or said no to some,
 * or did not answer in time. It settles with the clients whose messages were not stored.
 */
class Batch {
  remaining = 0
  sealed = false
  /** Why a message was not stored (the first reason), or null. */
  failed: Error | null = null
  /** The publishers (client ids) whose messages were not stored. */
  readonly refused = new Set<string>()
  readonly done: Promise<Batch>
  private resolve!: (b: Batch) => void
  readonly at = Date.now()

  constructor() {
    this.done = new Promise<Batch>((resolve) => {
      this.resolve = resolve
    })
  }

  settle(): void {
    if (this.sealed && this.remaining === 0) this.resolve(this)
  }

  fail(w: Waiter, err: Error): void {
    this.failed ??= err
    const owner = w.owner
    if (typeof owner === 'string') this.refused.add(owner)
    else if (owner !== null) for (const o of owner) if (o !== null) this.refused.add(o)
    w.then?.(null)
    this.remaining--
    this.settle()
  }
}

/** Who a message answers for: its publisher's client id, a bundle's publishers, or null. */
export type Owner = string | null | readonly (string | null)[]

interface Waiter {
  batch: Batch
  /** Told whether JetStream had the message already; null: it was not stored. */
  then: ((duplicate: boolean | null) => void) | null
  /** The client that published it (a bundle's: each of them), or null (the broker's own). */
  owner: Owner
}

/** What became of a turn's messages: the publishers of those not stored, and why. */
export interface BatchOutcome {
  refused: ReadonlySet<string>
  error: Error | null
}

/**
 * Publishes into JetStream with one NATS subscription for every acknowledgement: each message
 * is a plain publish whose reply subject is this node's inbox and a counter, and a turn's
 * messages are one Batch the turn's commit waits for. The JetStream client's own publish
 * (a request, a timer and a promise per message) cost some 70 µs of CPU per message here, this
 * about 8 (docs/decisions.md).
 */
export class JetStreamPublisher {
  private readonly inbox = `_INBOX.petrel.${randomBytes(8).toString('hex')}.`
  private readonly waiting = new Map<number, Waiter>()
  private next = 1
  private batch: Batch | null = null
  private readonly timer: NodeJS.Timeout

  constructor(private readonly nc: NatsConnection) {
    nc.subscribe(`${this.inbox}*`, {
      callback: (err, m) => {
        if (err === null) this.answered(m)
      },
    })
    this.timer = setInterval(() => this.expire(), 1000)
    this.timer.unref()
  }

  /** Messages sent and not yet acknowledged. */
  get pending(): number {
    return this.waiting.size
  }

  /**
   * Sends a message into JetStream as part of this turn's batch; `msgId` (Nats-Msg-Id) makes
   * JetStream store it once; `then` is told whether it was already there. Throws when the
   * connection is closed.
   */
  publish(
    subject: string,
    data: Uint8Array,
    owner: Owner,
    msgId: string | null = null,
    then: Waiter['then'] = null,
  ): void {
    const batch = (this.batch ??= new Batch())
    const id = this.next++
    let opts: { reply: string; headers?: ReturnType<typeof headers> } = { reply: this.inbox + id }
    if (msgId !== null) {
      const h = headers()
      h.set('Nats-Msg-Id', msgId)
      opts = { reply: opts.reply, headers: h }
    }
    const w: Waiter = { batch, then, owner }
    batch.remaining++
    try {
      this.nc.publish(subject, data, opts)
    } catch (err) {
      // closed, or the reconnect buffer is full: not stored
      batch.fail(w, err instanceof Error ? err : new Error(String(err)))
      return
    }
    this.waiting.set(id, w)
  }

  /**
   * One message on its own, settled when JetStream has it: whether it was there already; rejects
   * when it was not stored.
   */
  publishNow(
    subject: string,
    data: Uint8Array,
    owner: string | null,
    msgId: string | null,
  ): Promise<boolean> {
    const saved = this.batch
    this.batch = null
    let duplicate = false
    this.publish(subject, data, owner, msgId, (d) => {
      duplicate = d === true
    })
    const p = this.seal()!.then((b) => {
      if (b.error !== null) throw b.error
      return duplicate
    })
    this.batch = saved
    return p
  }

  /** The batch of this turn, closed: settled once JetStream answered for all of it; null when empty. */
  seal(): Promise<BatchOutcome> | null {
    const b = this.batch
    if (b === null) return null
    this.batch = null
    b.sealed = true
    b.settle()
    return b.done.then((done) => ({ refused: done.refused, error: done.failed }))
  }

  private answered(m: Msg): void {
    const id = Number(m.subject.slice(this.inbox.length))
    const w = this.waiting.get(id)
    if (w === undefined) return // timed out already
    this.waiting.delete(id)
    const status = m.headers?.code ?? 0
    if (status >= 400 || m.data.length === 0) {
      w.batch.fail(
        w,
        new Error(status === 503 ? 'no JetStream stream answers (503)' : `JetStream answered ${status}`),
      )
      return
    }
    const text = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('latin1')
    if (text.includes('"error"')) {
      let why = text
      try {
        why = (JSON.parse(text) as { error?: { description?: string } }).error?.description ?? text
      } catch {
        // as it came
      }
      w.batch.fail(w, new Error(`JetStream refused a message: ${why}`))
      return
    }
    w.then?.(/"duplicate":\s*true/.test(text))
    w.batch.remaining--
    w.batch.settle()
  }

  /** Fails what JetStream has not acknowledged within TIMEOUT_MS (oldest first: the map keeps send order). */
  private expire(): void {
    const old = Date.now() - TIMEOUT_MS
    for (const [id, w] of this.waiting) {
      if (w.batch.at > old) break
      this.waiting.delete(id)
      w.batch.fail(w, new Error(`JetStream did not acknowledge within ${TIMEOUT_MS} ms`))
    }
  }

  close(): void {
    clearInterval(this.timer)
  }
}
