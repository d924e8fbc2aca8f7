/**
 * petrel pub/sub at MQTT 5 (-V, -D, -x, -F) and petrel bench --protocol-version 5, against
 * Petrel and against Mosquitto 2, compared with what mosquitto_pub/mosquitto_sub do with the
 * same flags: the same properties arrive, and `petrel sub -F` prints what `mosquitto_sub -F`
 * prints for the same messages.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Broker } from '../../src/broker/broker.js'
import {
  type MosquittoBroker,
  mosquittoClientsSkip,
  mosquittoPub,
  mosquittoSkip,
  startMosquitto,
  startMosquittoSub,
} from '../helpers/mosquitto.js'
import { LOOPBACK } from '../helpers/net.js'
import { type Background, petrel, spawnPetrel } from './petrel-cli.js'

/** Every property a PUBLISH can carry from a client, as -D flags (mosquitto_pub's names). */
const PUBLISH_PROPS = [
  ['-D', 'publish', 'user-property', 'a', 'b'],
  ['-D', 'publish', 'user-property', 'c', 'd'],
  ['-D', 'publish', 'content-type', 'text/x'],
  ['-D', 'publish', 'correlation-data', 'abc'],
  ['-D', 'publish', 'message-expiry-interval', '100'],
  ['-D', 'publish', 'payload-format-indicator', '1'],
  ['-D', 'publish', 'response-topic', 'r/t'],
].flat()

/**
 * The property fields of -F with the message fields around them. No time fields and no %E (the
 * remaining expiry may tick between two deliveries), so two outputs compare exactly.
 */
const FORMAT = '%t|%C|%D|%F|%P|%R|%S|%p|%q|%r|%l|%x|%05l|%-4q|%.3t|%-6F|%6C|'

describe('petrel pub/sub/bench: bad MQTT 5 flags get one error line and exit 1', () => {
  const cases: [string[], RegExp][] = [
    [['pub', '-V', '7', '-t', 'x', '-m', 'y'], /^Error: Invalid protocol version argument given: 7/],
    [['pub', '-D', 'publish', 'foo', '1', '-t', 'x', '-m', 'y'], /^Error: Invalid property name 'foo'/],
    [['pub', '-D', 'pub', 'content-type', 'a', '-t', 'x', '-m', 'y'], /^Error: Invalid command 'pub'/],
    [
      ['pub', '-D', 'publish', 'session-expiry-interval', '5', '-t', 'x', '-m', 'y'],
      /^Error: session-expiry-interval property not allowed for publish/,
    ],
    [
      ['pub', '-D', 'publish', 'message-expiry-interval', '-5', '-t', 'x', '-m', 'y'],
      /^Error: Property value \(-5\) out of range for property message-expiry-interval/,
    ],
    [
      ['pub', '-D', 'connect', 'receive-maximum', '70000', '-t', 'x', '-m', 'y'],
      /^Error: Property value \(70000\) out of range for property receive-maximum/,
    ],
    [
      ['pub', '-D', 'publish', 'subscription-identifier', '5', '-t', 'x', '-m', 'y'],
      /^Error: subscription-identifier property not allowed for publish/,
    ],
    [
      ['pub', '-D', 'connect', 'maximum-qos', '1', '-t', 'x', '-m', 'y'],
      /^Error: maximum-qos property not allowed/,
    ],
    [
      ['pub', '-D', 'publish', 'content-type'],
      /^Error: -D argument given but not enough arguments specified/,
    ],
    [
      ['pub', '-V', 'mqttv311', '-D', 'publish', 'content-type', 'a', '-t', 'x', '-m', 'y'],
      /^Error: -D and -x are MQTT 5/,
    ],
    [
      ['pub', '-D', 'will', 'will-delay-interval', '5', '-t', 'x', '-m', 'y'],
      /^Error: Will properties given/,
    ],
    [['pub', '-x', 'soon', '-t', 'x', '-m', 'y'], /^Error: Invalid session-expiry-interval given: soon/],
    [['sub', '-t', 'x', '-F', '%z'], /^Error: Invalid format specifier 'z'/],
    [
      ['sub', '-t', 'x', '-D', 'auth', 'user-property', 'a', 'b'],
      /^Error: user-property property not supported for auth/,
    ],
  ]
  for (const [args, message] of cases) {
    test(`petrel ${args.join(' ')}`, async () => {
      const r = await petrel([args[0]!, '-p', '1', ...args.slice(1)])
      assert.equal(r.code, 1, r.stderr)
      assert.match(r.stderr, message)
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`)
      assert.equal(r.stdout, '')
    })
  }

  test('petrel bench --protocol-version 7 is a usage error (exit 2)', async () => {
    const r = await petrel(['bench', 'one2one', '-p', '1', '--protocol-version', '7'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /--protocol-version must be 5, 4 or 3/)
  })
})

interface Target {
  port: number
  /** Resolves once `count` SUBSCRIBEs for `filter` have reached the broker (any clients, since it started). */
  subscribed(filter: string, count?: number): Promise<void>
  close(): Promise<void>
}

async function petrelTarget(): Promise<Target> {
  const broker = new Broker({ sysInterval: 0 })
  const { port } = await broker.listen({ port: 0, host: LOOPBACK })
  const counts = new Map<string, number>()
  broker.on('subscribed', (subs: { topic: string }[]) => {
    for (const s of subs) counts.set(s.topic, (counts.get(s.topic) ?? 0) + 1)
  })
  return {
    port,
    async subscribed(filter, count = 1) {
      const deadline = Date.now() + 10_000
      while ((counts.get(filter) ?? 0) < count) {
        if (Date.now() > deadline) throw new Error(`fewer than ${count} SUBSCRIBEs for ${filter}`)
        await sleep(20)
      }
    },
    close: () => broker.close(),
  }
}

async function mosquittoTarget(): Promise<Target> {
  const m: MosquittoBroker = await startMosquitto({ config: ['log_type subscribe'] })
  return {
    port: m.port,
    async subscribed(filter, count = 1) {
      const deadline = Date.now() + 10_000
      const line = new RegExp(`: \\S+ \\d ${filter.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'gm')
      while ((m.log().match(line) ?? []).length < count) {
        if (Date.now() > deadline)
          throw new Error(`Mosquitto logged fewer than ${count} subscriptions to ${filter}:\n${m.log()}`)
        await sleep(20)
      }
    },
    close: () => m.stop(),
  }
}

const targets: [string, () => Promise<Target>, string | false][] = [
  ['Petrel', petrelTarget, false],
  ['Mosquitto', mosquittoTarget, mosquittoSkip()],
]

for (const [name, start, skipBroker] of targets) {
  describe(`MQTT 5 petrel pub/sub <-> mosquitto_pub/sub through ${name}`, {
    skip: skipBroker || mosquittoClientsSkip(),
  }, () => {
    let target: Target
    before(async () => {
      target = await start()
    })
    after(async () => {
      await target?.close()
    })

    let n = 0
    const topic = (what: string): string => `v5cli/${process.pid}/${name}/${++n}/${what}`
    const hp = (): string[] => ['-h', LOOPBACK, '-p', String(target.port)]

    /** mosquitto_sub until it has `count` messages, once the broker has its SUBSCRIBE. */
    const mosquittoSubscriber = (t: string, count: number, qos: 0 | 1 | 2, args: string[]) =>
      startMosquittoSub(target.port, { topics: [t], count, qos, waitSeconds: 10, args }, () =>
        target.subscribed(t),
      )

    /** A petrel sub, once its SUBSCRIBE is the `nth` for `t` the broker has seen. */
    async function petrelSubscriber(t: string, args: string[], nth = 1): Promise<Background> {
      const ready = target.subscribed(t, nth)
      const s = spawnPetrel(['sub', ...hp(), '-t', t, '-W', '10', ...args])
      await Promise.race([
        ready,
        s.exited.then(() => {
          throw new Error(`petrel sub exited early: ${s.stderr()}`)
        }),
      ])
      return s
    }

    test('mosquitto_sub -V mqttv5 -F prints the properties of petrel pub -D as it prints those of mosquitto_pub -D', async () => {
      const t = topic('props')
      const { done: sub } = await mosquittoSubscriber(t, 2, 1, ['-V', 'mqttv5', '-F', FORMAT])
      const p = await petrel(['pub', ...hp(), '-t', t, '-q', '1', '-m', 'same', ...PUBLISH_PROPS])
      assert.equal(p.code, 0, p.stderr)
      await mosquittoPub(target.port, ['-t', t, '-q', '1', '-m', 'same', ...PUBLISH_PROPS])
      const [fromPetrel, fromMosquitto] = (await sub).lines
      assert.equal(fromPetrel, fromMosquitto)
      assert.equal(
        fromPetrel,
        `${t}|text/x|abc|1|a:b c:d|r/t||same|1|0|4|73616d65|00004|1|${t.slice(0, 3)}|1     |text/x|`,
      )
    })

    test('petrel sub -F %E prints the Message Expiry Interval left', async () => {
      const t = topic('expiry')
      const s = await petrelSubscriber(t, ['-V', 'mqttv5', '-C', '1', '-F', '%E'])
      await mosquittoPub(target.port, [
        '-V',
        'mqttv5',
        '-t',
        t,
        '-m',
        'x',
        '-D',
        'publish',
        'message-expiry-interval',
        '100',
      ])
      assert.equal((await s.exited).code, 0, s.stderr())
      assert.match(s.stdout(), /^(99|100)\n$/)
    })

    test('petrel sub -V mqttv5 -F prints what mosquitto_sub -V mqttv5 -F prints for the same messages', async () => {
      const t = topic('format')
      const args = [
        '-V',
        'mqttv5',
        '-q',
        '2',
        '-C',
        '2',
        '-D',
        'subscribe',
        'subscription-identifier',
        '42',
        '-F',
        FORMAT,
      ]
      const { done: theirs } = await mosquittoSubscriber(t, 2, 2, args.slice(4))
      const ours = await petrelSubscriber(t, args, 2)
      await mosquittoPub(target.port, ['-t', t, '-q', '2', '-m', 'with properties', ...PUBLISH_PROPS])
      await mosquittoPub(target.port, ['-V', 'mqttv5', '-t', t, '-q', '0', '-m', 'bare'])
      assert.equal((await ours.exited).code, 0, ours.stderr())
      assert.equal(ours.stdout(), `${(await theirs).lines.join('\n')}\n`)
      assert.match(ours.stdout(), /\|42\|with properties\|/)
    })

    test('petrel sub -F %j prints mosquitto_sub -F %j (time aside), properties included', async () => {
      const t = topic('json')
      const { done: theirs } = await mosquittoSubscriber(t, 1, 1, ['-V', 'mqttv5', '-F', '%j'])
      const ours = await petrelSubscriber(t, ['-V', 'mqttv5', '-q', '1', '-C', '1', '-F', '%j'], 2)
      await mosquittoPub(target.port, ['-t', t, '-q', '1', '-m', 'he"llo', ...PUBLISH_PROPS])
      assert.equal((await ours.exited).code, 0, ours.stderr())
      // The time and the expiry left (it may tick between the two deliveries) aside.
      const strip = (line: string): string =>
        line
          .replace(/^\{"tst":"[^"]*",/, '{')
          .replace(/"message-expiry-interval":(99|100)/, '"message-expiry-interval":E')
      assert.equal(strip(ours.stdout().trim()), strip((await theirs).lines[0]!))
    })

    test('petrel sub -c -V mqttv5 keeps its session (Session Expiry Interval: never) and gets what was published while away', async () => {
      const t = topic('session')
      const id = `v5cli-${process.pid}-${name}`
      const first = await petrel(['sub', ...hp(), '-V', 'mqttv5', '-c', '-i', id, '-q', '1', '-t', t, '-E'])
      assert.equal(first.code, 0, first.stderr)
      await mosquittoPub(target.port, ['-V', 'mqttv5', '-t', t, '-q', '1', '-m', 'while away'])
      const again = await petrel([
        'sub',
        ...hp(),
        '-V',
        'mqttv5',
        '-c',
        '-i',
        id,
        '-q',
        '1',
        '-t',
        t,
        '-C',
        '1',
        '-W',
        '10',
      ])
      assert.equal(again.code, 0, again.stderr)
      assert.equal(again.stdout, 'while away\n')
      // -x 0 ends the session with the connection: nothing is kept any more.
      await petrel(['sub', ...hp(), '-V', 'mqttv5', '-c', '-x', '0', '-i', id, '-t', t, '-E'])
    })

    test('petrel pub -D connect and -D will reach the broker: the will carries its properties to mosquitto_sub', async () => {
      const t = topic('will')
      const { done: sub } = await mosquittoSubscriber(t, 1, 1, ['-V', 'mqttv5', '-F', '%t %C %P %p'])
      // A petrel sub that is killed (no DISCONNECT) leaves its will to be published.
      const s = spawnPetrel([
        'sub',
        ...hp(),
        '-t',
        `${t}/none`,
        '--will-topic',
        t,
        '--will-payload',
        'bye',
        '--will-qos',
        '1',
        '-D',
        'will',
        'content-type',
        'text/plain',
        '-D',
        'will',
        'user-property',
        'who',
        'petrel',
        '-D',
        'connect',
        'user-property',
        'tool',
        'petrel sub',
      ])
      await target.subscribed(`${t}/none`)
      s.child.kill('SIGKILL')
      await s.exited
      assert.deepEqual((await sub).lines, [`${t} text/plain who:petrel bye`])
    })

    test('petrel bench --protocol-version 5 runs one2one at QoS 1 without loss', async () => {
      const r = await petrel(
        ['bench', 'one2one', ...hp(), '--protocol-version', '5', '-q', '1', '-n', '200', '--json'],
        {
          timeoutMs: 30_000,
        },
      )
      assert.equal(r.code, 0, r.stderr)
      const result = JSON.parse(r.stdout) as { protocolVersion: number; lost: number; received: number }
      assert.equal(result.protocolVersion, 5)
      assert.equal(result.lost, 0)
      assert.equal(result.received, 200)
    })
  })
}

describe('a refused MQTT 5 connection exits with the CONNACK reason code, as mosquitto_pub does', {
  skip: mosquittoSkip() || mosquittoClientsSkip(),
}, () => {
  let m: MosquittoBroker
  before(async () => {
    m = await startMosquitto({ config: ['allow_anonymous false'] })
  })
  after(() => m?.stop())

  test('petrel pub/sub -V mqttv5 refused with 0x87 Not authorized: exit 135, one line', async () => {
    const theirs = await mosquittoPub(m.port, ['-V', 'mqttv5', '-t', 'x', '-m', 'y'], { allowFailure: true })
    for (const tool of [
      ['pub', '-t', 'x', '-m', 'y'],
      ['sub', '-t', 'x'],
    ]) {
      const ours = await petrel([
        tool[0]!,
        '-h',
        LOOPBACK,
        '-p',
        String(m.port),
        '-V',
        'mqttv5',
        ...tool.slice(1),
      ])
      assert.equal(ours.code, theirs.code)
      assert.equal(ours.code, 0x87)
      assert.equal(ours.stderr, 'Connection refused: not authorized (0x87).\n')
    }
  })
})

describe('petrel sub -F %A through Petrel, which assigns topic aliases to a client that allows them', () => {
  let target: Target
  before(async () => {
    target = await petrelTarget()
  })
  after(async () => {
    await target?.close()
  })

  test('prints the topic alias the broker used, on the PUBLISH that set it and on those that used it [MQTT-3.3.2-12] [MQTT-3.1.2-26]', async () => {
    const base = `v5cli-alias/${process.pid}`
    const filter = `${base}/#`
    const hp = ['-h', LOOPBACK, '-p', String(target.port)]
    const ready = target.subscribed(filter)
    const s = spawnPetrel([
      'sub',
      ...hp,
      '-t',
      filter,
      '-W',
      '10',
      '-C',
      '3',
      '-D',
      'connect',
      'topic-alias-maximum',
      '5',
      '-F',
      '%A|%t|%p',
    ])
    await Promise.race([
      ready,
      s.exited.then(() => {
        throw new Error(`petrel sub exited early: ${s.stderr()}`)
      }),
    ])
    for (const [t, m] of [
      ['x', 'one'],
      ['y', 'two'],
      ['x', 'three'],
    ] as const) {
      const p = await petrel(['pub', ...hp, '-V', 'mqttv5', '-t', `${base}/${t}`, '-m', m])
      assert.equal(p.code, 0, p.stderr)
    }
    assert.equal((await s.exited).code, 0, s.stderr())
    assert.equal(s.stdout(), `1|${base}/x|one\n2|${base}/y|two\n1|${base}/x|three\n`)
  })

  test('prints nothing for %A when the client allows no topic aliases (the default)', async () => {
    const t = `v5cli-alias/${process.pid}/none`
    const hp = ['-h', LOOPBACK, '-p', String(target.port)]
    const ready = target.subscribed(t)
    const s = spawnPetrel(['sub', ...hp, '-t', t, '-W', '10', '-C', '1', '-V', 'mqttv5', '-F', '[%A]|%t'])
    await Promise.race([
      ready,
      s.exited.then(() => {
        throw new Error(`petrel sub exited early: ${s.stderr()}`)
      }),
    ])
    const p = await petrel(['pub', ...hp, '-V', 'mqttv5', '-t', t, '-m', 'x'])
    assert.equal(p.code, 0, p.stderr)
    assert.equal((await s.exited).code, 0, s.stderr())
    assert.equal(s.stdout(), `[]|${t}\n`)
  })
})
