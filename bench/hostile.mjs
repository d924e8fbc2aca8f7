#!/usr/bin/env node
// Hostile-client probe: the five attacks of the hardening issue, run with raw sockets
// against an embedded Petrel broker in a child process (bench/hostile-broker.mjs), printing
// what a user would see: rates, time until the offender is closed, the broker's RSS peak,
// and its heap after a forced GC. Builds nothing: run `npm run build` first.
//
//   node bench/hostile.mjs                 # every case
//   node bench/hostile.mjs stuck memory    # some of: stuck connect first-publish big-publish deep memory
//
// The stuck-subscriber case drives ../shared/tools/loadgen (one2one, QoS 0; HOSTILE_SCENARIO and
// HOSTILE_QOS choose others), built into the temp folder, with and without a subscriber to '#'
// that never reads.
import { execFileSync, fork } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Decoder, encode } from '../dist/protocol/index.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const LOADGEN_SRC = resolve(ROOT, '..', 'shared', 'tools', 'loadgen', 'loadgen.c')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const mb = (n) => `${(n / 1048576).toFixed(1)} MB`

// --- the broker child ----------------------------------------------------------------

async function startBroker(options = {}) {
  const child = fork(join(ROOT, 'bench', 'hostile-broker.mjs'), [JSON.stringify(options)], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const waiting = new Map()
  let nextId = 1
  const port = await new Promise((res, rej) => {
    child.once('exit', (code) => rej(new Error(`broker exited with ${code}`)))
    child.on('message', (m) => {
      if (m.ready) res(m.port)
      else waiting.get(m.id)?.(m)
    })
  })
  const ask = (op) =>
    new Promise((res) => {
      const id = nextId++
      waiting.set(id, res)
      child.send({ op, id })
    })
  return {
    port,
    ask,
    async stop() {
      child.send({ op: 'exit' })
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3000)])
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}

/** Samples the broker's RSS every 100 ms until stopped; returns the peak. */
function rssSampler(broker) {
  let peak = 0
  let on = true
  const loop = (async () => {
    while (on) {
      const { rss } = await broker.ask('rss')
      if (rss > peak) peak = rss
      await sleep(100)
    }
  })()
  return async () => {
    on = false
    await loop
    return peak
  }
}

// --- raw clients -------------------------------------------------------------------

function rawSocket(port) {
  return new Promise((res, rej) => {
    const s = netConnect({ port, host: '127.0.0.1' }, () => res(s))
    s.once('error', rej)
  })
}

/** A connected MQTT client: { socket, packets, closedAt(), waitFor(type) }. */
async function mqttClient(port, clientId, extra = {}) {
  const socket = await rawSocket(port)
  const packets = []
  let closed = null
  const waiters = []
  const decoder = new Decoder((p) => {
    packets.push(p)
    for (const w of waiters.splice(0)) w()
  })
  socket.on('data', (c) => {
    try {
      decoder.push(c)
    } catch {}
  })
  socket.on('error', () => {})
  socket.on('close', () => {
    closed = performance.now()
    for (const w of waiters.splice(0)) w()
  })
  const c = {
    socket,
    packets,
    get closedAt() {
      return closed
    },
    async waitFor(type, ms = 5000) {
      const deadline = performance.now() + ms
      for (;;) {
        const p = packets.find((x) => x.type === type)
        if (p !== undefined) return p
        if (closed !== null || performance.now() > deadline) return null
        await Promise.race([new Promise((r) => waiters.push(r)), sleep(50)])
      }
    },
  }
  socket.write(
    encode({
      type: 1,
      protocolName: 'MQTT',
      protocolVersion: 4,
      clientId,
      clean: true,
      keepalive: 0,
      ...extra,
    }),
  )
  await c.waitFor(2)
  return c
}

function whenClosed(socket, ms) {
  const t0 = performance.now()
  return new Promise((res) => {
    const timer = setTimeout(() => res(null), ms)
    socket.once('close', () => {
      clearTimeout(timer)
      res(performance.now() - t0)
    })
  })
}

/** Sends `bytes` then a trickle of filler until the socket closes or `ms` pass; returns ms until closed (null if never). */
async function trickle(socket, head, { chunk = 256 * 1024, everyMs = 20, ms = 20_000 }) {
  const closed = whenClosed(socket, ms)
  socket.write(head)
  let open = true
  closed.then(() => {
    open = false
  })
  const filler = Buffer.alloc(chunk, 0x61)
  const t0 = performance.now()
  while (open && performance.now() - t0 < ms) {
    if (!socket.destroyed) socket.write(filler)
    await sleep(everyMs)
  }
  socket.destroy()
  return closed
}

// --- the cases ---------------------------------------------------------------------

function loadgen() {
  const bin = join(tmpdir(), 'petrel-hostile-loadgen')
  if (!existsSync(bin)) execFileSync('cc', ['-O2', '-o', bin, LOADGEN_SRC])
  return bin
}

/** The stuck case's load: HOSTILE_SCENARIO (one2one, fanin, fanout, mesh) and HOSTILE_QOS; one2one QoS 0 by default. */
const SCENARIO = process.env.HOSTILE_SCENARIO ?? 'one2one'
const QOS = process.env.HOSTILE_QOS ?? '0'
// more than can be sent in the run, per publisher: the run ends at its timeout
const COUNT = String(SCENARIO === 'one2one' ? 20_000_000 : 2_000_000)

function runLoadgen(port, seconds) {
  const out = execFileSync(
    loadgen(),
    [
      ...['--host', '127.0.0.1', '--port', String(port), '--scenario', SCENARIO, '--qos', QOS],
      ...['--size', '64', '--count', COUNT, '--timeout', String(seconds), '--idle', '2', '--json'],
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  ).trim()
  return JSON.parse(out.slice(out.indexOf('{')))
}

function safeLoadgen(port, seconds) {
  try {
    return runLoadgen(port, seconds)
  } catch (err) {
    // exit 1 = loss or timeout: the JSON is still printed
    const out = String(err.stdout ?? '')
    return JSON.parse(out.slice(out.indexOf('{')))
  }
}

async function caseStuck() {
  const seconds = 10
  const slow = 5000
  for (const stuck of [false, true]) {
    const broker = await startBroker({ slowConsumerTimeout: slow, ...extraOptions })
    let sub = null
    if (stuck) {
      sub = await mqttClient(broker.port, 'stuck')
      sub.socket.write(encode({ type: 8, packetId: 1, subscriptions: [{ topic: '#', qos: 0 }] }))
      await sub.waitFor(9)
      sub.socket.pause() // never reads again
    }
    const started = (await broker.ask('stats')).uptimeMs
    const r = safeLoadgen(broker.port, seconds)
    const { dropped, disconnects } = await broker.ask('stats')
    const gone = disconnects.stuck
    const stuckGone =
      gone === undefined
        ? 'still connected'
        : `closed ${((gone.ms - started) / 1000).toFixed(1)} s into the run (${gone.reason})`
    console.log(
      `stuck subscriber ${stuck ? 'present' : 'absent '}: healthy subscriber got ${r.received} of ${r.published} ` +
        `in ${r.elapsed_s.toFixed(1)} s, ${Math.round(r.deliver_rate)} msg/s; ` +
        `dropped ${dropped}${stuck ? `; stuck subscriber ${stuckGone}` : ''} (slowConsumerTimeout ${slow} ms)`,
    )
    sub?.socket.destroy()
    await broker.stop()
  }
}

/**
 * Sends `head` (a fixed header announcing 256 MB, and what follows it), then trickles filler at
 * ~12 MB/s; prints how long until the broker closed the socket and its RSS peak meanwhile.
 */
async function caseTrickle(label, head, { login = false, ms = 15_000 } = {}) {
  const broker = await startBroker(extraOptions)
  const before = (await broker.ask('mem')).rss
  const peak = rssSampler(broker)
  const socket = login ? (await mqttClient(broker.port, 'big')).socket : await rawSocket(broker.port)
  const closed = await trickle(socket, head, { ms })
  console.log(
    `${label}: closed after ${closed === null ? `never (${ms / 1000} s)` : `${Math.round(closed)} ms`}; ` +
      `RSS ${mb(before)} -> peak ${mb(await peak())}`,
  )
  await broker.stop()
}

const caseConnect = () =>
  caseTrickle('CONNECT announcing 256 MB, trickled at ~12 MB/s', Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]))
const caseFirstPublish = () =>
  caseTrickle('first packet a PUBLISH announcing 256 MB', Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))
const caseBigPublish = () =>
  caseTrickle(
    'authenticated PUBLISH announcing 256 MB, trickled at ~12 MB/s',
    Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x74]),
    { login: true, ms: 20_000 },
  )

async function caseDeep() {
  const broker = await startBroker(extraOptions)
  // 65,000 levels: empty ones, so the filter still fits in a 65,535-byte string
  const deep = '/'.repeat(64_999)
  const sub = await mqttClient(broker.port, 'deep-sub')
  sub.socket.write(encode({ type: 8, packetId: 1, subscriptions: [{ topic: deep, qos: 0 }] }))
  const suback = await sub.waitFor(9)
  const pub = await mqttClient(broker.port, 'deep-pub')
  pub.socket.write(
    encode({ type: 3, topic: deep, payload: Buffer.from('x'), qos: 0, retain: false, dup: false }),
  )
  const got = await sub.waitFor(3, 2000)
  console.log(
    `filter of 65,000 levels: SUBACK ${suback === null ? 'none (closed)' : JSON.stringify(suback.granted)}; ` +
      `publish to it: ${got ? 'delivered' : 'not delivered'}; publisher ${pub.closedAt !== null ? 'closed' : 'open'}`,
  )
  sub.socket.destroy()
  pub.socket.destroy()
  await broker.stop()
}

async function connectionsCycle(port) {
  const batch = 500
  for (let i = 0; i < 5000; i += batch) {
    const cs = await Promise.all(Array.from({ length: batch }, (_, j) => mqttClient(port, `conn-${i + j}`)))
    for (const c of cs) c.socket.destroy()
  }
}

/**
 * Subscribe/unsubscribe pairs of ever new filters, then publishes to ever new topics, with a
 * subscriber to 'x/#' that stays connected across cycles (so the route cache is not dropped
 * by its leaving).
 */
async function topicsCycle(port, round) {
  topicsSub ??= await mqttClient(port, 'topics-sub')
  topicsSub.socket.write(encode({ type: 8, packetId: 1, subscriptions: [{ topic: 'x/#', qos: 0 }] }))
  await topicsSub.waitFor(9)
  const churn = await mqttClient(port, 'topics-churn')
  for (let i = 0; i < 50_000; i += 1000) {
    const bufs = []
    for (let j = i; j < i + 1000; j++) {
      const topic = `f/${round}/${j}/+`
      bufs.push(encode({ type: 8, packetId: 1 + (j % 60000), subscriptions: [{ topic, qos: 1 }] }))
      bufs.push(encode({ type: 10, packetId: 1 + (j % 60000), topics: [topic] }))
    }
    churn.socket.write(Buffer.concat(bufs))
    await sleep(5)
  }
  const pub = await mqttClient(port, 'topics-pub')
  for (let i = 0; i < 100_000; i += 1000) {
    const bufs = []
    for (let j = i; j < i + 1000; j++) {
      const topic = `x/${round}/${j}/telemetry`
      bufs.push(encode({ type: 3, topic, payload: Buffer.from('v'), qos: 0, retain: false, dup: false }))
    }
    pub.socket.write(Buffer.concat(bufs))
    await sleep(5)
  }
  await sleep(300)
  pub.socket.destroy()
  churn.socket.destroy()
}
let topicsSub = null

async function takeoverCycle(port, seconds) {
  const deadline = performance.now() + seconds * 1000
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (performance.now() < deadline) {
        const c = await mqttClient(port, 'same-id').catch(() => null)
        await sleep(5)
        c?.socket.destroy()
      }
    }),
  )
}

async function caseMemory() {
  const cycles = [
    ['5,000 connections opened and dropped', (port) => connectionsCycle(port)],
    ['100,000 topics published + 50,000 subscribe/unsubscribe', (port, i) => topicsCycle(port, i)],
    ['takeover storm (50 sockets, one id, 3 s)', (port) => takeoverCycle(port, 3)],
  ]
  for (const [name, run] of cycles) {
    const broker = await startBroker(extraOptions)
    const base = await broker.ask('mem')
    const after = []
    for (let i = 0; i < 5; i++) {
      await run(broker.port, i)
      await sleep(1500) // sockets closed by the broker are destroyed 1 s later
      after.push(await broker.ask('mem'))
    }
    let idle = ''
    if (name.startsWith('100,000')) {
      // the route cache ages every 30 s: after two ageings an idle broker holds no routes
      await sleep(61_000)
      const m = await broker.ask('mem')
      idle = `; idle 61 s later: heap ${mb(m.heapUsed)}, RSS ${mb(m.rss)}`
    }
    const s = await broker.ask('stats')
    console.log(
      `${name}, x5: heap after GC ${mb(base.heapUsed)} -> ${after.map((m) => mb(m.heapUsed)).join(', ')}; ` +
        `RSS ${mb(base.rss)} -> ${after.map((m) => mb(m.rss)).join(', ')}; ` +
        `V8 heap reserved ${mb(after[4].heapTotal)}, external ${mb(after[4].external)}; sessions left ${s.sessions}${idle}`,
    )
    await broker.stop()
  }
}

const CASES = {
  stuck: caseStuck,
  connect: caseConnect,
  'first-publish': caseFirstPublish,
  'big-publish': caseBigPublish,
  deep: caseDeep,
  memory: caseMemory,
}
const chosen = process.argv.slice(2)
/** Broker options for every case, as JSON in HOSTILE_OPTIONS (e.g. '{"stuckConsumerWindow":500}'). */
const extraOptions = JSON.parse(process.env.HOSTILE_OPTIONS ?? '{}')
for (const name of chosen.length > 0 ? chosen : Object.keys(CASES)) {
  const run = CASES[name]
  if (run === undefined) {
    console.error(`unknown case '${name}'; choose from: ${Object.keys(CASES).join(' ')}`)
    process.exit(2)
  }
  await run()
}
process.exit(0)
