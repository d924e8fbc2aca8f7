/**
 * `petrel broker --workers N --cluster URL`: one primary forks N workers that share one port
 * and join the cluster through the same NATS; seen from outside through the cluster's
 * heartbeats (node names and connection counts), MQTT clients, exit codes and PIDs.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { connectMqttJs, type MqttJsPeer } from '../helpers/mqttjs.js'
import { type NatsCluster, natsSkip, startNats } from '../helpers/nats.js'
import { LOOPBACK } from '../helpers/net.js'
import { type Background, petrel, startCliBroker } from './petrel-cli.js'

const skip = natsSkip()

interface Heartbeat {
  node: string
  origin: number
  connections: number
  at: number
}

/** The latest heartbeat of each node, as the cluster's `petrel-ctl.heartbeat` subject carries them. */
class Heartbeats {
  readonly latest = new Map<string, Heartbeat>()

  private constructor(private readonly nc: NatsConnection) {
    nc.subscribe('petrel-ctl.heartbeat', {
      callback: (err, m) => {
        if (err === null) {
          const hb = m.json<Heartbeat>()
          this.latest.set(hb.node, hb)
        }
      },
    })
  }

  static async open(url: string): Promise<Heartbeats> {
    return new Heartbeats(await connect({ servers: url, timeout: 5000 }))
  }

  /** Waits (bounded) until `ok` holds for the heartbeats heard. */
  async until(ok: (latest: Map<string, Heartbeat>) => boolean, what: string, ms = 15_000): Promise<void> {
    await until(
      () => ok(this.latest),
      () => `${what}; heard: ${JSON.stringify([...this.latest.values()])}`,
      ms,
    )
  }

  close(): Promise<void> {
    return this.nc.close()
  }
}

async function until(ok: () => boolean, what: () => string, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what()}`)
    await sleep(50)
  }
}

/** The workers' PIDs as the primary logs them ("worker i started (pid P)"), by index, latest last. */
function workerPids(b: Background): Map<number, number[]> {
  const pids = new Map<number, number[]>()
  for (const m of b.stdout().matchAll(/"msg":"worker (\d+) started \(pid (\d+)\)"/g)) {
    const i = Number(m[1])
    pids.set(i, [...(pids.get(i) ?? []), Number(m[2])])
  }
  return pids
}

function listeningCount(b: Background): number {
  return b.stdout().match(/"msg":"petrel broker listening on/g)?.length ?? 0
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Subscribers on `topic` and one publisher, spread over the workers by the shared port. */
async function clients(port: number, topic: string, subscribers: number): Promise<MqttJsPeer[]> {
  const peers: MqttJsPeer[] = []
  for (let i = 0; i < subscribers; i++) {
    const p = await connectMqttJs(port)
    await p.client.subscribeAsync(topic, { qos: 1 })
    peers.push(p)
  }
  peers.push(await connectMqttJs(port))
  return peers
}

/**
 * Publishes from the last peer until every other peer has the message (interest reaches the
 * other worker through NATS a moment after SUBACK), each at most `ms`.
 */
async function everyoneGets(peers: MqttJsPeer[], topic: string, ms = 10_000): Promise<void> {
  const subs = peers.slice(0, -1)
  const pub = peers.at(-1)!
  const got = new Set<number>()
  const deadline = Date.now() + ms
  while (got.size < subs.length) {
    if (Date.now() > deadline) throw new Error(`${got.size} of ${subs.length} subscribers got the message`)
    await pub.client.publishAsync(topic, 'hello', { qos: 1 })
    await Promise.all(
      subs.map(async (s, i) => {
        if (got.has(i)) return
        const m = await s.inbox.take(1, 500).catch(() => [])
        if (m.length > 0) got.add(i)
      }),
    )
  }
}

async function endAll(peers: MqttJsPeer[]): Promise<void> {
  await Promise.allSettled(peers.map((p) => p.end()))
}

async function startWorkers(url: string, node: string): Promise<Background & { port: number }> {
  const b = await startCliBroker(['--workers', '2', '--cluster', url, '--cluster-node', node])
  await until(
    () => listeningCount(b) >= 2,
    () => b.stdout(),
    20_000,
  )
  return b
}

describe('petrel broker --workers', { skip }, () => {
  let nats: NatsCluster
  let beats: Heartbeats

  before(async () => {
    nats = await startNats({ servers: 1 })
    beats = await Heartbeats.open(nats.urls[0]!)
  })
  after(async () => {
    await beats?.close()
    await nats?.stop()
  })

  test('two workers share one port: connections land on both, messages cross between them, SIGTERM ends all with exit 0', async () => {
    const b = await startWorkers(nats.urls[0]!, 'ws1')
    const pids = [...workerPids(b).values()].flat()
    let peers: MqttJsPeer[] = []
    try {
      assert.equal(pids.length, 2)
      assert.ok(!pids.includes(b.child.pid!), 'the workers are processes of their own')
      peers = await clients(b.port, 'workers/t', 10)
      await beats.until((hb) => {
        const w0 = hb.get('ws1-w0')?.connections ?? 0
        const w1 = hb.get('ws1-w1')?.connections ?? 0
        return w0 > 0 && w1 > 0 && w0 + w1 === peers.length
      }, 'both workers with connections, 11 in all')
      await everyoneGets(peers, 'workers/t')
    } finally {
      await endAll(peers)
    }
    const exit = await b.stop('SIGTERM')
    assert.deepEqual(exit, { code: 0, signal: null })
    for (const pid of pids) assert.equal(alive(pid), false, `worker pid ${pid} is gone`)
    const msgs = b.stdout()
    assert.match(msgs, /"msg":"worker 0 exited \(code 0\)"/)
    assert.match(msgs, /"msg":"worker 1 exited \(code 0\)"/)
  })

  test('restarts a worker killed with SIGKILL; clients reconnecting still get their messages', async () => {
    const b = await startWorkers(nats.urls[0]!, 'ws2')
    let peers: MqttJsPeer[] = []
    try {
      const first = beats.latest.get('ws2-w1')
      await beats.until((hb) => hb.has('ws2-w1'), 'a heartbeat of ws2-w1')
      const origin = (first ?? beats.latest.get('ws2-w1')!).origin
      const killed = workerPids(b).get(1)![0]!
      process.kill(killed, 'SIGKILL')
      await b.waitFor(/"msg":"worker 1 exited \(signal SIGKILL\); restarting it in 1 s"/, 5000)
      await until(
        () => (workerPids(b).get(1)?.length ?? 0) === 2,
        () => b.stdout(),
        10_000,
      )
      await until(
        () => listeningCount(b) >= 3,
        () => b.stdout(),
        20_000,
      )
      await beats.until(
        (hb) => hb.get('ws2-w1') !== undefined && hb.get('ws2-w1')!.origin !== origin,
        'a heartbeat of the new ws2-w1',
      )
      assert.equal(alive(killed), false)
      peers = await clients(b.port, 'restart/t', 10)
      await beats.until(
        (hb) => (hb.get('ws2-w0')?.connections ?? 0) > 0 && (hb.get('ws2-w1')?.connections ?? 0) > 0,
        'both workers with connections',
      )
      await everyoneGets(peers, 'restart/t')
    } finally {
      await endAll(peers)
      const exit = await b.stop('SIGTERM')
      assert.deepEqual(exit, { code: 0, signal: null })
    }
    for (const pid of [...workerPids(b).values()].flat()) assert.equal(alive(pid), false)
  })

  test('a worker that cannot join the cluster: one line, exit 1, no restart', async () => {
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))
    const port = (server.address() as { port: number }).port
    server.close() // a port nobody listens on now
    const r = await petrel(
      ['broker', '--workers', '2', '--port', '0', '--cluster', `nats://${LOOPBACK}:${port}`],
      {
        timeoutMs: 20_000,
      },
    )
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^petrel broker: cannot join the cluster: no NATS server answered at [^\n]+\n$/)
    assert.doesNotMatch(r.stdout, /restarting/)
  })
})

test('petrel broker --workers without a cluster: exit 2 with one line', async () => {
  const r = await petrel(['broker', '--workers', '2', '--port', '0'])
  assert.equal(r.code, 2)
  assert.equal(
    r.stderr,
    'petrel broker: --workers needs --cluster (or cluster: { servers } in a config file): the workers share messages, retained messages and sessions through the cluster\n',
  )
  assert.equal(r.stdout, '')
})
