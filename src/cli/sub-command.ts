import type { QoS } from '../protocol/constants.js'
import { SUBACK_FAILURE } from '../protocol/constants.js'
import type { PublishPacket } from '../protocol/packets.js'
import { isValidTopicFilter } from '../protocol/topic.js'
import { type FlagSpec, has, last, type ParsedArgs } from './args.js'
import {
  CONNECTION_FLAGS,
  connectFailure,
  connectionTarget,
  connectTo,
  disconnectOptions,
  runTool,
  ToolError,
  ToolExit,
} from './client-flags.js'
import { type Format, FormatError, formatMessage, parseFormat } from './format.js'

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
  {
    name: 'format',
    short: 'F',
    value: true,
    arg: 'format',
    help: "print in this format, as mosquitto_sub -F ('%t %p', MQTT 5 properties %A %C %D %E %F %P %R %S)",
  },
  ...CONNECTION_FLAGS,
]

const TITLE = `Usage: petrel sub {-t filter ... | -L URL} [options]

Subscribes and prints every message it receives, like mosquitto_sub. Reconnects if the
connection is lost. Exit status: 0 done (-C, -E, SIGINT or SIGTERM); 27 -W timed out;
1-5 connection refused (the CONNACK code); 1 other errors.`

const NEWLINE = Buffer.from('\n')

type SubSettings = ReturnType<typeof settingsOf>

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

/** The flags only sub has, checked; the topics and QoS stay in the Target. */
function settingsOf(args: ParsedArgs, topics: string[]) {
  if (args.positionals.length > 0) throw new ToolError(`Error: Unexpected argument '${args.positionals[0]}'.`)
  if (topics.length === 0) throw new ToolError('Error: You must specify a topic to subscribe to.')
  for (const t of topics) {
    if (!isValidTopicFilter(t)) {
      throw new ToolError(`Error: Invalid subscription topic '${t}', are all '+' and '#' wildcards correct?`)
    }
  }
  const format = last(args, 'format')
  let tokens: Format | null = null
  if (format !== undefined) {
    try {
      tokens = parseFormat(format)
    } catch (err) {
      if (err instanceof FormatError) throw new ToolError(err.message)
      throw err
    }
  }
  return {
    format: tokens,
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
  const s = settingsOf(args, target.topics)
  // Like mosquitto_sub: the first connection must succeed; later losses are retried.
  target.options.reconnect = true

  let finish: (code: number) => void = () => {}
  let fail: (err: ToolError) => void = () => {}
  const finished = new Promise<number>((resolve, reject) => {
    finish = resolve
    fail = reject
  })
  const timeOut = (): void => {
    process.stderr.write('Timed out\n')
    finish(ToolExit.TIMEOUT)
  }
  const timer = s.timeout > 0 ? setTimeout(timeOut, s.timeout * 1000) : undefined
  const stop = (): void => finish(ToolExit.OK)
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    // A signal or -W while connecting ends it.
    const client = await Promise.race([connectTo(target), finished.then(() => null)])
    if (client === null) return await finished
    client.on('error', () => {}) // failed reconnect attempts: it keeps trying, as mosquitto_sub does
    client.once('close', (err) => {
      // It gave up (e.g. a reconnect refused for good).
      if (err !== undefined) fail(connectFailure(err, target.where))
    })
    let received = 0
    let printing = true
    client.on('message', (topic, payload, packet) => {
      if (!printing || (s.noRetained && packet.retain)) return
      print(topic, payload, packet, s)
      if (s.count > 0 && ++received >= s.count) {
        printing = false
        finish(ToolExit.OK)
      }
    })
    // no prototype: a topic named __proto__ is a key like any other
    const filters: Record<string, QoS> = Object.create(null)
    for (const t of target.topics) filters[t] = target.qos
    client.subscribe(filters, target.properties.subscribe).then(
      (codes) => {
        if (codes.every((c) => c === SUBACK_FAILURE)) {
          process.stderr.write('All subscription requests were denied.\n')
          finish(ToolExit.ERROR)
        } else if (s.exitAfterSub) finish(ToolExit.OK)
      },
      () => {}, // the connection was lost before SUBACK: 'close' or a resubscribe follows
    )
    const code = await finished
    await client.end(disconnectOptions(target))
    return code
  } finally {
    clearTimeout(timer)
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

/** Prints one message the way mosquitto_sub does (payload bytes as they are). */
function print(topic: string, payload: Buffer, packet: PublishPacket, s: SubSettings): void {
  const out = process.stdout
  if (s.format !== null) {
    let line: Buffer
    try {
      line = formatMessage(s.format, {
        topic,
        payload,
        qos: packet.qos,
        retain: packet.retain,
        packetId: packet.packetId,
        properties: packet.properties,
      })
    } catch (err) {
      // %J with a payload that is not JSON: said on stderr, the message skipped.
      if (!(err instanceof FormatError)) throw err
      process.stderr.write(`${err.message}\n`)
      return
    }
    out.write(line)
    if (s.eol) out.write(NEWLINE)
    return
  }
  if (payload.length === 0) {
    if (s.verbose && s.eol) out.write(`${topic} (null)\n`)
    return
  }
  if (s.verbose) out.write(`${topic} `)
  out.write(payload)
  if (s.eol) out.write(NEWLINE)
}
