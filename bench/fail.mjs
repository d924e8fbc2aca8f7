// Bad input or a broken set-up in a benchmark script: one clear line on stderr, exit status 2.
export function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`)
  process.exit(2)
}
