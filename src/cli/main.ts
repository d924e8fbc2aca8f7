#!/usr/bin/env node
import { ConfigError } from '../errors.js'
import { runBroker } from './broker-command.js'

const USAGE = `Usage: petrel <command> [options]

Commands:
  broker   run an MQTT broker (petrel broker --help)
`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'broker':
      return runBroker(rest)
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return command === undefined ? 2 : 0
    default:
      process.stderr.write(`petrel: unknown command '${command}'. Run 'petrel --help' for the list.\n`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`petrel: ${err.message}\n`)
      process.exitCode = 2
    } else {
      process.stderr.write(`petrel: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exitCode = 1
    }
  },
)
