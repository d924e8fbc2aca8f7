// One measured run of bench/run.mjs: a fresh broker, a warm-up with a tenth of the messages,
// then the loadgen run whose figures are kept, with the broker's CPU use and its RSS at the end.
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cpuTicks, pinned, rssMB, SHARED, startBroker, stopBroker } from './brokers.mjs'
import { fail } from './fail.mjs'

export function loadgenPath() {
  const src = join(SHARED, 'loadgen.c')
  if (!existsSync(src)) fail(`loadgen source not found at ${src} (../shared must be beside the checkout)`)
  const bin = join(tmpdir(), 'mqtt-loadgen')
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, src], { stdio: 'inherit' })
  }
  return bin
}

/**
 * The same loadgen with clean session 0 in its CONNECT (the one byte of connect flags
 * patched at build time), for the persistent-session scenarios.
 */
export function persistentLoadgenPath() {
  const src = join(SHARED, 'loadgen.c')
  const bin = join(tmpdir(), 'mqtt-loadgen-persistent')
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    const from = "'M', 'Q', 'T', 'T', 4, 0x02, 0, 60"
    const code = readFileSync(src, 'utf8')
    if (!code.includes(from))
      fail('cannot find the CONNECT flags in loadgen.c to build the persistent-session variant')
    const patched = join(tmpdir(), 'mqtt-loadgen-persistent.c')
    writeFileSync(patched, code.replace(from, "'M', 'Q', 'T', 'T', 4, 0x00, 0, 60"))
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, patched], { stdio: 'inherit' })
  }
  return bin
}

/** The loadgen's JSON result, or null when it printed none (connect error, crash). */
function runLoadgen(lg, port, sc, qos, count, size, extra) {
  const args = ['--host', '127.0.0.1', '--port', String(port), '--scenario', sc, '--qos', String(qos)]
  args.push('--size', String(size), '--idle', '5', '--count', String(count), '--timeout', '60', '--json')
  return new Promise((res) => {
    const child = spawn(...pinned(0, lg, [...args, ...extra]), { stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    child.on('exit', () => {
      try {
        res(JSON.parse(out))
      } catch {
        res(null)
      }
    })
  })
}

/**
 * run: { sc, qos, count, size, extra }; lg: the loadgen binary. The RSS is read just before
 * the broker is stopped: what it holds after the run (topics, retained messages, buffers).
 */
export async function measure(lg, name, run) {
  const { sc, qos, count, size, extra } = run
  const b = await startBroker(name)
  await runLoadgen(lg, b.port, sc, qos, Math.max(1, Math.floor(count / 10)), size, extra) // warm-up
  const c0 = cpuTicks(b.child.pid)
  const t0 = process.hrtime.bigint()
  const r = await runLoadgen(lg, b.port, sc, qos, count, size, extra)
  const ns = Number(process.hrtime.bigint() - t0)
  const c1 = cpuTicks(b.child.pid)
  const rss = rssMB(b.child.pid)
  await stopBroker(b)
  const cpu = ns > 0 ? (100 * (c1 - c0)) / 100 / (ns / 1e9) : 0
  return r === null
    ? null
    : {
        rate: r.deliver_rate,
        lost: r.lost,
        dup: r.duplicates,
        p50: r.lat_us.p50,
        p99: r.lat_us.p99,
        end: r.end,
        cpu,
        rss,
      }
}
