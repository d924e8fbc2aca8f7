/**
 * Faults under load: Petrel nodes (real processes) killed with SIGKILL while a publisher and a
 * persistent subscriber on other nodes exchange QoS 1 and QoS 2 messages, and a NATS server
 * killed. Every message the publisher had acknowledged must reach the subscriber; at QoS 2,
 * once [MQTT-4.3.3-1].
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { connect, type MqttClient } from 'mqtt'
import { CLI } from '../../cli/petrel-cli.js'
import { type NatsCluster, natsSkip, startNats } from '../../helpers/nats.js'
import { freePort, LOOPBACK, waitForPort } from '../../helpers/net.js'

const skip = natsSkip()

interface Node {
  port: number
  name: string
  child: ChildProcess | null
  log: string
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

describe('faults under load in a cluster of three nodes over three NATS servers', { skip }, () => {
  let nats: NatsCluster
  const nodes: Node[] = []
  const clients: MqttClient[] = []

  async function startNode(n: Node, i: number): Promise<void> {
    const servers = [...nats.urls.slice(i), ...nats.urls.slice(0, i)].join(',')
    const child = spawn(
      process.execPath,
      [
        CLI,
        'broker',
        '--port',
        String(n.port),
        '--host',
        LOOPBACK,
        '--cluster',
        servers,
        '--cluster-node',
        n.name,
        '--cluster-replicas',
        '3',
        '--log-level',
        'warn',
        '--sys-interval',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    n.child = child
    const keep = (b: Buffer): void => {
      n.log = (n.log + b.toString()).slice(-20_000)
    }
    child.stdout!.on('data', keep)
    child.stderr!.on('data', keep)
    await waitForPort(n.port, 40_000)
  }

  async function kill(n: Node): Promise<void> {
    const child = n.child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((r) => child.once('exit', () => r()))
    child.kill('SIGKILL')
    await exited
    n.child = null
  }

  before(async () => {
    nats = await startNats({ servers: 3 })
    for (let i = 0; i < 3; i++)
      nodes.push({ port: await freePort(), name: `fault-${i}`, child: null, log: '' })
    for (let i = 0; i < 3; i++) await startNode(nodes[i]!, i)
  })

  after(async () => {
    for (const c of clients) c.end(true)
    for (const n of nodes) await kill(n)
    await nats?.stop()
  })

  /** An MQTT.js client that goes round the nodes (starting at `first`) when its connection is lost. */
  function roaming(first: number, clientId: string, qos: 0 | 1 | 2): MqttClient {
    const order = [first, (first + 1) % 3, (first + 2) % 3]
    const c = connect({
      servers: order.map((i) => ({ host: LOOPBACK, port: nodes[i]!.port })),
      protocol: 'mqtt',
      clientId,
      clean: false,
      reconnectPeriod: 150,
      connectTimeout: 5000,
      keepalive: 10,
      resubscribe: true,
      queueQoSZero: false,
    })
    c.on('error', () => {})
    clients.push(c)
    void qos
    return c
  }

  function connected(c: MqttClient): Promise<void> {
    if (c.connected) return Promise.resolve()
    return new Promise((resolve) => c.once('connect', () => resolve()))
  }

  async function run(qos: 1 | 2, count: number, faults: (progress: number) => Promise<void>): Promise<void> {
    const tag = `f${qos}-${Date.now()}`
    const sub = roaming(1, `${tag}-sub`, qos)
    await connected(sub)
    await sub.subscribeAsync(`${tag}/t`, { qos })
    const received = new Map<string, number>()
    const seen: string[] = []
    sub.on('message', (_t, payload, packet) => {
      const k = payload.toString()
      received.set(k, (received.get(k) ?? 0) + 1)
      if (process.env.FAULT_DEBUG)
        seen.push(`${k} id=${packet.messageId} dup=${packet.dup} t=${Date.now() % 100000}`)
    })
    await sleep(300)
    const pub = roaming(0, `${tag}-pub`, qos)
    await connected(pub)
    const acked = new Set<string>()
    const window = 40
    let next = 0
    let done = 0
    const deadline = Date.now() + 120_000
    const inflight = new Set<Promise<void>>()
    while (done < count && Date.now() < deadline) {
      while (next < count && inflight.size < window) {
        const payload = `m${next++}`
        const p: Promise<void> = pub.publishAsync(`${tag}/t`, payload, { qos }).then(
          () => {
            acked.add(payload)
          },
          () => undefined, // not acknowledged: not counted
        )
        const tracked = p.finally(() => {
          inflight.delete(tracked)
          done++
        })
        inflight.add(tracked)
      }
      await Promise.race([...inflight, sleep(1000)])
      await faults(done / count)
    }
    assert.ok(acked.size >= count * 0.9, `the publisher got most acknowledgements: ${acked.size} of ${count}`)
    const until = Date.now() + 60_000
    const missing = (): string[] => [...acked].filter((k) => !received.has(k))
    while (missing().length > 0 && Date.now() < until) await sleep(250)
    const lost = missing()
    assert.deepEqual(
      lost.slice(0, 20),
      [],
      `${lost.length} acknowledged messages never arrived\n${nodes.map((n) => `--- ${n.name}\n${n.log}`).join('\n')}`,
    )
    if (qos === 2) {
      const twice = [...received].filter(([, n]) => n > 1).map(([k]) => k)
      if (process.env.FAULT_DEBUG && twice.length > 0)
        console.log(seen.filter((l) => twice.includes(l.split(' ')[0]!)).join('\n'))
      assert.deepEqual(twice, [], 'QoS 2: nothing twice')
    }
    sub.end(true)
    pub.end(true)
  }

  for (const qos of [1, 2] as const) {
    test(`QoS ${qos}: the subscriber's node, then the publisher's, killed with SIGKILL and started again: nothing acknowledged is lost${qos === 2 ? ', nothing twice' : ''}`, async () => {
      const step = { killedSub: false, restartedSub: false, killedPub: false, restartedPub: false }
      await run(qos, qos === 1 ? 3000 : 1500, async (progress) => {
        if (!step.killedSub && progress > 0.2) {
          step.killedSub = true
          await kill(nodes[1]!)
        } else if (!step.restartedSub && progress > 0.4) {
          step.restartedSub = true
          await startNode(nodes[1]!, 1)
        } else if (!step.killedPub && progress > 0.55) {
          step.killedPub = true
          await kill(nodes[0]!)
        } else if (!step.restartedPub && progress > 0.75) {
          step.restartedPub = true
          await startNode(nodes[0]!, 0)
        }
      })
      assert.ok(step.killedSub && step.killedPub, 'the faults happened during the run')
      for (const [i, n] of nodes.entries()) if (n.child === null) await startNode(n, i)
    })
  }

  test('QoS 1: a NATS server killed with SIGKILL and started again under load: nothing acknowledged is lost', async () => {
    const step = { killed: false, restarted: false }
    await run(1, 3000, async (progress) => {
      if (!step.killed && progress > 0.25) {
        step.killed = true
        await nats.kill(0)
      } else if (!step.restarted && progress > 0.6) {
        step.restarted = true
        await nats.restart(0)
      }
    })
    assert.ok(step.killed, 'the fault happened during the run')
  })
})
