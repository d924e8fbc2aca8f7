import { type KV, Kvm, type KvWatchEntry } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import type { ClusterHost } from '../broker/cluster-bridge.js'
import type { Message } from '../broker/message.js'
import { decodeEnvelope, encodeEnvelope } from './envelope.js'
import { RETAINED_BUCKET } from './link.js'
import { subjectToTopic, topicToSubject } from './subject.js'

/**
 * The cluster's retained messages, in a JetStream key-value bucket (one key per topic, its
 * subject; the value an envelope). Every node holds the whole set in its own retained trie
 * (so a `#` subscriber anywhere is served at memory speed) and follows the bucket with a
 * watch: every change, its own included, is applied in the bucket's order, so every node
 * ends up with the bucket's state.
 */
export class RetainedSync {
  private kv: KV | null = null
  /** Puts and deletes not yet acknowledged, for the turn's commit, with the client each answers for. */
  pending: { p: Promise<unknown>; owner: string | null }[] = []
  /** Changes applied from the bucket since start. */
  applied = 0
  private stopped = false

  constructor(
    private readonly nc: NatsConnection,
    private readonly host: ClusterHost,
    private readonly origin: number,
  ) {}

  /** Opens (or makes) the bucket and loads its messages; resolves once they are all in. */
  async start(replicas: number): Promise<void> {
    const kv = await new Kvm(this.nc).create(RETAINED_BUCKET, { history: 1, replicas })
    this.kv = kv
    const initial = (await kv.status()).values
    const watch = await kv.watch()
    let loaded!: () => void
    const ready = new Promise<void>((resolve) => {
      loaded = resolve
    })
    if (initial === 0) loaded()
    void (async () => {
      for await (const e of watch) {
        if (this.stopped) break
        this.apply(e)
        if (!e.isUpdate && e.delta === 0) loaded()
        else if (e.isUpdate) loaded() // an empty bucket filled meanwhile: the initial set is behind us
      }
    })().catch((err: unknown) => {
      if (!this.stopped) this.host.log.warn({ err }, 'cluster: the watch of retained messages ended')
    })
    await ready
  }

  private apply(e: KvWatchEntry): void {
    let topic: string
    try {
      topic = subjectToTopic(e.key)
    } catch {
      this.host.log.debug({ key: e.key }, 'cluster: a retained key that is no topic, ignored')
      return
    }
    this.applied++
    if (e.operation !== 'PUT') {
      this.host.setRetained(topic, null)
      return
    }
    try {
      this.host.setRetained(topic, decodeEnvelope(topic, e.value).own())
    } catch (err) {
      this.host.log.debug({ topic, err }, 'cluster: a malformed retained message, ignored')
    }
  }

  /** Keeps a retained message set on this node, or deletes the topic's (empty payload). */
  set(msg: Message): void {
    const kv = this.kv
    if (kv === null) return
    const key = topicToSubject(msg.topic)
    const p = msg.payload.length === 0 ? kv.delete(key) : kv.put(key, encodeEnvelope(msg, this.origin, 0))
    this.pending.push({ p, owner: msg.origin })
  }

  stop(): void {
    this.stopped = true
  }
}
