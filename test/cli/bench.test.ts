/**
 * `petrel bench` against Petrel with tiny counts: every scenario runs, counts
 * what it should, and reports a table or JSON; bad options exit 2.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../src/broker/broker.js'
import type { BenchResult } from '../../src/cli/bench/run.js'
import { LOOPBACK } from '../helpers/net.js'
import { petrel } from './petrel-cli.js'

let broker: Broker
let port: number
before(async () => {
  broker = new Broker({ sysInterval: 0 })
  ;({ port } = await broker.listen({ port: 0, host: LOOPBACK }))
})
after(() => broker.close())

const hp = (): string[] => ['-h', LOOPBACK, '-p', String(port)]

async function bench(args: string[]): Promise<BenchResult> {
  const r = await petrel(['bench', ...args, ...hp(), '--json'], { timeoutMs: 30_000 })
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as BenchResult
}

describe('petrel bench', () => {
  const scenarios: [string, string[], { publishers: number; subscribers: number; expected: number }][] = [
    ['one2one', ['-c', '2', '-n', '50'], { publishers: 2, subscribers: 2, expected: 100 }],
    ['fanin', ['-c', '3', '-n', '20'], { publishers: 3, subscribers: 1, expected: 60 }],
    ['fanout', ['-c', '3', '-n', '20'], { publishers: 1, subscribers: 3, expected: 60 }],
    ['mesh', ['-c', '3', '-n', '10'], { publishers: 3, subscribers: 3, expected: 90 }],
  ]
  for (const [scenario, args, want] of scenarios) {
    for (const qos of ['0', '1', '2']) {
      test(`${scenario} at QoS ${qos} delivers every message once and measures latency`, async () => {
        const r = await bench([scenario, ...args, '-q', qos, '-s', '32'])
        assert.equal(r.scenario, scenario)
        assert.equal(r.publishers, want.publishers)
        assert.equal(r.subscribers, want.subscribers)
        assert.equal(r.expected, want.expected)
        assert.equal(r.received, want.expected)
        assert.equal(r.lost, 0)
        assert.equal(r.duplicated, 0)
        assert.equal(r.errors, 0)
        assert.ok(r.latencyMs !== null && r.latencyMs.p50 > 0 && r.latencyMs.p99 >= r.latencyMs.p50)
        assert.ok(r.msgsPerSec > 0)
      })
    }
  }

  test('conn opens many idle connections and reports the connect rate and times', async () => {
    const r = await bench(['conn', '-c', '50', '-d', '1'])
    assert.equal(r.connections.connected, 50)
    assert.equal(r.connections.failed, 0)
    assert.equal(r.connections.dropped, 0)
    assert.ok(r.connections.connectMs !== null && r.connections.perSec > 0)
  })

  test('--rate paces the publishers and --duration bounds the run', async () => {
    const r = await bench(['one2one', '-q', '1', '-r', '50', '-d', '1'])
    assert.equal(r.sent, 50)
    assert.equal(r.received, 50)
    assert.ok(r.seconds >= 0.9, `${r.seconds} s`)
  })

  test('prints a table with msgs/s, latency percentiles, lost and duplicated', async () => {
    const r = await petrel(['bench', 'fanin', '-c', '2', '-n', '10', ...hp()], { timeoutMs: 30_000 })
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    assert.match(
      lines[0]!,
      /^petrel bench fanin: 2 publishers -> 1 subscriber, mqtt:\/\/127\.0\.0\.1:\d+, MQTT 3\.1\.1$/,
    )
    assert.match(
      lines[2]!,
      /^\| qos \| size \| sent \| received \| msgs\/s \| p50 ms \| p95 ms \| p99 ms \| lost \| duplicated \|$/,
    )
    assert.match(lines[4]!, /^\| +0 \| +64 \| +20 \| +20 \| +[\d,]+ \| .* \| +0 \| +0 \|$/)
  })

  const refused: [string, string[], RegExp][] = [
    ['no scenario', [], /give a scenario: one2one, fanin, fanout, mesh, conn/],
    ['an unknown scenario', ['fanfare'], /unknown scenario 'fanfare'/],
    [
      'a payload too small for the timestamp',
      ['one2one', '-s', '8'],
      /--size must be a whole number from 16/,
    ],
    ['a bad QoS', ['one2one', '-q', '3'], /--qos must be a whole number from 0 to 2/],
  ]
  for (const [what, args, message] of refused) {
    test(`refuses ${what} with exit code 2`, async () => {
      const r = await petrel(['bench', ...args, ...hp()])
      assert.equal(r.code, 2)
      assert.match(r.stderr, message)
    })
  }

  test('exits 2 when it cannot connect', async () => {
    const r = await petrel(['bench', 'one2one', '-h', LOOPBACK, '-p', '1'], { timeoutMs: 20_000 })
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^petrel bench: cannot connect to mqtt:\/\/127\.0\.0\.1:1: /)
  })
})
