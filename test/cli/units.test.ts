/**
 * The CLI's pure parts: the flag parser, config files and settings, the log
 * formatter, stdin line splitting, and the bench's histogram and topologies.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, test } from 'node:test'
import type { BrokerOptions } from '../../src/broker/options.js'
import { last, parseArgs } from '../../src/cli/args.js'
import { Histogram } from '../../src/cli/bench/histogram.js'
import { formatProgress } from '../../src/cli/bench/report.js'
import type { BenchOptions } from '../../src/cli/bench/run.js'
import { topology } from '../../src/cli/bench/scenario.js'
import { readConfigFile, resolveSettings } from '../../src/cli/config.js'
import { CONFIG_KEYS } from '../../src/cli/config-keys.js'
import { createLogger, formatRecord } from '../../src/cli/logging.js'
import { readLines } from '../../src/cli/stdin.js'
import { usersAuthenticator } from '../../src/cli/users.js'
import { ConfigError } from '../../src/errors.js'

const SPECS = [
  { name: 'topic', short: 't', value: true, help: '' },
  { name: 'message', short: 'm', value: true, help: '' },
  { name: 'retain', short: 'r', value: false, help: '' },
]

describe('flag parser', () => {
  test('collects repeated flags in order and lets the last one win for single values', () => {
    const a = parseArgs(['-t', 'a', '--topic', 'b', '--topic=c', '-r'], SPECS)
    assert.deepEqual(a.flags.get('topic'), ['a', 'b', 'c'])
    assert.equal(last(a, 'topic'), 'c')
    assert.deepEqual(a.flags.get('retain'), ['true'])
  })

  test('takes the next argument as the value even when it starts with a dash, as mosquitto_pub does', () => {
    assert.equal(last(parseArgs(['-m', '-5'], SPECS), 'message'), '-5')
  })

  test('refuses unknown flags, missing values, and values given to boolean flags', () => {
    assert.throws(() => parseArgs(['--bogus'], SPECS), /unknown option '--bogus'/)
    assert.throws(() => parseArgs(['-t'], SPECS), /option '-t' needs a value/)
    assert.throws(() => parseArgs(['--retain=yes'], SPECS), /takes no value/)
  })

  test('keeps positionals and a lone dash', () => {
    assert.deepEqual(parseArgs(['one2one', '-', '-r'], SPECS).positionals, ['one2one', '-'])
  })
})

describe('broker settings', () => {
  const noFlags = new Map<string, string>()

  test('defaults: port 1883 on 127.0.0.1, SQLite in ./petrel-data, no authentication', () => {
    const s = resolveSettings({}, '', noFlags)
    assert.equal(s.port, 1883)
    assert.equal(s.host, '127.0.0.1')
    assert.equal(s.dataDir, 'petrel-data')
    assert.equal(s.memory, false)
    assert.equal(s.sync, 'normal')
    assert.equal(s.logLevel, 'info')
    assert.equal(s.users, undefined)
    assert.equal(s.passwordFile, undefined)
    assert.equal(s.allowAnonymous, true)
    assert.deepEqual(s.broker, {})
  })

  const SCRAM =
    'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU='

  test('allowAnonymous defaults to false once users or a password file is set, and the file may say otherwise', () => {
    assert.equal(resolveSettings({ users: { bob: SCRAM } }, 'f', noFlags).allowAnonymous, false)
    const viaFlag = resolveSettings({}, 'f', new Map([['passwordFile', '/etc/petrel/passwd']]))
    assert.equal(viaFlag.passwordFile, '/etc/petrel/passwd')
    assert.equal(viaFlag.allowAnonymous, false)
    assert.equal(resolveSettings({ passwordFile: 'p' }, 'f', noFlags).allowAnonymous, false)
    assert.equal(
      resolveSettings({ passwordFile: 'p', allowAnonymous: true }, 'f', noFlags).allowAnonymous,
      true,
    )
    assert.equal(resolveSettings({ allowAnonymous: false }, 'f', noFlags).allowAnonymous, false)
  })

  test('users held as SCRAM credentials need no allowPlaintextUsers; plain-text passwords do', () => {
    assert.equal(resolveSettings({ users: { bob: SCRAM } }, 'f', noFlags).users?.get('bob'), SCRAM)
    const plain = { users: { bob: SCRAM, carol: 'builder' }, allowPlaintextUsers: true }
    assert.equal(resolveSettings(plain, 'f', noFlags).users?.get('carol'), 'builder')
  })

  test('takes every BrokerOptions value from the file and lets flags override it', () => {
    const s = resolveSettings(
      { port: 1884, maxInflight: 10, sysInterval: 0, sessionExpiry: 60, logLevel: 'warn' },
      'petrel.yaml',
      new Map([
        ['port', '1885'],
        ['maxInflight', '20'],
      ]),
    )
    assert.equal(s.port, 1885)
    assert.equal(s.logLevel, 'warn')
    assert.deepEqual(s.broker, { maxInflight: 20, sysInterval: 0, sessionExpiry: 60 })
  })

  test('knows every option of the embedding API except hooks, logger and store', () => {
    // Compile-time: a key of this object that BrokerOptions lacks, or the reverse, fails tsc.
    const fileable: Record<
      Exclude<
        keyof BrokerOptions,
        'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'hooks' | 'logger' | 'store'
      >,
      true
    > = {
      maxPacketSize: true,
      maxConnectSize: true,
      packetTimeout: true,
      maxTopicLevels: true,
      stuckConsumerWindow: true,
      maxInflight: true,
      maxQueuedMessages: true,
      maxConnections: true,
      connectTimeout: true,
      sysInterval: true,
      slowConsumerTimeout: true,
      maxOutputBuffer: true,
      sessionExpiry: true,
      maxKeepalive: true,
      receiveMaximum: true,
      topicAliasMaximum: true,
      responseInformation: true,
      // issue 13: limits
      maxConnectionsPerIp: true,
      connectionRatePerIp: true,
      maxSubscriptionsPerClient: true,
      maxInboundRate: true,
      maxInboundBytesRate: true,
      cluster: true, // a section of its own: cluster-settings.ts
    }
    for (const key of Object.keys(fileable)) assert.ok(CONFIG_KEYS.has(key), key)
  })

  const refusals: [string, Record<string, unknown>, Map<string, string>, RegExp][] = [
    [
      'an unknown key, with the nearest known one',
      { maxInflights: 3 },
      noFlags,
      /f\.yaml: unknown key 'maxInflights' \(did you mean 'maxInflight'\?\); allowed keys: port, host/,
    ],
    [
      'a string for a number',
      { port: 'abc' },
      noFlags,
      /f\.yaml: port must be a whole number from 0 to 65535; got 'abc'/,
    ],
    [
      'a number out of range',
      { maxInflight: 0 },
      noFlags,
      /f\.yaml: maxInflight must be a whole number from 1 to 65535; got 0/,
    ],
    [
      'a fraction',
      { sysInterval: 1.5 },
      noFlags,
      /f\.yaml: sysInterval must be a whole number >= 0; got 1\.5/,
    ],
    ['a bad enum value', { sync: 'fast' }, noFlags, /f\.yaml: sync must be one of normal, full; got 'fast'/],
    [
      'a bad flag value',
      {},
      new Map([['logLevel', 'loud']]),
      /--log-level must be one of debug, info, warn, error, silent; got 'loud'/,
    ],
    [
      'users that are not a map',
      { users: ['alice'] },
      noFlags,
      /users must be a mapping of user names to passwords/,
    ],
    [
      'a password that is not a string',
      { users: { alice: { x: 1 } } },
      noFlags,
      /users\.alice must be a password/,
    ],
    ['memory and dataDir together', { memory: true, dataDir: 'x' }, noFlags, /exclude each other/],
    [
      'a plain-text password without allowPlaintextUsers',
      { users: { alice: 'secret' } },
      noFlags,
      /^f\.yaml: users\.alice holds a plain-text password; put your users in a password file \('petrel passwd -c passwd alice', then passwordFile: passwd\), or set allowPlaintextUsers: true$/,
    ],
    [
      'a number as a password without allowPlaintextUsers',
      { users: { alice: 1234 } },
      noFlags,
      /users\.alice holds a plain-text password/,
    ],
    [
      'users and a password file together',
      { users: { alice: 'secret' }, allowPlaintextUsers: true, passwordFile: 'p' },
      noFlags,
      /^f\.yaml: users and passwordFile exclude each other; put every user in the password file$/,
    ],
    [
      'an empty passwordFile',
      { passwordFile: '' },
      noFlags,
      /f\.yaml: passwordFile must be a string; got ''/,
    ],
  ]
  for (const [what, file, flags, message] of refusals) {
    test(`refuses ${what} with one line naming the key and what is allowed`, () => {
      assert.throws(
        () => resolveSettings(file, 'f.yaml', flags),
        (err: unknown) =>
          err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'),
      )
    })
  }

  test('a --memory or --data-dir flag overrides the store chosen in the file', () => {
    assert.equal(resolveSettings({ dataDir: 'x' }, 'f', new Map([['memory', 'true']])).memory, true)
    const s = resolveSettings({ memory: true }, 'f', new Map([['dataDir', 'y']]))
    assert.equal(s.memory, false)
    assert.equal(s.dataDir, 'y')
  })

  test('reads YAML and JSON files, and refuses a file that is not a mapping', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-config-'))
    try {
      await writeFile(join(dir, 'a.yaml'), 'port: 1999\nusers:\n  alice: secret\n')
      await writeFile(join(dir, 'b.json'), '{"port": 2000, "memory": true}')
      await writeFile(join(dir, 'c.yaml'), '- 1\n- 2\n')
      await writeFile(join(dir, 'd.json'), '{"port": ')
      assert.deepEqual(await readConfigFile(join(dir, 'a.yaml')), { port: 1999, users: { alice: 'secret' } })
      assert.deepEqual(await readConfigFile(join(dir, 'b.json')), { port: 2000, memory: true })
      await assert.rejects(readConfigFile(join(dir, 'c.yaml')), /must hold a mapping/)
      await assert.rejects(readConfigFile(join(dir, 'd.json')), /is not valid JSON/)
      await assert.rejects(readConfigFile(join(dir, 'none.yaml')), /cannot read config file .*: no such file/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('users: the right password is let in; anyone else gets CONNACK 5 unless anonymous is allowed', () => {
    // (plain-text users reach usersAuthenticator only with allowPlaintextUsers: true)
    const auth = usersAuthenticator(new Map([['alice', 'secret']]), false)
    const client = { id: 'c', username: undefined, remoteAddress: undefined, protocolVersion: 4 }
    assert.equal(auth(client, 'alice', Buffer.from('secret')), true)
    assert.equal(auth(client, 'alice', Buffer.from('wrong')), 5)
    assert.equal(auth(client, 'bob', Buffer.from('secret')), 5)
    assert.equal(auth(client, undefined, undefined), 5)
    assert.equal(usersAuthenticator(new Map(), true)(client, undefined, undefined), true)
  })
})

describe('logs', () => {
  test('writes JSON lines with the level name, the message and the fields', () => {
    const lines: string[] = []
    const log = createLogger({ level: 'info', pretty: false, sink: { write: (s) => lines.push(s) } })
    log.debug({ a: 1 }, 'hidden')
    log.info({ port: 1883 }, 'listening')
    assert.equal(lines.length, 1)
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>
    assert.equal(rec.level, 'info')
    assert.equal(rec.msg, 'listening')
    assert.equal(rec.port, 1883)
    assert.equal(typeof rec.time, 'number')
  })

  test('formats a record for a terminal as time, level, message and key=value fields', () => {
    const line = formatRecord(
      JSON.stringify({ level: 'warn', time: 0, pid: 1, msg: 'slow consumer', clientId: 'a b', n: 3 }),
      false,
    )
    assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} WARN {2}slow consumer clientId="a b" n=3\n$/)
    const err = formatRecord(
      JSON.stringify({ level: 'error', time: 0, msg: 'x', err: { message: 'boom', stack: '...' } }),
      false,
    )
    assert.match(err, /ERROR x err="boom"\n$/)
  })
})

describe('stdin lines (pub -l)', () => {
  async function lines(chunks: string[]): Promise<string[]> {
    const out: string[] = []
    for await (const l of readLines(Readable.from(chunks.map((c) => Buffer.from(c))))) out.push(l.toString())
    return out
  }

  test('splits on newline only, keeps empty lines and carriage returns, and sends a last unterminated line', async () => {
    assert.deepEqual(await lines(['a\n\nb']), ['a', '', 'b'])
    assert.deepEqual(await lines(['one\r\ntwo\r\n']), ['one\r', 'two\r'])
    assert.deepEqual(await lines(['sp', 'lit\nacross', ' chunks\n']), ['split', 'across chunks'])
  })
})

describe('bench', () => {
  test('the histogram gives percentiles within 0.5 %', () => {
    const h = new Histogram()
    for (let i = 1; i <= 100_000; i++) h.record(i / 100) // 0.01 .. 1000 ms, uniform
    for (const [p, want] of [
      [50, 500],
      [95, 950],
      [99, 990],
    ] as const) {
      const got = h.percentile(p)
      assert.ok(Math.abs(got - want) / want < 0.005, `p${p}: ${got} vs ${want}`)
    }
    assert.equal(h.maxMs(), 1000)
    assert.ok(Number.isNaN(new Histogram().percentile(50)))
  })

  test('the live progress line shows the phase, counts and rates', () => {
    const o = { scenario: 'fanin', qos: 1 } as BenchOptions
    const line = formatProgress(o, {
      phase: 'publishing',
      elapsed: 2,
      connected: 21,
      sent: 30_000,
      received: 25_000,
    })
    assert.equal(line, 'fanin q1 publishing  sent 30,000 (15k/s)  received 25,000 (13k/s)  2.0 s')
    const conn = formatProgress(
      { ...o, scenario: 'conn' },
      { phase: 'holding', elapsed: 1, connected: 900, sent: 0, received: 0 },
    )
    assert.equal(conn, 'conn holding  900 connected  1.0 s')
  })

  test('topologies: who publishes and who should receive what', () => {
    const mesh = topology('mesh', 3, 'p')
    assert.equal(mesh.publishers, 3)
    assert.deepEqual(mesh.fanout, [3, 3, 3])
    const fanin = topology('fanin', 4, 'p')
    assert.deepEqual(fanin.fanout, [1, 1, 1, 1])
    assert.equal(fanin.participants.at(-1)!.filter, 'p/+')
    const fanout = topology('fanout', 5, 'p')
    assert.deepEqual(fanout.fanout, [5])
    assert.equal(topology('one2one', 2, 'p').participants.length, 4)
    assert.equal(topology('conn', 7, 'p').participants.length, 7)
  })
})
