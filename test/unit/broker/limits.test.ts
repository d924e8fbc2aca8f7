import assert from 'node:assert/strict'
import { test } from 'node:test'
import { IpLimits } from '../../../src/broker/ip-limits.js'
import { LimitLog, limitCounts } from '../../../src/broker/limits.js'
import { type Logger, resolveOptions } from '../../../src/broker/options.js'

function logger(): Logger & { lines: string[] } {
  const lines: string[] = []
  const noop = (): void => {}
  return { lines, debug: noop, info: noop, warn: (_f, msg) => lines.push(msg), error: noop }
}

test('LimitLog counts every hit and logs each offender once per limit', () => {
  const counts = limitCounts()
  const log = logger()
  const limits = new LimitLog(counts, log)
  for (let i = 0; i < 5; i++) limits.hit('topic-levels', 'a', 'deep')
  limits.hit('topic-levels', 'b', 'deep')
  limits.hit('packet-size', 'a', 'big')
  assert.equal(counts['topic-levels'], 6)
  assert.equal(counts['packet-size'], 1)
  assert.equal(log.lines.length, 3)
})

test('LimitLog remembers at most 1024 offenders per limit and logs at most 100 lines a minute, summing up the rest', () => {
  const log = logger()
  let now = 0
  const limits = new LimitLog(limitCounts(), log, () => now)
  for (let i = 0; i < 5000; i++) limits.hit('connections-per-ip', `10.0.${i >> 8}.${i & 255}`, 'x')
  assert.equal(log.lines.length, 100)
  // the most recent offenders are remembered, the oldest forgotten
  now += 60_000
  limits.hit('connections-per-ip', '10.0.19.135', 'x') // the last one: remembered, not logged again
  assert.equal(log.lines.length, 100)
  limits.hit('connections-per-ip', '10.0.0.0', 'x') // the first one: forgotten, so new again
  assert.deepEqual(log.lines.slice(100), [
    '4900 more offenders of connections-per-ip were not logged',
    'x (logged once per offender)',
  ])
})

test('IpLimits forgets an address once it has no connection and a full bucket', () => {
  const o = resolveOptions({})
  const ip = new IpLimits(o, new LimitLog(limitCounts(), logger()))
  let now = 1000
  for (let i = 0; i < 3000; i++) {
    const key = ip.admit(`198.51.${i >> 8}.${i & 255}`, now)
    assert.equal(typeof key, 'string')
    ip.release(key as string, now)
    now += 1
  }
  // each left with a bucket one token short: swept as the table doubles, 1024 at most past its floor
  assert.ok(ip.size <= 2048, `${ip.size} addresses tracked`)
  now += 1000
  for (let i = 0; i < 2000; i++) ip.admit(`203.0.${i >> 8}.${i & 255}`, now)
  assert.ok(ip.size <= 4096, `${ip.size} addresses tracked`)
})

test('IpLimits does not limit loopback at the defaults, nor a stream without an address', () => {
  const ip = new IpLimits(resolveOptions({}), new LimitLog(limitCounts(), logger()))
  for (let i = 0; i < 5000; i++) assert.equal(ip.admit('127.0.0.1', 0), undefined)
  assert.equal(ip.admit('::1', 0), undefined)
  assert.equal(ip.admit(undefined, 0), undefined)
  const strict = new IpLimits(
    resolveOptions({ maxConnectionsPerIp: 2 }),
    new LimitLog(limitCounts(), logger()),
  )
  assert.equal(typeof strict.admit('127.0.0.1', 0), 'string')
  assert.equal(typeof strict.admit('127.0.0.1', 0), 'string')
  assert.equal(strict.admit('127.0.0.1', 0), null)
})
