/**
 * `petrel pub` and `petrel sub` against Petrel's broker: the mosquitto_pub /
 * mosquitto_sub flags, their output formats and their exit codes.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../src/broker/broker.js'
import { LOOPBACK } from '../helpers/net.js'
import { type Background, petrel, spawnPetrel } from './petrel-cli.js'

let broker: Broker
let port: number
let dir: string
const users = new Map([['alice', 'secret']])

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petrel-cli-pubsub-'))
  broker = new Broker({
    sysInterval: 0,
    // Anonymous clients are welcome; a user name must come with its password.
    authenticate: (_c, username, password) =>
      username === undefined || users.get(username) === password?.toString() ? true : 5,
    authorizeSubscribe: (_c, filter) => !filter.startsWith('forbidden/'),
  })
  ;({ port } = await broker.listen({ port: 0, host: LOOPBACK }))
})

after(async () => {
  await broker.close()
  await rm(dir, { recursive: true, force: true })
})

let n = 0
function topic(name: string): string {
  return `cli/${process.pid}/${++n}/${name}`
}

const P = (): string[] => ['-h', LOOPBACK, '-p', String(port)]

/** Resolves once Petrel has processed a SUBSCRIBE that includes `filter`. */
function subscribed(filter: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const on = (subs: { topic: string }[]): void => {
      if (subs.some((s) => s.topic === filter)) {
        clearTimeout(timer)
        broker.off('subscribed', on)
        resolve()
      }
    }
    const timer = setTimeout(() => {
      broker.off('subscribed', on)
      reject(new Error(`no SUBSCRIBE for ${filter}`))
    }, timeoutMs)
    broker.on('subscribed', on)
  })
}

/** Starts `petrel sub` on `filter` and returns once the broker has its subscription. */
async function sub(filter: string, args: string[]): Promise<Background> {
  const ready = subscribed(filter)
  const s = spawnPetrel(['sub', ...P(), '-t', filter, '-W', '10', ...args])
  await Promise.race([
    ready,
    s.exited.then(() => {
      throw new Error(`petrel sub exited early: ${s.stderr()}`)
    }),
  ])
  return s
}

async function pub(args: string[], input?: string): Promise<void> {
  const r = await petrel(['pub', ...P(), ...args], input === undefined ? {} : { input })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
}

describe('petrel pub -> petrel sub', () => {
  for (const qos of ['0', '1', '2']) {
    test(`delivers at QoS ${qos} and -v prints 'topic payload'`, async () => {
      const t = topic(`q${qos}`)
      const s = await sub(t, ['-q', qos, '-C', '1', '-v'])
      await pub(['-t', t, '-q', qos, '-m', `hello ${qos}`])
      assert.deepEqual(await s.exited, { code: 0, signal: null })
      assert.equal(s.stdout(), `${t} hello ${qos}\n`)
    })
  }

  test('-l publishes one message per line (empty lines too); -N prints no newline', async () => {
    const t = topic('lines')
    const s = await sub(t, ['-C', '4', '-N', '-q', '1'])
    await pub(['-t', t, '-q', '1', '-l'], 'one\n\ntwo\r\nthree')
    assert.equal((await s.exited).code, 0)
    assert.equal(s.stdout(), 'onetwo\rthree') // the empty message prints nothing, as in mosquitto_sub
  })

  test('-n sends a null message, which -v prints as (null)', async () => {
    const t = topic('null')
    const s = await sub(t, ['-C', '1', '-v'])
    await pub(['-t', t, '-n'])
    await s.exited
    assert.equal(s.stdout(), `${t} (null)\n`)
  })

  test('-s sends all of stdin and -f a file, byte for byte', async () => {
    const t = topic('stdin')
    const file = join(dir, 'payload.bin')
    const content = 'h\u00e9llo \u2713\u0000end\r\n'
    await writeFile(file, content)
    const s = await sub(t, ['-C', '2', '-N'])
    await pub(['-t', t, '-s'], 'all\nof it\n')
    await pub(['-t', t, '-f', file])
    await s.exited
    assert.equal(s.stdout(), `all\nof it\n${content}`)
  })

  test('-r retains; a new subscriber gets it, and -R skips it as stale', async () => {
    const t = topic('retained')
    await pub(['-t', t, '-r', '-q', '1', '-m', 'kept'])
    const got = await petrel(['sub', ...P(), '-t', t, '-C', '1', '-v', '-W', '10'])
    assert.equal(got.code, 0, got.stderr)
    assert.equal(got.stdout, `${t} kept\n`)
    const skipped = await petrel(['sub', ...P(), '-t', t, '-R', '-W', '1'])
    assert.equal(skipped.code, 27)
    assert.equal(skipped.stdout, '')
    assert.equal(skipped.stderr, 'Timed out\n')
  })

  test('repeated -t subscribes to each filter; -C stops after that many', async () => {
    const a = topic('a')
    const b = topic('b')
    const ready = Promise.all([subscribed(a), subscribed(b)])
    const s = spawnPetrel(['sub', ...P(), '-t', a, '-t', b, '-C', '2', '-v', '-W', '10'])
    await ready
    await pub(['-t', a, '-m', '1'])
    await pub(['-t', b, '-m', '2'])
    await s.exited
    assert.equal(s.stdout(), `${a} 1\n${b} 2\n`)
  })

  test('-t __proto__ and -t constructor are filters like any other', async () => {
    const ready = Promise.all([subscribed('__proto__'), subscribed('constructor')])
    const s = spawnPetrel([
      'sub',
      ...P(),
      '-t',
      '__proto__',
      '-t',
      'constructor',
      '-C',
      '2',
      '-v',
      '-W',
      '10',
    ])
    await ready
    await pub(['-t', '__proto__', '-m', '1'])
    await pub(['-t', 'constructor', '-m', '2'])
    await s.exited
    assert.equal(s.stdout(), '__proto__ 1\nconstructor 2\n')
  })

  test('-L takes user, password, host, port and topic from a URL', async () => {
    const t = topic('url')
    const s = await sub(t, ['-C', '1'])
    await pub(['-L', `mqtt://alice:secret@${LOOPBACK}:${port}/${t}`, '-m', 'via url'])
    await s.exited
    assert.equal(s.stdout(), 'via url\n')
  })

  test('-c with -i keeps the session: QoS 1 messages sent while away arrive on return', async () => {
    const t = topic('persistent')
    const id = `cli-persistent-${process.pid}`
    const first = await petrel(['sub', ...P(), '-t', t, '-q', '1', '-c', '-i', id, '-E'])
    assert.equal(first.code, 0, first.stderr)
    await pub(['-t', t, '-q', '1', '-m', 'while away'])
    const back = await petrel(['sub', ...P(), '-t', t, '-q', '1', '-c', '-i', id, '-C', '1', '-W', '10'])
    assert.equal(back.code, 0, back.stderr)
    assert.equal(back.stdout, 'while away\n')
  })

  test('the will is published when the client vanishes', async () => {
    const will = topic('will')
    const watcher = await sub(will, ['-C', '1', '-v'])
    const victim = await sub(topic('victim'), ['--will-topic', will, '--will-payload', 'gone', '-k', '5'])
    victim.child.kill('SIGKILL')
    await watcher.exited
    assert.equal(watcher.stdout(), `${will} gone\n`)
  })

  test('SIGINT or SIGTERM makes petrel sub disconnect and exit 0', async () => {
    const s = await sub(topic('signal'), [])
    assert.deepEqual(await s.stop('SIGINT'), { code: 0, signal: null })
  })
})

describe('exit codes and one-line errors', () => {
  const cases: [string, string[], number, RegExp][] = [
    [
      'a refused connection exits with the CONNACK code',
      ['pub', '-u', 'alice', '-P', 'wrong', '-t', 'x', '-m', 'y'],
      5,
      /^Connection refused: not authorised\.$/,
    ],
    ['no topic', ['pub', '-m', 'y'], 1, /^Error: Both topic and message must be supplied\.$/],
    ['no message', ['pub', '-t', 'x'], 1, /^Error: Both topic and message must be supplied\.$/],
    [
      'two messages',
      ['pub', '-t', 'x', '-m', 'y', '-n'],
      1,
      /^Error: Only one type of message can be sent at once\.$/,
    ],
    ['a wildcard topic', ['pub', '-t', 'x/#', '-m', 'y'], 1, /^Error: Invalid publish topic 'x\/#'/],
    ['an invalid QoS', ['pub', '-t', 'x', '-m', 'y', '-q', '3'], 1, /^Error: Invalid QoS given: 3$/],
    ['an unknown flag', ['sub', '-t', 'x', '--bogus'], 1, /^Error: Unknown option '--bogus'\.$/],
    ['-c without -i', ['sub', '-t', 'x', '-c'], 1, /^Error: You must provide a client id/],
    ['a bad filter', ['sub', '-t', 'x/#/y'], 1, /^Error: Invalid subscription topic 'x\/#\/y'/],
    ['-P without -u', ['sub', '-t', 'x', '-P', 'pw'], 1, /^Error: A password \(-P\) needs a user name/],
    ['a keep-alive below 5', ['sub', '-t', 'x', '-k', '3'], 1, /^Error: Invalid keepalive given: 3/],
    ['a denied subscription', ['sub', '-t', 'forbidden/x'], 1, /^All subscription requests were denied\.$/],
    ['no subscription topic', ['sub'], 1, /^Error: You must specify a topic to subscribe to\.$/],
  ]
  for (const [what, args, code, message] of cases) {
    test(`${what}: exit ${code}`, async () => {
      const [cmd, ...rest] = args
      const r = await petrel([cmd!, ...P(), ...rest])
      assert.equal(r.code, code, r.stderr)
      assert.match(r.stderr.trimEnd(), message)
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`)
    })
  }

  test('nothing listening: exit 1 with one line', async () => {
    const server = await import('node:net').then((net) => net.createServer())
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))
    const free = (server.address() as { port: number }).port
    await new Promise<void>((resolve) => server.close(() => resolve()))
    const r = await petrel(['pub', '-h', LOOPBACK, '-p', String(free), '-t', 'x', '-m', 'y'])
    assert.equal(r.code, 1)
    assert.equal(r.stderr, `Error: Connection refused by ${LOOPBACK}:${free}.\n`)
  })

  test('--quiet prints no error, and --help exits 0', async () => {
    const r = await petrel(['pub', '--quiet', '-t', 'x'])
    assert.equal(r.code, 1)
    assert.equal(r.stderr, '')
    for (const cmd of ['pub', 'sub']) {
      const h = await petrel([cmd, '--help'])
      assert.equal(h.code, 0)
      assert.match(h.stdout, new RegExp(`^Usage: petrel ${cmd} `))
    }
  })
})
