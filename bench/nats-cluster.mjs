// A NATS cluster with JetStream for bench/cluster.mjs: N nats-server processes on loopback, free
// ports, routes between them, each with its own store in a temporary folder; ready once every
// server has its routes, /healthz is ok and the JetStream meta group has a leader (the checks of
// test/helpers/nats.ts, which the tests use; bench/ is plain JavaScript, so this is its own copy).
// Only the PIDs started here are signalled; stop() SIGTERMs them (SIGKILL after 3 s) and removes
// the folder. Usage: const nats = await startNatsCluster(3); nats.urls, nats.pids; await nats.stop()
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { which } from './brokers.mjs'
import { sleep } from './port.mjs'

/** A port free on 127.0.0.1 now (the OS picks it). */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })
}

async function getJson(port, path) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) })
  if (r.status !== 200) throw new Error(`${path} ${r.status}`)
  return r.json()
}

/** '' when server s is ready, else what is missing. */
async function problem(s, n) {
  try {
    const routez = await getJson(s.http, '/routez')
    if ((routez.num_routes ?? 0) < n - 1) return `routes ${routez.num_routes ?? 0}/${n - 1}`
    const h = await fetch(`http://127.0.0.1:${s.http}/healthz`, { signal: AbortSignal.timeout(2000) })
    if (h.status !== 200) return `/healthz ${h.status}`
    const jsz = await getJson(s.http, '/jsz')
    if (n > 1 && !jsz.meta_cluster?.leader) return 'no JetStream meta leader'
    return ''
  } catch (err) {
    return `monitoring: ${err.message}`
  }
}

/**
 * Creates and deletes a tiny memory stream with n replicas, retrying with backoff until the
 * deadline: /healthz is ok before JetStream can place an R=n stream (test/helpers/nats.ts too).
 */
async function probeStream(urls, n, deadline) {
  const name = `petrel_bench_probe_${process.pid}`
  let delay = 50
  let last = null
  while (Date.now() < deadline) {
    const nc = await connect({ servers: urls, timeout: 2000, reconnect: false }).catch((err) => {
      last = err
      return null
    })
    if (nc !== null) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 3000 })
        await jsm.streams.add({ name, subjects: [`${name}.>`], num_replicas: n, storage: 'memory' })
        await jsm.streams.delete(name)
        return ''
      } catch (err) {
        last = err
      } finally {
        await nc.close().catch(() => {})
      }
    }
    await sleep(delay)
    delay = Math.min(delay * 2, 1000)
  }
  return `JetStream probe stream (R${n}) failed: ${last}`
}

export async function startNatsCluster(n = 3, timeoutMs = 20_000) {
  const bin = which('nats-server')
  if (bin === null) throw new Error('nats-server is not installed (apt-get install nats-server)')
  const dir = mkdtempSync(join(tmpdir(), 'petrel-bench-nats-'))
  const servers = []
  for (let i = 0; i < n; i++)
    servers.push({
      name: `bench-n${i}`,
      port: await freePort(),
      route: await freePort(),
      http: await freePort(),
    })
  const routes = servers.map((s) => JSON.stringify(`nats-route://127.0.0.1:${s.route}`)).join(', ')
  for (const s of servers) {
    const store = join(dir, s.name)
    mkdirSync(store)
    const conf = join(dir, `${s.name}.conf`)
    writeFileSync(
      conf,
      [
        `server_name: ${s.name}`,
        `listen: 127.0.0.1:${s.port}`,
        `http: 127.0.0.1:${s.http}`,
        `jetstream { store_dir: ${JSON.stringify(store)}, max_memory_store: 1GB, max_file_store: 4GB }`,
        `cluster { name: petrel-bench, listen: 127.0.0.1:${s.route}, routes: [${routes}] }`,
        '',
      ].join('\n'),
    )
    s.log = ''
    s.child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] })
    const append = (d) => {
      s.log = (s.log + d).slice(-20_000)
    }
    s.child.stdout.on('data', append)
    s.child.stderr.on('data', append)
    s.exited = new Promise((r) => s.child.once('exit', r))
  }
  const stop = async () => {
    await Promise.all(
      servers.map(async (s) => {
        if (s.child.exitCode !== null || s.child.signalCode !== null) return
        s.child.kill('SIGTERM')
        const t = setTimeout(() => s.child.kill('SIGKILL'), 3000)
        await s.exited
        clearTimeout(t)
      }),
    )
    rmSync(dir, { recursive: true, force: true })
  }
  const killNow = () => {
    for (const s of servers)
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + timeoutMs
  for (const s of servers) {
    let last = ''
    for (;;) {
      if (s.child.exitCode !== null) {
        await stop()
        throw new Error(`nats-server ${s.name} exited at start:\n${s.log}`)
      }
      last = await problem(s, n)
      if (last === '') break
      if (Date.now() > deadline) {
        await stop()
        throw new Error(`nats-server ${s.name} not ready within ${timeoutMs} ms: ${last}\n${s.log}`)
      }
      await sleep(100)
    }
  }
  const urls = servers.map((s) => `nats://127.0.0.1:${s.port}`)
  const probe = await probeStream(urls, n, deadline)
  if (probe !== '') {
    await stop()
    throw new Error(`${probe}\n${servers.map((s) => s.log).join('\n')}`)
  }
  return {
    urls,
    pids: servers.map((s) => s.child.pid),
    logs: () => servers.map((s) => s.log),
    stop,
    killNow,
  }
}
