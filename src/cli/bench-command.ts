import { shownUrl } from '../client/transport-for.js'
import { ConfigError } from '../errors.js'
import type { QoS } from '../protocol/constants.js'
import { withoutQueryValues } from '../transport/ws-connect.js'
import { type FlagSpec, has, intFlag, last, type ParsedArgs, parseArgs, usage } from './args.js'
import { formatProgress, formatTable } from './bench/report.js'
import { BenchAbort, type BenchOptions, HEADER_BYTES, runBench } from './bench/run.js'
import { DEFAULT_CLIENTS, isScenario, SCENARIOS, type ScenarioName } from './bench/scenario.js'
import { shapeFlags } from './bench/shape-flags.js'
import { endpointOf, endpointTransport, TLS_FLAGS } from './endpoint.js'
import { protocolVersionOf } from './properties.js'

/** Exit codes of `petrel bench` (those of the repo's loadgen). */
export const BenchExit = { OK: 0, LOSS: 1, USAGE: 2 } as const

/** Messages per publisher when neither --count nor --duration is given. */
// About 100,000 deliveries each: long enough for the JIT to warm up, short enough to repeat.
const DEFAULT_COUNT: Record<ScenarioName, number> = {
  one2one: 100_000,
  fanin: 5000,
  fanout: 5000,
  mesh: 250,
  conn: 0,
}

const FLAGS: FlagSpec[] = [
  { name: 'host', short: 'h', value: true, arg: 'host', help: 'broker host (default localhost)' },
  { name: 'port', short: 'p', value: true, arg: 'port', help: 'broker port (default 1883; 8883 with TLS)' },
  {
    name: 'url',
    short: 'L',
    value: true,
    arg: 'url',
    help: 'the broker as a URL: mqtt://, mqtts://, ws:// or wss://[user[:password]@]host[:port][/path]',
  },
  { name: 'username', short: 'u', value: true, arg: 'user', help: 'user name for every connection' },
  { name: 'pw', short: 'P', value: true, arg: 'password', help: 'password' },
  {
    name: 'clients',
    short: 'c',
    value: true,
    arg: 'n',
    help: 'pairs (one2one, default 1), publishers (fanin, 20), subscribers (fanout, 20), peers (mesh, 20), connections (conn, 1000)',
  },
  {
    name: 'qos',
    short: 'q',
    value: true,
    arg: '0|1|2',
    help: 'QoS of publishes and subscriptions (default 0)',
  },
  {
    name: 'size',
    short: 's',
    value: true,
    arg: 'bytes',
    help: `payload size, at least ${HEADER_BYTES} (default 64)`,
  },
  {
    name: 'count',
    short: 'n',
    value: true,
    arg: 'n',
    help: 'messages per publisher (default one2one 100000, fanin and fanout 5000, mesh 250)',
  },
  {
    name: 'rate',
    short: 'r',
    value: true,
    arg: 'n',
    help: 'messages per second per publisher (conn --active: per active connection, default 10); default: as fast as it goes',
  },
  {
    name: 'duration',
    short: 'd',
    value: true,
    arg: 'seconds',
    help: 'publish for this long (conn: the same as --hold)',
  },
  {
    name: 'topics',
    value: true,
    arg: 'k',
    help: 'topics per publisher: message seq goes to <topic>/<seq % k>, subscribers take <topic>/# (default 1)',
  },
  {
    name: 'retain',
    value: false,
    help: 'set RETAIN on every publish; topics are then petrel-bench/retained/<scenario>/..., the same every run',
  },
  {
    name: 'clear-retained',
    value: false,
    help: 'with --retain: at the end, delete the retained messages the run left (an empty retained publish per topic)',
  },
  {
    name: 'hold',
    value: true,
    arg: 'seconds',
    help: 'conn: keep the connections open this long (default 0)',
  },
  {
    name: 'active',
    value: true,
    arg: 'percent',
    help: 'conn: this share of the connections publish --rate msg/s each to their own topic, subscribed by themselves',
  },
  {
    name: 'connect-rate',
    value: true,
    arg: 'n',
    help: 'conn: connections opened per second (default: as fast as --concurrency allows)',
  },
  {
    name: 'inflight',
    value: true,
    arg: 'n',
    help: 'publishes awaiting their ack (QoS 0: being written) per publisher (default 100; QoS 0: 1000)',
  },
  { name: 'timeout', value: true, arg: 'seconds', help: 'wait this long for missing messages (default 10)' },
  { name: 'concurrency', value: true, arg: 'n', help: 'connections opened at once (default 100)' },
  {
    name: 'protocol-version',
    short: 'V',
    value: true,
    arg: '5|4',
    help: 'MQTT version of every connection: 5 (or mqttv5), 4 (311, mqttv311: the default) or 3 (31)',
  },
  ...TLS_FLAGS,
  { name: 'json', value: false, help: 'print the result as JSON' },
  { name: 'help', value: false, help: 'show this help' },
]

const TITLE = `Usage: petrel bench <${SCENARIOS.join('|')}> [options]

Load-tests an MQTT 3.1.1 or MQTT 5 broker (any broker): connects the clients, subscribes, publishes,
and reports throughput, end-to-end latency, lost and duplicated messages.
  one2one  pairs: publisher i -> subscriber i
  fanin    many publishers -> 1 subscriber (a '+' filter; '#' with --topics)
  fanout   1 publisher -> many subscribers of the same topic
  mesh     every peer publishes to its own topic and subscribes to all of them
  conn     many idle connections: connect rate and CONNECT->CONNACK time, then held for --hold
           (--active: some of them publish to themselves at --rate meanwhile, with their latency)
Exit status: 0 all delivered; 1 messages lost, publishes failed or connections dropped;
2 bad options, or the broker refused a connection or subscription.`

function parse(argv: string[]): { options: BenchOptions; json: boolean } | 'help' {
  const args: ParsedArgs = parseArgs(argv, FLAGS)
  if (has(args, 'help')) return 'help'
  const [scenario, extra] = args.positionals
  if (scenario === undefined) {
    throw new ConfigError('scenario', `give a scenario: ${SCENARIOS.join(', ')}`)
  }
  if (!isScenario(scenario)) {
    throw new ConfigError('scenario', `unknown scenario '${scenario}'; scenarios: ${SCENARIOS.join(', ')}`)
  }
  if (extra !== undefined) throw new ConfigError(extra, `unexpected argument '${extra}'`)
  const qos = intFlag(args, 'qos', 0, 0, 2) as QoS
  const shape = shapeFlags(args, scenario)
  const duration = shape.conn ? 0 : intFlag(args, 'duration', 0, 0, 86_400)
  const countGiven = has(args, 'count')
  let count = intFlag(args, 'count', shape.conn ? 2 ** 32 - 1 : DEFAULT_COUNT[scenario], 1, 2 ** 32 - 1)
  const rate =
    shape.active > 0 ? intFlag(args, 'rate', 10, 1, 10_000_000) : intFlag(args, 'rate', 0, 0, 10_000_000)
  if (!countGiven && duration > 0) count = Number.POSITIVE_INFINITY
  // At a fixed rate the duration gives the count exactly (timers may fire a little early).
  if (rate > 0 && duration > 0) count = Math.min(count, rate * duration)
  // conn --active: the active connections publish at the rate while the connections are held.
  if (shape.active > 0) count = Math.min(count, rate * shape.hold)
  const endpoint = endpointOf(args)
  if (endpoint.topic !== undefined) {
    throw new ConfigError(
      'url',
      `-L takes no topic here (the scenarios pick their own): ${shownUrl(last(args, 'url') ?? '')}`,
    )
  }
  const options: BenchOptions = {
    // What the report shows; the connections use the transport (a ws query's values, often a token, stay out).
    url: endpoint.url.includes('?') ? withoutQueryValues(new URL(endpoint.url)) : endpoint.url,
    // One transport for every connection: the certificates are parsed once.
    transport: endpointTransport(endpoint),
    scenario,
    clients: intFlag(args, 'clients', DEFAULT_CLIENTS[scenario], 1, 1_000_000),
    qos,
    size: intFlag(args, 'size', 64, HEADER_BYTES, 256 * 1024 * 1024),
    count,
    rate,
    duration,
    inflight: intFlag(args, 'inflight', qos === 0 ? 1000 : 100, 1, 65_535),
    timeout: intFlag(args, 'timeout', 10, 1, 3600),
    connectConcurrency: intFlag(args, 'concurrency', 100, 1, 100_000),
    topics: shape.topics,
    retain: shape.retain,
    clearRetained: shape.clearRetained,
  }
  if (shape.conn) {
    options.hold = shape.hold
    options.active = shape.active
    options.connectRate = shape.connectRate
  }
  const v = last(args, 'protocol-version')
  if (v !== undefined) {
    // The level byte (3, 4, 5) too, besides mosquitto's names.
    const version = v === '4' ? 4 : v === '3' ? 3 : protocolVersionOf(v)
    if (version === undefined) {
      throw new ConfigError(
        'protocol-version',
        `--protocol-version must be 5, 4 or 3 (or mqttv5, mqttv311, mqttv31); got '${v}'`,
      )
    }
    options.protocolVersion = version
  }
  const { username, password } = endpoint
  if (password !== undefined && username === undefined)
    throw new ConfigError('pw', '-P needs a user name (-u)')
  if (username !== undefined) options.username = username
  if (password !== undefined) options.password = password
  return { options, json: has(args, 'json') }
}

/** `petrel bench`: a load generator for any MQTT broker. */
export async function runBenchCommand(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`petrel bench: ${err.message}; see petrel bench --help\n`)
      return BenchExit.USAGE
    }
    throw err
  }
  if (parsed === 'help') {
    process.stdout.write(usage(TITLE, FLAGS))
    return BenchExit.OK
  }
  const { options, json } = parsed
  const live = process.stderr.isTTY === true
  if (live) options.onProgress = (p) => process.stderr.write(`\r\x1b[K${formatProgress(options, p)}`)
  let result: Awaited<ReturnType<typeof runBench>>
  try {
    result = await runBench(options)
  } catch (err) {
    if (live) process.stderr.write('\r\x1b[K')
    if (err instanceof BenchAbort) {
      process.stderr.write(`petrel bench: ${err.message}\n`)
      return BenchExit.USAGE
    }
    throw err
  }
  if (live) process.stderr.write('\r\x1b[K')
  process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : formatTable(result))
  const c = result.connections
  const bad = result.lost > 0 || result.errors > 0 || c.failed > 0 || c.dropped > 0
  return bad ? BenchExit.LOSS : BenchExit.OK
}
