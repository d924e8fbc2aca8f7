import { ConfigError } from '../errors.js'

/** A flag a command accepts: `value` flags take the next argument (or `--name=value`). */
export interface FlagSpec {
  name: string
  short?: string
  value: boolean
  /** Placeholder shown in --help for the value, e.g. 'topic'. */
  arg?: string
  help: string
  /**
   * A flag taking several arguments (e.g. `-D command identifier value`): how many of the
   * arguments after the flag it takes, or an error message when they do not fit. Each use
   * is kept in `lists`; `flags` holds its first argument.
   */
  arity?: (rest: readonly string[]) => number | string
}

export interface ParsedArgs {
  /** Every value given per flag name, in order (boolean flags hold 'true'). */
  flags: Map<string, string[]>
  /** Flags with an `arity`: every use, each with all its arguments, in order. */
  lists: Map<string, string[][]>
  positionals: string[]
}

/**
 * Parses `--name value`, `--name=value`, `-x value` and boolean flags, the way
 * the Mosquitto tools do: a value is the next argument even when it starts
 * with '-' (`-m -5` publishes "-5"). Unknown flags are refused, never ignored.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map<string, FlagSpec>()
  for (const s of specs) {
    byName.set(`--${s.name}`, s)
    if (s.short !== undefined) byName.set(`-${s.short}`, s)
  }
  const flags = new Map<string, string[]>()
  const lists = new Map<string, string[][]>()
  const positionals: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg)
      continue
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1
    const key = eq > 0 ? arg.slice(0, eq) : arg
    const spec = byName.get(key)
    if (spec === undefined) throw new ConfigError(key, `unknown option '${key}'`)
    let value = 'true'
    if (spec.arity !== undefined) {
      const rest = argv.slice(i + 1)
      const n = spec.arity(rest)
      if (typeof n === 'string') throw new ConfigError(key, n)
      const group = rest.slice(0, n)
      lists.set(spec.name, [...(lists.get(spec.name) ?? []), group])
      value = group[0] ?? 'true'
      i += n
    } else if (spec.value) {
      if (eq > 0) value = arg.slice(eq + 1)
      else {
        const next = argv[i + 1]
        if (next === undefined) throw new ConfigError(key, `option '${key}' needs a value`)
        value = next
        i++
      }
    } else if (eq > 0) {
      throw new ConfigError(key, `option '${key}' takes no value`)
    }
    const list = flags.get(spec.name)
    if (list === undefined) flags.set(spec.name, [value])
    else list.push(value)
  }
  return { flags, lists, positionals }
}

/** The last value given for a flag (later flags override earlier ones). */
export function last(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.at(-1)
}

export function has(args: ParsedArgs, name: string): boolean {
  return args.flags.has(name)
}

export function all(args: ParsedArgs, name: string): string[] {
  return args.flags.get(name) ?? []
}

/** A whole number in [min, max], or `dflt` when the flag is absent. */
export function intFlag(args: ParsedArgs, name: string, dflt: number, min: number, max: number): number {
  const v = last(args, name)
  if (v === undefined) return dflt
  return parseIntIn(`--${name}`, v, min, max)
}

export function parseIntIn(what: string, v: string, min: number, max: number): number {
  const n = /^-?\d+$/.test(v.trim()) ? Number(v) : Number.NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(what, `${what} must be a whole number from ${min} to ${max}; got '${v}'`)
  }
  return n
}

/** --help text: the title, then one line per flag. */
export function usage(title: string, specs: readonly FlagSpec[], footer = ''): string {
  const lines = specs.map((s) => {
    const short = s.short !== undefined ? `-${s.short}, ` : '    '
    const names = `${short}--${s.name}${s.value ? ` <${s.arg ?? 'value'}>` : ''}`
    return `  ${names.padEnd(34)} ${s.help}`
  })
  return `${title}\n\nOptions:\n${lines.join('\n')}\n${footer ? `\n${footer}\n` : ''}`
}
