import assert from 'node:assert/strict'
import { connect as netConnect, type Socket } from 'node:net'
import { test } from 'node:test'
import { PacketType } from '../../src/protocol/index.js'
import { sleep } from '../helpers/flood.js'
import { assertBelow, MB, Probe, peakGrowth, waitFor } from '../helpers/hostile.js'
import { hex, type RawClient, startBroker, type TestBroker } from '../helpers/raw-client.js'

/**
 * Before a client is authenticated it may cost the broker little: a packet announcing more
 * than maxConnectSize is refused on its header, one trickled slowly is closed after
 * packetTimeout (or connectTimeout), a first packet that is not CONNECT on its first byte,
 * and a flood of connections is survived. Each attack runs beside a well-behaved client
 * (Probe) that must keep being served within a second, with memory measured throughout.
 */

async function openMany(tb: TestBroker, n: number): Promise<RawClient[]> {
  const out: RawClient[] = []
  for (let i = 0; i < n; i += 50)
    out.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => tb.open()))))
  return out
}

async function allClosed(clients: RawClient[], ms: number): Promise<number> {
  const t0 = performance.now()
  await waitFor('every offender closed', () => clients.every((c) => c.ended), ms)
  return performance.now() - t0
}

test('pre-authentication: 200 CONNECTs announcing 256 MB at once are closed on their header, nothing buffered; others served', async (t) => {
  const tb = await startBroker({}, t)
  const probe = await Probe.start(tb, t)
  const grown = await peakGrowth(async () => {
    const attackers = await openMany(tb, 200)
    // the fixed header announces 268 435 455 bytes; 16 KiB of them follow at once
    for (const c of attackers)
      c.sendRaw(Buffer.concat([hex('10 ff ff ff 7f'), Buffer.alloc(16 * 1024, 0x61)]))
    assert.ok((await allClosed(attackers, 2000)) < 2000)
  })
  assertBelow(grown, 16 * MB, 'memory grew')
  assert.ok(tb.broker.stats.limits['packet-size'] >= 200)
  await probe.stop('200 huge CONNECT headers')
  assert.equal(tb.broker.connectedCount, 1)
})

test('slowloris: a 256 MB remaining length trickled one byte every 50 ms is refused as soon as the length is complete', async (t) => {
  const tb = await startBroker({}, t)
  const c = await tb.open()
  const t0 = performance.now()
  for (const b of ['10', 'ff', 'ff', 'ff', '7f']) {
    c.sendRaw(b)
    await sleep(50)
  }
  await c.closed(1000, false)
  assert.ok(performance.now() - t0 < 1000)
})

test('slowloris: 300 connections trickling CONNECTs within maxConnectSize are closed after packetTimeout; memory bounded, others served', async (t) => {
  const tb = await startBroker({ packetTimeout: 1000, connectTimeout: 2000 }, t)
  const probe = await Probe.start(tb, t)
  let attackers: RawClient[] = []
  const grown = await peakGrowth(async () => {
    attackers = await openMany(tb, 300)
    // a CONNECT announcing 60 000 bytes, then one byte every 100 ms
    for (const c of attackers) c.sendRaw('10 e0 d4 03 00 04 4d 51 54 54 04')
    const t0 = performance.now()
    while (!attackers.every((c) => c.ended) && performance.now() - t0 < 5000) {
      for (const c of attackers) if (!c.ended) c.sendRaw('00')
      await sleep(100)
    }
    const took = performance.now() - t0
    assert.ok(
      attackers.every((c) => c.ended),
      'trickling connections still open after 5 s',
    )
    assert.ok(took >= 900 && took < 3500, `closed after ${took.toFixed(0)} ms (packetTimeout 1000)`)
  })
  // each is held to what it sent (a 4 KiB buffer, doubled as bytes come), not the 60 000 bytes announced
  assertBelow(grown, 12 * MB, 'memory grew')
  await probe.stop('300 trickling CONNECTs')
})

test('slowloris: 300 connections that send nothing, or a CONNECT header and then nothing, are closed at connectTimeout', async (t) => {
  const tb = await startBroker({ connectTimeout: 800 }, t)
  const probe = await Probe.start(tb, t)
  const silent = await openMany(tb, 150)
  const headerOnly = await openMany(tb, 150)
  for (const c of headerOnly) c.sendRaw('10 0c 00 04 4d')
  const took = await allClosed([...silent, ...headerOnly], 4000)
  assert.ok(took < 3500, `closed after ${took.toFixed(0)} ms (connectTimeout 800)`)
  await probe.stop('300 silent connections')
})

test('a first packet that is not CONNECT is closed on its first byte, whatever its type [MQTT-3.1.0-1]', async (t) => {
  const tb = await startBroker({}, t)
  for (let type = 0; type < 16; type++) {
    if (type === PacketType.CONNECT) continue
    const c = await tb.open()
    // the first byte alone, with each type's required flags: refused before a length is read
    c.sendRaw(Buffer.from([(type << 4) | (type === 3 ? 0 : type === 6 || type === 8 || type === 10 ? 2 : 0)]))
    await c.closed(500, false)
  }
})

test('a connection flood from loopback (2000 connections in waves of 400, as fast as they open) is survived; the idle ones go at connectTimeout', async (t) => {
  const tb = await startBroker({ connectTimeout: 1000 }, t)
  const probe = await Probe.start(tb, t)
  const sockets: Socket[] = []
  const opened = (): Promise<void> => {
    const s = netConnect({ port: tb.port, host: '127.0.0.1' })
    s.on('error', () => {})
    s.resume() // flowing, so that the broker's close is seen
    sockets.push(s)
    return new Promise<void>((resolve) => {
      s.once('connect', () => resolve())
      s.once('close', () => resolve())
    })
  }
  const grown = await peakGrowth(async () => {
    // (waves below the listen backlog: past it the kernel, not the broker, holds connections back)
    for (let wave = 0; wave < 5; wave++) await Promise.all(Array.from({ length: 400 }, opened))
    try {
      await waitFor('the flood closed by connectTimeout', () => sockets.every((s) => s.destroyed), 8000)
    } finally {
      for (const s of sockets) s.destroy()
    }
  })
  assertBelow(grown, 48 * MB, 'memory grew')
  await probe.stop('a connection flood')
  await waitFor('the broker back to its one client', () => tb.broker.connectedCount === 1)
})
