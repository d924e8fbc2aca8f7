import { type Client, connect } from '../client/client.js'
import type { QoS } from '../protocol/constants.js'
import { SUBACK_FAILURE } from '../protocol/constants.js'
import { isValidTopicFilter } from '../protocol/topic.js'
import { type FlagSpec, has, last, type ParsedArgs } from './args.js'
import {
  CONNECTION_FLAGS,
  connectFailure,
  connectionTarget,
  runTool,
  ToolError,
  ToolExit,
  topicsOf,
} from './client-flags.js'

const FLAGS: FlagSpec[] = [
  {
    name: 'topic',
    short: 't',
    value: true,
    arg: 'filter',
    help: 'topic filter to subscribe to (repeatable)',
  },
  { name: 'count', short: 'C', value: true, arg: 'n', help: 'exit after n messages' },
  {
    name: 'timeout',
    short: 'W',
    value: true,
    arg: 'seconds',
    help: 'exit (status 27) after this many seconds',
  },
  { name: 'verbose', short: 'v', value: false, help: "print 'topic payload' (empty payloads as '(null)')" },
  { name: 'no-eol', short: 'N', value: false, help: 'print no newline after each message' },
  { name: 'no-retained', short: 'R', value: false, help: 'skip stale messages (those with the retain flag)' },
  { name: 'exit-after-sub', short: 'E', value: false, help: 'exit once the subscriptions are acknowledged' },
  ...CONNECTION_FLAGS,
]

const TITLE = `Usage: petrel sub {-t filter ... | -L URL} [options]

Subscribes and prints every message it receives, like mosquitto_sub. Reconnects if the
connection is lost. Exit status: 0 done (-C, -E, SIGINT or SIGTERM); 27 -W timed out;
1-5 connection refused (the CONNACK code); 1 other errors.`

const NEWLINE = Buffer.from('\n')

interface SubSettings {
  topics: string[]
  qos: QoS
  count: number
  timeout: number
  verbose: boolean
  eol: boolean
  noRetained: boolean
  exitAfterSub: boolean
}

/** `petrel sub`: like mosquitto_sub. */
export function runSub(argv: string[]): Promise<number> {
  return runTool(argv, FLAGS, TITLE, subscribe)
}

function positive(args: ParsedArgs, name: string, what: string): number {
  const v = last(args, name)
  if (v === undefined) return 0
  const n = /^\d+$/.test(v) ? Number(v) : 0
  if (n < 1 || !Number.isSafeInteger(n)) throw new ToolError(`Error: Invalid ${what} "${v}".`)
  return n
}

function settingsOf(args: ParsedArgs, topics: string[], qos: QoS): SubSettings {
  if (args.positionals.length > 0) throw new ToolError(`Error: Unexpected argument '${args.positionals[0]}'.`)
  if (topics.length === 0) throw new ToolError('Error: You must specify a topic to subscribe to.')
  for (const t of topics) {
    if (!isValidTopicFilter(t)) {
      throw new ToolError(`Error: Invalid subscription topic '${t}', are all '+' and '#' wildcards correct?`)
    }
  }
  return {
    topics,
    qos,
    count: positive(args, 'count', 'message count'),
    timeout: positive(args, 'timeout', 'timeout'),
    verbose: has(args, 'verbose'),
    eol: !has(args, 'no-eol'),
    noRetained: has(args, 'no-retained'),
    exitAfterSub: has(args, 'exit-after-sub'),
  }
}

async function subscribe(args: ParsedArgs): Promise<number> {
  const target = connectionTarget(args)
  const s = settingsOf(args, topicsOf(args, target), target.qos)
  // Like mosquitto_sub: the first connection must succeed; later losses are retried.
  target.options.reconnect = true

  let finish: (code: number) => void = () => {}
  const finished = new Promise<number>((resolve) => (finish = resolve))
  let timer: NodeJS.Timeout | undefined
  if (s.timeout > 0) {
    timer = setTimeout(() => {
      process.stderr.write('Timed out\n')
      finish(ToolExit.TIMEOUT)
    }, s.timeout * 1000)
  }
  const stop = (): void => finish(ToolExit.OK)
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    let client: Client
    try {
      client = await Promise.race([connect(target.url, target.options), finished.then(() => null)]).then(
        (c) => {
          if (c === null) throw new Interrupted()
          return c
        },
      )
    } catch (err) {
      if (err instanceof Interrupted) return await finished
      throw connectFailure(err, target.where)
    }
    client.on('error', () => {}) // failed reconnect attempts: it keeps trying, as mosquitto_sub does
    let closeError: ToolError | undefined
    client.once('close', (err) => {
      // It gave up (e.g. a reconnect refused for good).
      if (err === undefined) return
      closeError = connectFailure(err, target.where)
      finish(-1)
    })
    let received = 0
    let printing = true
    client.on('message', (topic, payload, packet) => {
      if (!printing || (s.noRetained && packet.retain)) return
      print(topic, payload, s)
      if (s.count > 0 && ++received >= s.count) {
        printing = false
        finish(ToolExit.OK)
      }
    })
    const filters: Record<string, QoS> = {}
    for (const t of s.topics) filters[t] = s.qos
    client.subscribe(filters).then(
      (codes) => {
        if (codes.every((c) => c === SUBACK_FAILURE)) {
          process.stderr.write('All subscription requests were denied.\n')
          finish(ToolExit.ERROR)
        } else if (s.exitAfterSub) finish(ToolExit.OK)
      },
      () => {}, // the connection was lost before SUBACK: 'close' or a resubscribe follows
    )
    const code = await finished
    if (code === -1 && closeError !== undefined) throw closeError
    await client.end()
    return code
  } finally {
    if (timer !== undefined) clearTimeout(timer)
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

class Interrupted extends Error {}

/** Prints one message the way mosquitto_sub does (payload bytes as they are). */
function print(topic: string, payload: Buffer, s: SubSettings): void {
  const out = process.stdout
  if (s.verbose) {
    if (payload.length > 0) {
      out.write(`${topic} `)
      out.write(payload)
      if (s.eol) out.write(NEWLINE)
    } else if (s.eol) out.write(`${topic} (null)\n`)
  } else if (payload.length > 0) {
    out.write(payload)
    if (s.eol) out.write(NEWLINE)
  }
}
