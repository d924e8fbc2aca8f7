import { readFile } from 'node:fs/promises'
import type { Client } from '../client/client.js'
import type { QoS } from '../protocol/constants.js'
import type { PublishProperties } from '../protocol/packets.js'
import { isValidTopicName } from '../protocol/topic.js'
import { type FlagSpec, has, last, type ParsedArgs } from './args.js'
import {
  CONNECTION_FLAGS,
  connectionTarget,
  connectTo,
  disconnectOptions,
  runTool,
  type Target,
  ToolError,
  ToolExit,
} from './client-flags.js'
import { readAll, readLines } from './stdin.js'

const FLAGS: FlagSpec[] = [
  { name: 'topic', short: 't', value: true, arg: 'topic', help: 'topic to publish to' },
  { name: 'message', short: 'm', value: true, arg: 'message', help: 'the message' },
  { name: 'file', short: 'f', value: true, arg: 'file', help: 'send the contents of a file as the message' },
  { name: 'stdin-line', short: 'l', value: false, help: 'send each line of standard input as a message' },
  { name: 'null-message', short: 'n', value: false, help: 'send a null (zero-length) message' },
  { name: 'stdin-file', short: 's', value: false, help: 'send all of standard input as one message' },
  { name: 'retain', short: 'r', value: false, help: 'the broker keeps the message for new subscribers' },
  ...CONNECTION_FLAGS,
]

const TITLE = `Usage: petrel pub {-t topic | -L URL} {-m message | -f file | -l | -n | -s} [options]

Publishes to an MQTT broker and exits, like mosquitto_pub.
Exit status: 0 sent; 1-5 connection refused (the CONNACK code); 1 other errors.`

/** Publishes with at most this many unacknowledged messages in -l mode; stdin is paused beyond. */
const LINE_WINDOW = 100

/** Reads what to send (once the flags are all checked): the payload, or 'lines' for -l. */
type Source = () => Promise<Buffer | 'lines'>

/** `petrel pub`: like mosquitto_pub. */
export function runPub(argv: string[]): Promise<number> {
  return runTool(argv, FLAGS, TITLE, publish)
}

async function publish(args: ParsedArgs): Promise<number> {
  if (args.positionals.length > 0) throw new ToolError(`Error: Unexpected argument '${args.positionals[0]}'.`)
  const target = connectionTarget(args)
  if (target.topics.length > 1) throw new ToolError('Error: Duplicate topic argument given.')
  const source = sourceOf(args)
  const topic = target.topics[0]
  if (topic === undefined || source === undefined) {
    throw new ToolError('Error: Both topic and message must be supplied.')
  }
  if (!isValidTopicName(topic)) {
    throw new ToolError(`Error: Invalid publish topic '${topic}', does it contain '+' or '#'?`)
  }
  const payload = await source()

  const client = await connectTo(target)
  const lost = new Promise<never>((_, reject) => {
    client.once('close', (err) => {
      if (err !== undefined) reject(new ToolError('Error: The connection was lost.'))
    })
  })
  lost.catch(() => {})
  const options = { qos: target.qos, retain: has(args, 'retain'), ...publishProperties(target) }
  try {
    if (payload !== 'lines') await Promise.race([client.publish(topic, payload, options), lost])
    else await Promise.race([publishLines(client, topic, options), lost])
  } catch (err) {
    client.end({ force: true }).catch(() => {})
    if (err instanceof ToolError) throw err
    throw new ToolError(`Error: ${err instanceof Error ? err.message : String(err)}`)
  }
  await client.end(disconnectOptions(target))
  return ToolExit.OK
}

/**
 * -D publish properties, for PublishOptions. A topic-alias is accepted as mosquitto_pub
 * takes it, but the client library assigns aliases itself (within the broker's maximum),
 * so its number is not sent as given.
 */
function publishProperties(target: Target): { properties?: PublishProperties } {
  const { topicAlias: _alias, ...properties } = target.properties.publish
  return Object.keys(properties).length > 0 ? { properties } : {}
}

function sourceOf(args: ParsedArgs): Source | undefined {
  const given: Source[] = []
  const m = last(args, 'message')
  if (m !== undefined) given.push(async () => Buffer.from(m))
  const f = last(args, 'file')
  if (f !== undefined) {
    const unreadable = (): never => {
      throw new ToolError(`Error: Unable to open file "${f}".`)
    }
    given.push(() => readFile(f).catch(unreadable))
  }
  if (has(args, 'stdin-line')) given.push(async () => 'lines')
  if (has(args, 'null-message')) given.push(async () => Buffer.alloc(0))
  if (has(args, 'stdin-file')) given.push(() => readAll(process.stdin))
  if (given.length > 1) throw new ToolError('Error: Only one type of message can be sent at once.')
  return given[0]
}

/**
 * -l: one message per line of standard input, sent as lines arrive (a
 * terminal, a pipe that stays open), until end of input. Line ends are '\n'
 * only; an empty line is sent as an empty message, as mosquitto_pub does.
 */
async function publishLines(
  client: Client,
  topic: string,
  options: { qos: QoS; retain: boolean; properties?: PublishProperties },
): Promise<void> {
  let inFlight = 0
  let failure: unknown
  let resume: (() => void) | null = null
  const settled = (): void => {
    inFlight--
    if (resume !== null && inFlight < LINE_WINDOW) {
      const r = resume
      resume = null
      r()
    }
  }
  for await (const line of readLines(process.stdin)) {
    if (failure !== undefined) break
    inFlight++
    client.publish(topic, line, options).then(settled, (err: unknown) => {
      failure ??= err
      settled()
    })
    if (inFlight >= LINE_WINDOW) await new Promise<void>((r) => (resume = r))
  }
  while (inFlight > 0 && failure === undefined) await new Promise<void>((r) => (resume = r))
  if (failure !== undefined) throw failure
}
