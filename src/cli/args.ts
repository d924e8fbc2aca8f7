import { ConfigError } from '../errors.js'

/** A flag a command accepts: `value` flags take the next argument. */
export interface FlagSpec {
  name: string
  short?: string
  value: boolean
  help: string
}

export interface ParsedArgs {
  flags: Map<string, string[]>
  positionals: string[]
}

/** Parses `--name value`, `--name=value`, `-x value` and boolean flags; refuses unknown flags. */
export function parseArgs(argv: string[], specs: FlagSpec[]): ParsedArgs {
  const byName = new Map<string, FlagSpec>()
  for (const s of specs) {
    byName.set(`--${s.name}`, s)
    if (s.short) byName.set(`-${s.short}`, s)
  }
  const flags = new Map<string, string[]>()
  const positionals: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    const key = eq > 0 && arg.startsWith('--') ? arg.slice(0, eq) : arg
    const spec = byName.get(key)
    if (spec === undefined) {
      throw new ConfigError(key, `unknown option '${key}'; see --help for the options`)
    }
    let value = 'true'
    if (spec.value) {
      if (eq > 0 && arg.startsWith('--')) value = arg.slice(eq + 1)
      else {
        const next = argv[i + 1]
        if (next === undefined) throw new ConfigError(key, `option '${key}' needs a value`)
        value = next
        i++
      }
    }
    const list = flags.get(spec.name) ?? []
    list.push(value)
    flags.set(spec.name, list)
  }
  return { flags, positionals }
}

export function intFlag(args: ParsedArgs, name: string, dflt: number, min: number, max: number): number {
  const v = args.flags.get(name)?.at(-1)
  if (v === undefined) return dflt
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(name, `--${name} must be a whole number from ${min} to ${max}; got '${v}'`)
  }
  return n
}

export function usage(title: string, specs: FlagSpec[]): string {
  const lines = specs.map((s) => {
    const names = `${s.short ? `-${s.short}, ` : '    '}--${s.name}${s.value ? ' <value>' : ''}`
    return `  ${names.padEnd(28)} ${s.help}`
  })
  return `${title}\n\nOptions:\n${lines.join('\n')}\n`
}
