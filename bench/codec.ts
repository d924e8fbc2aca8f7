/**
 * Codec micro-benchmark: Petrel's Decoder / encode() against mqtt-packet's
 * parser() / generate(), on the same logical packets and the same input bytes.
 *
 *   npm run bench:codec            (all cases)
 *   npm run bench:codec -- publish (only cases whose name contains "publish")
 *
 * Three kinds of case per packet:
 * - parse 1/push: one whole packet per push()/parse() call (a read that holds
 *   exactly one packet: the latency path of a quiet connection);
 * - parse stream: a chunk of 64 back-to-back copies of the packet per call (a
 *   busy connection's socket read); ops/s counts packets, not chunks;
 * - generate: one packet object in, one Buffer out.
 * Both implementations get the identical Buffer / packet object, a long-lived
 * parser built once per case, and a callback of identical shape.
 *
 * Harness: every case of both implementations is run once first so that the JIT
 * sees all packet shapes (as a broker does), then per case each implementation
 * is calibrated to ~ROUND_MS per round, and ROUNDS timed rounds alternate the
 * order of the two implementations. Ops/s are the medians of the rounds; the
 * ratio is the median of the per-round ratios (each round's two runs are
 * adjacent in time, so this ratio is the one least moved by load from other
 * processes), and "spread" the interquartile range of those ratios relative to
 * the median, as a noise gauge. Results are consumed into a sink that is
 * printed, so no work can be dropped as dead.
 */
import { type Packet as MqttPacket, generate as mqttGenerate, parser as mqttParser } from 'mqtt-packet'
import { Decoder, encode, type Packet, PacketType } from '../src/protocol/index.js'

// Many short rounds rather than a few long ones: with the two implementations
// interleaved finely, a burst of load from elsewhere hits both alike.
const ROUND_MS = 100
const ROUNDS = 10
const STREAM_PACKETS = 64

interface Sample {
  petrel: Packet
  mqtt: MqttPacket
}

const TOPIC = 'sensors/room-42/temperature'
const payload16 = Buffer.from('0123456789abcdef')
const payload1k = Buffer.alloc(1024, 'x')

function publish(qos: 0 | 1, payload: Buffer): Sample {
  return {
    petrel: {
      type: PacketType.PUBLISH,
      topic: TOPIC,
      payload,
      qos,
      retain: false,
      dup: false,
      packetId: qos ? 1234 : 0,
    },
    mqtt: qos
      ? { cmd: 'publish', topic: TOPIC, payload, qos, retain: false, dup: false, messageId: 1234 }
      : { cmd: 'publish', topic: TOPIC, payload, qos, retain: false, dup: false },
  }
}

const password = Buffer.from('correct-horse-battery-staple')
const willPayload = Buffer.from('offline')

const samples: [string, Sample][] = [
  ['publish qos0 16 B', publish(0, payload16)],
  ['publish qos0 1 KiB', publish(0, payload1k)],
  ['publish qos1 16 B', publish(1, payload16)],
  ['publish qos1 1 KiB', publish(1, payload1k)],
  [
    'connect + will',
    {
      petrel: {
        type: PacketType.CONNECT,
        protocolName: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        clientId: 'petrel-bench-client-0001',
        will: {
          topic: 'clients/petrel-bench-client-0001/status',
          payload: willPayload,
          qos: 1,
          retain: true,
        },
        username: 'bench-user',
        password,
      },
      mqtt: {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        clientId: 'petrel-bench-client-0001',
        will: {
          topic: 'clients/petrel-bench-client-0001/status',
          payload: willPayload,
          qos: 1,
          retain: true,
        },
        username: 'bench-user',
        password,
      },
    },
  ],
  [
    'subscribe 2 filters',
    {
      petrel: {
        type: PacketType.SUBSCRIBE,
        packetId: 42,
        subscriptions: [
          { topic: 'sensors/+/temperature', qos: 1 },
          { topic: 'alerts/#', qos: 2 },
        ],
      },
      mqtt: {
        cmd: 'subscribe',
        messageId: 42,
        subscriptions: [
          { topic: 'sensors/+/temperature', qos: 1 },
          { topic: 'alerts/#', qos: 2 },
        ],
      },
    },
  ],
  [
    'puback',
    { petrel: { type: PacketType.PUBACK, packetId: 1234 }, mqtt: { cmd: 'puback', messageId: 1234 } },
  ],
]

/** Runs `n` operations and returns a value derived from every result. */
type Body = (n: number) => number

interface Case {
  kind: 'parse' | 'generate'
  name: string
  /** Packets handled per call of the body's inner loop step. */
  perOp: number
  petrel: Body
  mqtt: Body
}

let sink = 0
// The last packet each parser delivered escapes here, so no parse can be elided.
let lastPacket: unknown = null

function parseBodies(chunk: Buffer): { petrel: Body; mqtt: Body } {
  let petrelCount = 0
  const decoder = new Decoder((p) => {
    petrelCount++
    lastPacket = p
  })
  let mqttCount = 0
  const parser = mqttParser({ protocolVersion: 4 })
  parser.on('packet', (p) => {
    mqttCount++
    lastPacket = p
  })
  parser.on('error', (err: unknown) => {
    throw err
  })
  return {
    petrel: (n) => {
      for (let i = 0; i < n; i++) decoder.push(chunk)
      return petrelCount
    },
    mqtt: (n) => {
      for (let i = 0; i < n; i++) parser.parse(chunk)
      return mqttCount
    },
  }
}

function buildCases(): Case[] {
  const cases: Case[] = []
  for (const [name, s] of samples) {
    const bytes = encode(s.petrel)
    const theirs = mqttGenerate(s.mqtt)
    if (!bytes.equals(theirs)) {
      throw new Error(
        `${name}: the two encoders disagree:\n ${bytes.toString('hex')}\n ${theirs.toString('hex')}`,
      )
    }
    checkParsersAgree(name, bytes)
    cases.push({ kind: 'parse', name: `${name}, 1/push`, perOp: 1, ...parseBodies(bytes) })
    const stream = Buffer.concat(new Array<Buffer>(STREAM_PACKETS).fill(bytes))
    const streamBodies = parseBodies(stream)
    // one call must deliver every packet of the chunk, from both parsers
    if (streamBodies.petrel(1) !== STREAM_PACKETS || streamBodies.mqtt(1) !== STREAM_PACKETS) {
      throw new Error(`${name}: a parser did not deliver all ${STREAM_PACKETS} packets of the chunk`)
    }
    cases.push({ kind: 'parse', name: `${name}, stream`, perOp: STREAM_PACKETS, ...streamBodies })
    const { petrel, mqtt } = s
    cases.push({
      kind: 'generate',
      name,
      perOp: 1,
      petrel: (n) => {
        let total = 0
        for (let i = 0; i < n; i++) total += encode(petrel).length
        return total
      },
      mqtt: (n) => {
        let total = 0
        for (let i = 0; i < n; i++) total += mqttGenerate(mqtt).length
        return total
      },
    })
  }
  return cases
}

/** Both parsers must deliver one packet with the same key fields from the bytes. */
function checkParsersAgree(name: string, bytes: Buffer): void {
  const ours: Packet[] = []
  new Decoder((p) => ours.push(p)).push(bytes)
  const theirs: MqttPacket[] = []
  const parser = mqttParser({ protocolVersion: 4 })
  parser.on('packet', (p) => theirs.push(p))
  parser.parse(bytes)
  const a = ours[0]
  const b = theirs[0]
  const fail = () => new Error(`${name}: the two parsers disagree`)
  if (ours.length !== 1 || theirs.length !== 1 || a === undefined || b === undefined) throw fail()
  if (a.type === PacketType.PUBLISH && b.cmd === 'publish') {
    if (a.topic !== b.topic || !a.payload.equals(b.payload as Buffer) || a.qos !== b.qos) throw fail()
  } else if (a.type === PacketType.CONNECT && b.cmd === 'connect') {
    if (a.clientId !== b.clientId || a.username !== b.username || a.will?.topic !== b.will?.topic)
      throw fail()
  } else if (a.type === PacketType.SUBSCRIBE && b.cmd === 'subscribe') {
    if (a.subscriptions.length !== b.subscriptions.length || a.packetId !== b.messageId) throw fail()
  } else if (a.type === PacketType.PUBACK && b.cmd === 'puback') {
    if (a.packetId !== b.messageId) throw fail()
  } else {
    throw fail()
  }
}

function timeMs(body: Body, n: number): number {
  const t0 = process.hrtime.bigint()
  sink += body(n)
  return Number(process.hrtime.bigint() - t0) / 1e6
}

/** Iterations that take about ROUND_MS. */
function calibrate(body: Body): number {
  let n = 1
  for (;;) {
    const ms = timeMs(body, n)
    if (ms >= 20) return Math.max(1, Math.round((n * ROUND_MS) / ms))
    n *= ms < 2 ? 10 : 2
  }
}

/** The q-quantile (0..1) of xs, interpolated. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  const at = (s.length - 1) * q
  const lo = Math.floor(at)
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (at - lo)
}

interface Result {
  c: Case
  petrel: number
  mqtt: number
  ratio: number
  spread: number
}

function measure(c: Case): Result {
  const nP = calibrate(c.petrel)
  const nM = calibrate(c.mqtt)
  const p: number[] = []
  const m: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    if (r % 2 === 0) {
      p.push((nP * c.perOp * 1000) / timeMs(c.petrel, nP))
      m.push((nM * c.perOp * 1000) / timeMs(c.mqtt, nM))
    } else {
      m.push((nM * c.perOp * 1000) / timeMs(c.mqtt, nM))
      p.push((nP * c.perOp * 1000) / timeMs(c.petrel, nP))
    }
  }
  const ratios = p.map((x, i) => x / m[i]!)
  const ratio = quantile(ratios, 0.5)
  return {
    c,
    petrel: quantile(p, 0.5),
    mqtt: quantile(m, 0.5),
    ratio,
    spread: (quantile(ratios, 0.75) - quantile(ratios, 0.25)) / ratio,
  }
}

function geomean(xs: number[]): number {
  return Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length)
}

const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

function main(): void {
  const filter = process.argv[2] ?? ''
  const cases = buildCases().filter((c) => `${c.kind} ${c.name}`.includes(filter))
  // Warm-up: every shape through both implementations before any timing.
  for (const c of cases) {
    sink += c.petrel(200) + c.mqtt(200)
  }
  const header = `${'case'.padEnd(40)}${'petrel ops/s'.padStart(15)}${'mqtt-packet ops/s'.padStart(20)}${'ratio'.padStart(9)}${'spread'.padStart(8)}`
  console.log(header)
  console.log('-'.repeat(header.length))
  const results: Result[] = []
  for (const c of cases) {
    const r = measure(c)
    results.push(r)
    console.log(
      `${`${c.kind} ${c.name}`.padEnd(40)}${fmt.format(r.petrel).padStart(15)}${fmt.format(r.mqtt).padStart(20)}${`${r.ratio.toFixed(2)}x`.padStart(9)}${`${(r.spread * 100).toFixed(0)}%`.padStart(8)}`,
    )
  }
  const ratio = (kind: Case['kind']) =>
    geomean(results.filter((r) => r.c.kind === kind).map((r) => r.ratio)).toFixed(2)
  console.log(`(sink ${sink % 997}, ${lastPacket === null ? 'none' : 'some'})`)
  console.log(`codec vs mqtt-packet: parse ${ratio('parse')}x, generate ${ratio('generate')}x`)
}

main()
