import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { type NatsCluster, natsSkip, startNats } from '../../helpers/nats.js'

/** Retries `fn` (a stream leader election after a kill takes a few seconds) until it succeeds or `ms` pass. */
async function eventually<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() >= deadline) throw err
      await sleep(200)
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw err
  }
}

describe('test helper: nats-server cluster', { skip: natsSkip(), timeout: 60_000 }, () => {
  let nats: NatsCluster
  let nc: NatsConnection
  let js: JetStreamClient
  let jsm: JetStreamManager
  const stream = 'HELPER'
  let startMs = 0

  before(async () => {
    const t0 = Date.now()
    nats = await startNats({ servers: 3 })
    startMs = Date.now() - t0
    nc = await connect({ servers: nats.urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 })
    js = jetstream(nc, { timeout: 3000 })
    jsm = await jetstreamManager(nc, { timeout: 3000 })
  })

  after(async () => {
    await nc?.close().catch(() => {})
    await nats?.stop()
  })

  it('starts three servers with distinct ports and names', (t) => {
    t.diagnostic(`3 servers ready in ${startMs} ms`)
    assert.equal(nats.urls.length, 3)
    assert.equal(new Set(nats.servers.map((s) => s.name)).size, 3)
    const ports = nats.servers.flatMap((s) => [s.port, s.clusterPort, s.httpPort])
    assert.equal(new Set(ports).size, 9)
    for (const s of nats.servers) assert.ok(alive(s.pid), `${s.name} is running`)
  })

  it('an R3 stream survives the loss of server 0 and server 0 rejoins', async (t) => {
    const info = await jsm.streams.add({ name: stream, subjects: ['helper.>'], num_replicas: 3 })
    assert.equal(info.config.num_replicas, 3)
    const ack1 = await js.publish('helper.a', 'one')
    assert.equal(ack1.seq, 1)

    const oldPid = nats.servers[0]!.pid
    let t0 = Date.now()
    await nats.kill(0)
    t.diagnostic(`kill(0) in ${Date.now() - t0} ms`)
    assert.equal(alive(oldPid), false)

    t0 = Date.now()
    const ack2 = await eventually(() => js.publish('helper.b', 'two'))
    t.diagnostic(`publish after kill in ${Date.now() - t0} ms`)
    assert.equal(ack2.seq, 2)
    const m = await eventually(async () => {
      const got = await jsm.streams.getMessage(stream, { seq: 2 })
      if (got === null) throw new Error('message 2 not found yet')
      return got
    })
    assert.equal(m.string(), 'two')
    assert.notEqual(nc.getServer(), nats.urls[0]!.replace('nats://', ''))

    t0 = Date.now()
    await nats.restart(0)
    t.diagnostic(`restart(0) in ${Date.now() - t0} ms`)
    assert.notEqual(nats.servers[0]!.pid, oldPid)
    assert.ok(alive(nats.servers[0]!.pid))

    // Server 0 has the stream again (it is one of its replicas), caught up to seq 2.
    const nc0 = await connect({ servers: nats.urls[0]! })
    try {
      const jsm0 = await jetstreamManager(nc0, { timeout: 3000 })
      const si = await eventually(async () => {
        const s = await jsm0.streams.info(stream)
        if (s.state.last_seq !== 2) throw new Error(`last_seq ${s.state.last_seq}`)
        return s
      })
      const peers = [si.cluster?.leader, ...(si.cluster?.replicas ?? []).map((r) => r.name)]
      assert.ok(peers.includes(nats.servers[0]!.name), `peers: ${peers.join(', ')}`)
      assert.ok(
        (si.cluster?.replicas ?? []).every((r) => r.current),
        'all replicas current',
      )
    } finally {
      await nc0.close()
    }
  })

  it('stop() leaves no process behind', async (t) => {
    const pids = nats.servers.map((s) => s.pid)
    await nc.close()
    const t0 = Date.now()
    await nats.stop()
    t.diagnostic(`stop() in ${Date.now() - t0} ms`)
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} still alive`)
  })
})
