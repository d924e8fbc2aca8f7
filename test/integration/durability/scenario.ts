/**
 * The QoS 1/2 crash scenario shared by qos1.test.ts and qos2.test.ts.
 *
 * A publisher sends `total` distinct messages with a window of flows in flight.
 * After a random number of acknowledgements the broker gets SIGKILL and the
 * publisher loses its connection at that very packet (acknowledgements already
 * on their way are never seen), `kills` times. Each time the broker restarts on
 * the same port and data dir; the connected subscribers and the publisher
 * reconnect, and the publisher re-sends what was not acknowledged (DUP 1, same
 * packet id; PUBREL for QoS 2 flows past PUBREC) and goes on until every flow
 * completes. Three persistent subscribers see this from different states (see
 * below); at the end all collect until idle, and one more kill -9 must bring
 * nothing back. Seeded: a failure names the seed to replay (PETREL_CRASH_SEED).
 */
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { BrokerProcess, Random, settle, sleep } from './harness.js'
import { WirePublisher, WireSubscriber } from './peers.js'

export interface ScenarioOptions {
  qos: 1 | 2
  total: number
  window: number
  kills: number
}

export interface ScenarioResult {
  publisher: WirePublisher
  subscribers: WireSubscriber[]
  /** All payloads the publisher may have sent. */
  published: Set<string>
  /** Payloads whose PUBACK/PUBREC the publisher had received when the broker was first killed. */
  ackedBeforeFirstKill: Set<string>
  /** Seed, kill points and the broker's output, for failure messages. */
  describe(): string
}

/** Waits for a subscriber's connection to drop (the broker was killed), then reconnects it. */
async function rejoin(s: WireSubscriber, port: number): Promise<void> {
  if (s.client !== null) await s.client.closed
  assert.equal(
    await s.connect(port),
    true,
    `${s.clientId}: CONNACK session present after the restart [MQTT-3.2.2-2]`,
  )
}

export async function runCrashScenario(t: TestContext, o: ScenarioOptions): Promise<ScenarioResult> {
  const rnd = new Random()
  const context = { describe: (): string => `seed ${rnd.seed} (replay with PETREL_CRASH_SEED=${rnd.seed})` }
  try {
    return await scenario(t, o, rnd, context)
  } catch (err) {
    // Every failure names the seed and shows the broker's output (with its last words).
    await sleep(300)
    if (err instanceof Error && !err.message.includes('PETREL_CRASH_SEED'))
      err.message += `\n${context.describe()}`
    throw err
  }
}

async function scenario(
  t: TestContext,
  o: ScenarioOptions,
  rnd: Random,
  context: { describe: () => string },
): Promise<ScenarioResult> {
  const killAt = Array.from({ length: o.kills }, () => rnd.int(1, o.total - 1)).sort((a, b) => a - b)
  const broker = await BrokerProcess.start(t)
  const topic = `crash/qos${o.qos}`
  const describe = (): string =>
    `seed ${rnd.seed} (replay with PETREL_CRASH_SEED=${rnd.seed}), kills after ${killAt.join(', ')} acks, ` +
    `acks at each kill ${ackedAtKill.join(', ')}\nbroker output:\n${broker.log.slice(-4000)}`
  context.describe = describe

  // Three persistent subscribers: `away` is gone while everything is published (its messages
  // wait in the store), `late` comes back after the first restart (it drains a restored queue
  // while the broker may die again), `live` stays and acknowledges slowly (its inflight window
  // fills, so messages are in flight and queued when the broker dies).
  const away = new WireSubscriber(`crash-qos${o.qos}-away`)
  const late = new WireSubscriber(`crash-qos${o.qos}-late`)
  const live = new WireSubscriber(`crash-qos${o.qos}-live`, 3)
  const subscribers = [away, late, live]
  for (const s of subscribers) {
    assert.equal(await s.connect(broker.port), false)
    assert.deepEqual(await s.subscribe(topic, o.qos), [o.qos])
  }
  await away.disconnect()
  await late.disconnect()
  const connected = [live]

  let killed = false
  let kills = 0
  const ackedAtKill: number[] = []
  const publisher = new WirePublisher({
    clientId: `crash-qos${o.qos}-pub`,
    // QoS 2 exactly once across reconnects needs the broker to keep the publisher's session [MQTT-4.3.3-2].
    clean: o.qos === 1,
    qos: o.qos,
    topic,
    total: o.total,
    window: o.window,
    onAck: (acked) => {
      if (killed || kills === killAt.length || acked < killAt[kills]!) return false
      killed = true
      kills++
      broker.note(`kill at ${acked} acks`)
      broker.killNow()
      // The publisher loses its connection here: acknowledgements already on the way are
      // never seen, so it re-sends those messages (the broker must not pass them on twice).
      return true
    },
  })
  let ackedBeforeFirstKill = new Set<string>()

  for (;;) {
    const outcome = await publisher.run(broker.port)
    broker.note(`publisher: ${outcome}`)
    // The last acknowledgement may be the one that triggers the kill: then the publisher
    // is done and the broker dying at the same time.
    if (outcome === 'done' && !killed) break
    assert.ok(killed, `the publisher's connection dropped although the broker was not killed\n${describe()}`)
    await broker.kill()
    ackedAtKill.push(publisher.acked.size)
    if (ackedAtKill.length === 1)
      ackedBeforeFirstKill = new Set([...publisher.acked].map((i) => publisher.payload(i)))
    await broker.restart()
    killed = false
    for (const s of connected) await rejoin(s, broker.port)
    if (ackedAtKill.length === 1) {
      assert.equal(
        await late.connect(broker.port),
        true,
        `${late.clientId}: session present after the restart`,
      )
      connected.push(late)
    }
    broker.note('subscribers back')
    if (outcome === 'done') break
  }
  assert.equal(kills, o.kills, `the broker was killed ${o.kills} times\n${describe()}`)
  assert.deepEqual(publisher.violations, [], describe())
  assert.equal(publisher.completed.size, o.total)
  if (o.qos === 2) {
    assert.ok(
      publisher.sessionPresent.slice(1).every((p) => p),
      `the publisher's persistent session survives each kill\n${describe()}`,
    )
  }

  assert.equal(await away.connect(broker.port), true, `${away.clientId}: session present after restarts`)
  const published = publisher.allPayloads()
  const deadline = Date.now() + 20_000
  for (const s of subscribers) {
    await settle(
      () => s.packets,
      () => s.counts().size >= published.size && s.pendingQos2 === 0,
      400,
      3000,
      deadline,
    )
  }
  const result: ScenarioResult = { publisher, subscribers, published, ackedBeforeFirstKill, describe }

  // Once every flow completed, a further kill -9 must bring nothing back.
  await broker.kill()
  await broker.restart()
  const before = subscribers.map((s) => s.packets)
  for (const s of subscribers) await rejoin(s, broker.port)
  await sleep(400)
  assert.deepEqual(
    subscribers.map((s) => s.packets),
    before,
    `completed flows are not re-sent after another restart\n${describe()}`,
  )
  for (const s of subscribers) await s.disconnect()
  return result
}

/** Asserts that `s` was handed every payload of `expected`, and nothing that was not published. */
export function assertDelivered(s: WireSubscriber, r: ScenarioResult, expected: Set<string>): void {
  const counts = s.counts()
  const missing = [...expected].filter((p) => !counts.has(p))
  assert.deepEqual(
    missing.slice(0, 20),
    [],
    `${s.clientId}: ${missing.length} acknowledged message(s) lost (first 20 shown)\n${r.describe()}`,
  )
  const invented = [...counts.keys()].filter((p) => !r.published.has(p))
  assert.deepEqual(
    invented.slice(0, 20),
    [],
    `${s.clientId}: payloads that were never published\n${r.describe()}`,
  )
  assert.deepEqual(s.violations, [], `${s.clientId}: protocol violations\n${r.describe()}`)
}
