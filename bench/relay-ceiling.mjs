#!/usr/bin/env node
// What Node's socket path alone moves on this machine, for the large-message target: a relay with no
// MQTT in it (every chunk read from one connection is written to the other, with backpressure),
// driven by a C source and sink in one process (bench/relay-ends.c, like the loadgen). Petrel's 1 MiB
// one2one cannot go faster than this; Mosquitto's can.
//
//   node bench/relay-ceiling.mjs [--mib 1500] [--rounds 3] [--port 19702]
import { execFileSync, spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fail } from './fail.mjs'
import { canConnect } from './port.mjs'

const HERE = dirname(fileURLToPath(import.meta.url))
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  const v = i > 0 ? Number(process.argv[i + 1]) : dflt
  if (!Number.isInteger(v) || v < 1) fail(`--${name} must be a whole number >= 1`)
  return v
}
const mib = arg('mib', 1500)
const rounds = arg('rounds', 3)
const port = arg('port', 19702)

if (process.argv.includes('--serve')) {
  const net = await import('node:net')
  const waiting = []
  net
    .createServer((s) => {
      s.on('error', () => {})
      waiting.push(s)
      if (waiting.length < 2) return
      const [src, dst] = waiting.splice(0)
      src.on('data', (c) => {
        if (!dst.write(c)) {
          src.pause()
          dst.once('drain', () => src.resume())
        }
      })
      src.on('end', () => dst.end())
      dst.on('error', () => src.destroy())
    })
    .listen(port, '127.0.0.1', () => process.stdout.write('listening\n'))
} else {
  if (await canConnect(port)) fail(`port ${port} is in use; choose another with --port`)
  const bin = join(tmpdir(), 'petrel-relay-ends')
  execFileSync('cc', ['-O2', '-o', bin, join(HERE, 'relay-ends.c')])
  const relay = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  // told when it listens (a probe connection would be taken for one end of a pair)
  await new Promise((resolve) => relay.stdout.once('data', resolve))
  const rates = []
  try {
    for (let r = 0; r < rounds; r++) {
      const out = execFileSync(bin, [String(port), String(mib)], { timeout: 120_000 }).toString()
      rates.push(JSON.parse(out).MBps)
      process.stderr.write(`relay-ceiling: round ${r + 1}: ${JSON.parse(out).MBps} MB/s\n`)
    }
  } finally {
    relay.kill()
  }
  rates.sort((a, b) => a - b)
  console.log(
    `Node socket relay (no MQTT), ${mib} MiB in 1 MiB writes: median ${rates[rates.length >> 1]} MB/s of ${rounds} rounds (${rates.join(', ')})`,
  )
}
