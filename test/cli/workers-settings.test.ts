/**
 * `petrel broker`'s --workers and `workers:`: how many processes share the port, checked with
 * one line per mistake, and what each worker's settings become (node name, HTTP port).
 */
import assert from 'node:assert/strict'
import { availableParallelism, hostname } from 'node:os'
import { describe, test } from 'node:test'
import { resolveSettings } from '../../src/cli/config.js'
import { shownSettings } from '../../src/cli/shown-settings.js'
import { workerSettings } from '../../src/cli/workers.js'
import { ConfigError } from '../../src/errors.js'

const A = 'nats://127.0.0.1:4222'

function settings(file: Record<string, unknown>, flags: Record<string, string> = {}) {
  return resolveSettings(file, 'f.yaml', new Map(Object.entries(flags)))
}

describe('workers settings', () => {
  test('are 1 (this process alone) unless given', () => {
    assert.equal(settings({}).workers, 1)
    assert.equal(settings({}, { cluster: A }).workers, 1)
  })

  test('take a count from --workers or workers:, the flag winning', () => {
    assert.equal(settings({}, { cluster: A, workers: '3' }).workers, 3)
    assert.equal(settings({ cluster: A, workers: 4 }).workers, 4)
    assert.equal(settings({ cluster: A, workers: 4 }, { workers: '2' }).workers, 2)
  })

  test('take 0 or auto as one per core', () => {
    const cores = availableParallelism()
    assert.equal(settings({}, { cluster: A, workers: '0' }).workers, cores)
    assert.equal(settings({}, { cluster: A, workers: 'auto' }).workers, cores)
    assert.equal(settings({ cluster: A, workers: 'auto' }).workers, cores)
  })

  const refusals: [string, Record<string, unknown>, Record<string, string>, RegExp][] = [
    [
      '--workers without a cluster',
      {},
      { workers: '2' },
      /^--workers needs --cluster \(or cluster: \{ servers \} in a config file\): the workers share messages, retained messages and sessions through the cluster$/,
    ],
    ['workers: without a cluster', { workers: 2 }, {}, /^f\.yaml: workers needs --cluster/],
    [
      'a negative count',
      {},
      { cluster: A, workers: '-1' },
      /^--workers must be a whole number from 1 to 1024, or 0 or auto for one per core; got '-1'$/,
    ],
    ['a word', {}, { cluster: A, workers: 'many' }, /^--workers must be .*; got 'many'$/],
    ['a fraction in a file', { cluster: A, workers: 1.5 }, {}, /^f\.yaml: workers must be .*; got 1\.5$/],
    ['too many', {}, { cluster: A, workers: '5000' }, /^--workers must be .*; got '5000'$/],
    [
      'HTTP ports past 65535',
      {},
      { cluster: A, workers: '3', httpPort: '65534' },
      /^--workers: worker i's HTTP endpoint listens on the HTTP port \+ i, and 65534 \+ 2 is over 65535$/,
    ],
  ]
  for (const [what, file, flags, message] of refusals) {
    test(`refuses ${what} with one line`, () => {
      assert.throws(
        () => settings(file, flags),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError)
          assert.equal(err.option, 'workers')
          assert.match(err.message, message)
          return true
        },
      )
    })
  }

  test("name each worker's node <node>-w<i>, the given name or host-pid", () => {
    const given = settings({}, { cluster: A, clusterNode: 'edge', workers: '2' })
    assert.equal(workerSettings(given, 1).cluster?.node, 'edge-w1')
    const dflt = settings({}, { cluster: A, workers: '2' })
    assert.equal(workerSettings(dflt, 0).cluster?.node, `${hostname()}-${process.pid}-w0`)
    assert.equal(dflt.cluster?.node, undefined, 'the settings given are not changed')
  })

  test("put worker i's HTTP endpoint on the HTTP port + i, and a free port each for port 0", () => {
    const s = settings({}, { cluster: A, workers: '3', httpPort: '9090' })
    assert.deepEqual(
      [0, 1, 2].map((i) => workerSettings(s, i).http?.port),
      [9090, 9091, 9092],
    )
    const free = settings({}, { cluster: A, workers: '3', httpPort: '0' })
    assert.equal(workerSettings(free, 2).http?.port, 0)
  })

  test('are shown by /api/v1/broker when more than one', () => {
    assert.equal(shownSettings(settings({}, { cluster: A, workers: '2' })).workers, 2)
    assert.equal(shownSettings(settings({}, { cluster: A })).workers, undefined)
  })
})
