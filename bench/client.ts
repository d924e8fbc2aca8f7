/**
 * Client benchmark: Petrel's client against MQTT.js, publishing through a real
 * Mosquitto started here on a free loopback port.
 *
 *   npm run bench:client                          (N = 100000 per run, 5 rounds, batches of 1000)
 *   npm run bench:client -- 200000 7 1000         (N, rounds, batch)
 *
 * One run = connect a fresh client, publish N messages of PAYLOAD bytes to one
 * topic, then one QoS 1 publish as a fence (Mosquitto handles a connection's
 * packets in order, so its PUBACK means every earlier message was read), then
 * disconnect. The clock runs from the first publish to the fence's PUBACK.
 * Publishing is pipelined in batches: BATCH publishes are issued, then awaited
 * together (a producer that keeps a bounded number in flight). QoS 1 settles on
 * PUBACK for both clients; QoS 0 once written.
 *
 * Reported per client and QoS: messages per second, and the client's own CPU
 * time per message (this process's user + system time during the run). Through
 * one broker on a shared 2-core machine the rate is capped by the broker; the
 * CPU time is the client's cost whatever the broker does. Mosquitto's own
 * ceiling is measured last, with pre-encoded packets from a raw socket.
 *
 * Each round runs both clients at both QoS levels, alternating which client goes
 * first; the median of the rounds is reported.
 */
import { execSync } from 'node:child_process'
import { connect as netConnect } from 'node:net'
import { cpus } from 'node:os'
import mqtt from 'mqtt'
import { connect, encode, PacketType, type QoS } from '../src/index.js'
import { startMosquitto } from '../test/helpers/mosquitto.js'

const N = Number(process.argv[2] ?? 100_000)
const ROUNDS = Number(process.argv[3] ?? 5)
const BATCH = Number(process.argv[4] ?? 1000)
const PAYLOAD = Buffer.alloc(64, 'x')
const TOPIC = 'bench/client'

type Impl = 'petrel' | 'mqttjs'

interface Run {
  ms: number
  /** This process's CPU time (user + system) during the run, in microseconds. */
  cpu: number
}

async function runPetrel(url: string, qos: QoS, total: number): Promise<Run> {
  const c = await connect(url, { reconnect: false })
  const batch: Promise<unknown>[] = []
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let sent = 0; sent < total; ) {
    const n = Math.min(BATCH, total - sent)
    batch.length = 0
    for (let i = 0; i < n; i++) batch.push(c.publish(TOPIC, PAYLOAD, { qos }))
    await Promise.all(batch)
    sent += n
  }
  await c.publish(TOPIC, PAYLOAD, { qos: 1 })
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  await c.end()
  return { ms, cpu: cpu.user + cpu.system }
}

async function runMqttjs(url: string, qos: QoS, total: number): Promise<Run> {
  const c = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
  c.setMaxListeners(0) // MQTT.js adds a 'drain' listener per write waiting on the socket
  const batch: Promise<unknown>[] = []
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let sent = 0; sent < total; ) {
    const n = Math.min(BATCH, total - sent)
    batch.length = 0
    for (let i = 0; i < n; i++) batch.push(c.publishAsync(TOPIC, PAYLOAD, { qos }))
    await Promise.all(batch)
    sent += n
  }
  await c.publishAsync(TOPIC, PAYLOAD, { qos: 1 })
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  await c.endAsync()
  return { ms, cpu: cpu.user + cpu.system }
}

/** The broker alone: N pre-encoded PUBLISHes written in large chunks; done at the last PUBACK. */
async function rawRun(port: number, qos: QoS): Promise<number> {
  const s = netConnect({ port, host: '127.0.0.1', noDelay: true })
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve)
    s.once('error', reject)
  })
  const connack = 4
  const expect = connack + 4 * (qos === 0 ? 1 : N + 1) // PUBACKs, the fence's included
  let received = 0
  const done = new Promise<void>((resolve) => {
    s.on('data', (d: Buffer) => {
      received += d.length
      if (received >= expect) resolve()
    })
  })
  s.write(
    encode({
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
      clientId: 'petrel-bench-raw',
    }),
  )
  const packet = (q: QoS, id: number): Buffer =>
    encode({
      type: PacketType.PUBLISH,
      topic: TOPIC,
      payload: PAYLOAD,
      qos: q,
      retain: false,
      dup: false,
      packetId: id,
    })
  const chunks: Buffer[] = []
  for (let i = 0; i < N; i++) chunks.push(packet(qos, (i % 65_535) + 1))
  const t0 = performance.now()
  for (let i = 0; i < N; i += 1000) s.write(Buffer.concat(chunks.slice(i, i + 1000)))
  s.write(packet(1, 1))
  await done
  const ms = performance.now() - t0
  s.destroy()
  return (N / ms) * 1000
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function commit(): string {
  try {
    const sha = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim()
    const dirty = execSync('git status --porcelain', { encoding: 'utf8' }).trim() !== ''
    return dirty ? `${sha} (with uncommitted changes)` : sha
  } catch {
    return 'unknown'
  }
}

async function main(): Promise<void> {
  // Mosquitto leaves Nagle on by default, which holds its small PUBACK writes back
  // behind unacknowledged data: both clients would then measure TCP timers.
  const broker = await startMosquitto({ config: ['set_tcp_nodelay true'] })
  const rate: Record<string, number[]> = {}
  const cpu: Record<string, number[]> = {}
  let ceiling: [number, number] = [0, 0]
  try {
    // Warm-up: both clients at both QoS levels, a tenth of N, not recorded.
    for (const qos of [0, 1] as const) {
      await runPetrel(broker.url, qos, N / 10)
      await runMqttjs(broker.url, qos, N / 10)
    }
    for (let round = 0; round < ROUNDS; round++) {
      const order: Impl[] = round % 2 === 0 ? ['petrel', 'mqttjs'] : ['mqttjs', 'petrel']
      for (const qos of [0, 1] as const) {
        for (const impl of order) {
          const run =
            impl === 'petrel' ? await runPetrel(broker.url, qos, N) : await runMqttjs(broker.url, qos, N)
          const key = `${impl} ${qos}`
          ;(rate[key] ??= []).push((N / run.ms) * 1000)
          ;(cpu[key] ??= []).push(run.cpu / N)
        }
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`)
    }
    ceiling = [await rawRun(broker.port, 0), await rawRun(broker.port, 1)]
  } finally {
    await broker.stop()
  }
  const n = (x: number): string => Math.round(x).toLocaleString('en')
  const model = cpus()[0]?.model ?? 'unknown CPU'
  console.log(
    `Client vs MQTT.js: ${n(N)} publishes of ${PAYLOAD.length} B per run through Mosquitto on loopback,`,
  )
  console.log(`in batches of ${BATCH}; median of ${ROUNDS} rounds.`)
  console.log(`Machine: ${cpus().length} cores (${model}), Node ${process.version}; commit ${commit()}`)
  console.log('')
  console.log(
    '| QoS | Petrel msgs/s | MQTT.js msgs/s | ratio | Petrel CPU µs/msg | MQTT.js CPU µs/msg | ratio |',
  )
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const qos of [0, 1] as const) {
    const p = median(rate[`petrel ${qos}`]!)
    const m = median(rate[`mqttjs ${qos}`]!)
    const pc = median(cpu[`petrel ${qos}`]!)
    const mc = median(cpu[`mqttjs ${qos}`]!)
    console.log(
      `| ${qos} | ${n(p)} | ${n(m)} | ${(p / m).toFixed(2)}x | ${pc.toFixed(2)} | ${mc.toFixed(2)} | ${(mc / pc).toFixed(2)}x |`,
    )
  }
  console.log('')
  console.log(
    `Mosquitto's own ceiling in this run (raw socket, pre-encoded packets): QoS 0 ${n(ceiling[0])}, QoS 1 ${n(ceiling[1])} msgs/s`,
  )
}

await main()
