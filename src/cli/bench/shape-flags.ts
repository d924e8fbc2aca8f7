import { ConfigError } from '../../errors.js'
import { has, intFlag, last, type ParsedArgs } from '../args.js'
import type { ScenarioName } from './scenario.js'

/** Topics per publisher at most: the loadgen's runs go to 100000 (x 20 publishers). */
const MAX_TOPICS = 10_000_000

/** --topics, --retain and conn's own flags, checked together: each bad mix is one line. */
export interface ShapeFlags {
  conn: boolean
  topics: number
  retain: boolean
  clearRetained: boolean
  /** conn: seconds to hold the connections. */
  hold: number
  /** conn: percent of the connections that publish. */
  active: number
  /** conn: connections per second; 0: unpaced. */
  connectRate: number
}

const CONN_ONLY = ['hold', 'active', 'connect-rate'] as const

export function shapeFlags(args: ParsedArgs, scenario: ScenarioName): ShapeFlags {
  const conn = scenario === 'conn'
  if (!conn) {
    const given = CONN_ONLY.find((f) => has(args, f))
    if (given !== undefined) throw new ConfigError(given, `--${given} is for the conn scenario only`)
  }
  const retain = has(args, 'retain')
  const clearRetained = has(args, 'clear-retained')
  if (clearRetained && !retain) {
    throw new ConfigError(
      'clear-retained',
      '--clear-retained goes with --retain (it deletes what a --retain run left)',
    )
  }
  if (conn && retain)
    throw new ConfigError('retain', '--retain is not for conn: its connections publish no retained messages')
  const topics = intFlag(args, 'topics', 1, 1, MAX_TOPICS)
  if (!conn) return { conn, topics, retain, clearRetained, hold: 0, active: 0, connectRate: 0 }

  if (has(args, 'hold') && has(args, 'duration')) {
    throw new ConfigError('hold', 'give --hold or --duration (the same for conn), not both')
  }
  const hold = has(args, 'duration')
    ? intFlag(args, 'duration', 0, 0, 86_400)
    : intFlag(args, 'hold', 0, 0, 86_400)
  const active = percentFlag(args, 'active')
  if (active === 0) {
    if (has(args, 'rate')) {
      throw new ConfigError(
        'rate',
        'conn: --rate is messages per second per active connection (give --active); pace the connections with --connect-rate',
      )
    }
    if (has(args, 'topics'))
      throw new ConfigError('topics', 'conn: --topics needs publishers (give --active)')
  } else if (hold === 0) {
    throw new ConfigError(
      'active',
      '--active publishes while the connections are held: give --hold <seconds>',
    )
  }
  const connectRate = intFlag(args, 'connect-rate', 0, 1, 1_000_000)
  return { conn, topics, retain, clearRetained, hold, active, connectRate }
}

/** A percentage in (0, 100], decimals allowed (0.5 of 9000 connections is 45); 0 when absent. */
function percentFlag(args: ParsedArgs, name: string): number {
  const v = last(args, name)
  if (v === undefined) return 0
  const n = /^\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : Number.NaN
  if (!(n > 0 && n <= 100)) {
    throw new ConfigError(name, `--${name} must be a percentage above 0, up to 100; got '${v}'`)
  }
  return n
}
