#!/usr/bin/env node
import { readFileSync } from 'node:fs'

const USAGE = `Usage: petrel <command> [options]

Commands:
  broker   run an MQTT broker                       (petrel broker --help)
  pub      publish a message, like mosquitto_pub    (petrel pub --help)
  sub      print the messages of topics, like mosquitto_sub (petrel sub --help)
  bench    load-test any MQTT broker               (petrel bench --help)
  top      a broker's figures, refreshed in place   (petrel top --help)
  passwd   manage a password file, like mosquitto_passwd (petrel passwd --help)
`

type Command = (argv: string[]) => Promise<number>

// Loaded on demand: `petrel pub` starts faster without the broker, the store and pino.
const COMMANDS: Record<string, () => Promise<Command>> = {
  broker: () => import('./broker-command.js').then((m) => m.runBroker),
  pub: () => import('./pub-command.js').then((m) => m.runPub),
  sub: () => import('./sub-command.js').then((m) => m.runSub),
  bench: () => import('./bench-command.js').then((m) => m.runBenchCommand),
  top: () => import('./top-command.js').then((m) => m.runTop),
  passwd: () => import('./passwd-command.js').then((m) => (argv) => m.runPasswd(argv)),
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command !== undefined && Object.hasOwn(COMMANDS, command)) return (await COMMANDS[command]!())(rest)
  switch (command) {
    case undefined:
      process.stderr.write(USAGE)
      return 2
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE)
      return 0
    case '--version':
    case '-V':
      process.stdout.write(`petrel ${version()}\n`)
      return 0
    default:
      process.stderr.write(
        `petrel: unknown command '${command}'; commands: ${Object.keys(COMMANDS).join(', ')}\n`,
      )
      return 2
  }
}

// Not process.exit(): it would cut off output still being written to a pipe.
// A command that has returned should leave nothing running; if something still
// holds the event loop (a socket the broker never closed), exit anyway.
const LINGER_MS = 3000

function done(code: number): void {
  process.exitCode = code
  setTimeout(() => process.exit(code), LINGER_MS).unref()
}

main(process.argv.slice(2)).then(done, (err: unknown) => {
  process.stderr.write(`petrel: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  done(1)
})
