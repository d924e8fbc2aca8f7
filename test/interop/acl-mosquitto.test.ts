/**
 * One ACL file, two brokers: Petrel (aclHooks) and a real Mosquitto 2 (acl_file, anonymous
 * allowed and no password file, so a client may give any user name). For every
 * (user, client id, topic, read|write) case of the table, the answer is what a client sees:
 * - write: the case's client publishes (QoS 1) and a privileged subscriber to that topic
 *   does or does not receive it;
 * - read: the case's client subscribes to that exact topic and a privileged publisher
 *   sends to it; the case's client does or does not receive it.
 * Both brokers must give the table's answer, at MQTT 3.1.1 and at MQTT 5.
 */
import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { AclFile, aclHooks } from '../../src/auth/acl.js'
import { Broker, type Client, connect } from '../../src/index.js'
import { type MosquittoBroker, mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js'

const ACL = `# the interop table's rules
topic read public/#
topic write anon/in

user admin
topic readwrite #
topic readwrite $app/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic read shared/#
topic write shared/alice
topic read $app/status

user bob
topic read alice/news
topic write bob/+/out
topic deny bob/blocked/out

user carol
topic deny #
topic readwrite carol/x

pattern readwrite dev/%c/#
pattern read home/%u/#
pattern write up/%u/%c
pattern deny dev/%c/locked
`

type Ask = 'read' | 'write'
/** user (undefined: none), client id, topic, what is asked, and whether it is allowed. */
type Case = readonly [string | undefined, string, string, Ask, boolean]

const CASES: readonly Case[] = [
  // no user name: the rules before the first `user`, and the patterns without %u
  [undefined, 'a1', 'public/news', 'read', true],
  [undefined, 'a2', 'public/news', 'write', false],
  [undefined, 'a3', 'anon/in', 'write', true],
  [undefined, 'a4', 'anon/in', 'read', false],
  [undefined, 'dev1', 'dev/dev1/temp', 'write', true],
  [undefined, 'dev2', 'dev/dev1/temp', 'read', false],
  [undefined, 'a5', 'home/a5/tv', 'read', false],
  // a user's own rules, deny first
  ['alice', 'c1', 'alice/notes', 'write', true],
  ['alice', 'c2', 'alice/notes', 'read', true],
  ['alice', 'c3', 'alice/secret', 'read', false],
  ['alice', 'c4', 'alice/secret', 'write', false],
  ['alice', 'c5', 'shared/bob', 'read', true],
  ['alice', 'c6', 'shared/bob', 'write', false],
  ['alice', 'c7', 'shared/alice', 'write', true],
  ['alice', 'c8', 'public/news', 'read', false],
  ['alice', 'c9', 'home/alice/tv', 'read', true],
  ['alice', 'c10', 'home/bob/tv', 'read', false],
  ['alice', 'c11', 'home/alice/tv', 'write', false],
  ['alice', 'al1', 'up/alice/al1', 'write', true],
  ['alice', 'al2', 'up/alice/al1', 'write', false],
  ['alice', 'c12', '$app/status', 'read', true],
  ['alice', 'c13', '$app/other', 'read', false],
  ['alice', 'c14', 'alice', 'write', true],
  ['alice', '#', 'alice/notes', 'write', true],
  ['bob', 'b1', 'alice/news', 'read', true],
  ['bob', 'b2', 'alice/news', 'write', false],
  ['bob', 'b3', 'bob/x/out', 'write', true],
  ['bob', 'b4', 'bob/blocked/out', 'write', false],
  ['bob', 'b5', 'bob/x/y/out', 'write', false],
  // a user's deny is decided before any pattern
  ['carol', 'k1', 'carol/x', 'read', false],
  ['carol', 'k2', 'dev/k2/a', 'write', false],
  ['carol', 'k3', '$app/q', 'read', false],
  // a user with no block: the patterns only
  ['dave', 'd1', 'dev/d1/a', 'read', true],
  ['dave', 'd2', 'dev/d2/locked', 'write', false],
  ['dave', 'd3', 'alice/notes', 'read', false],
  ['dave', 'd4', 'public/news', 'read', false],
  ['admin', 'ad1', 'dev/zz/locked', 'write', true],
  // client ids and user names with wildcards never widen a pattern
  ['dave', '+', 'dev/other/a', 'write', false],
  ['+', 'p1', 'home/other/tv', 'read', false],
  ['#', 'p2', 'home/x/tv', 'read', false],
]

/** How long expected messages may take; then how long to wait for unexpected ones. */
const PATIENCE_MS = 5000
const SETTLE_MS = 200
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const T = { timeout: 30_000 }

interface Target {
  url: string
}

async function open(url: string, v: 4 | 5, clientId: string, username?: string): Promise<Client> {
  const o: Parameters<typeof connect>[1] = { clientId, protocolVersion: v, reconnect: false }
  if (username !== undefined) o.username = username
  return connect(url, o)
}

/** Every case's answer on one broker, as clients see it (true: the message got through). */
async function answers(target: Target, v: 4 | 5, tag: string): Promise<boolean[]> {
  const clients: Client[] = []
  const got = new Map<string, Set<string>>() // receiver -> payloads
  const watch = (c: Client, who: string): void => {
    const s = new Set<string>()
    got.set(who, s)
    c.on('message', (_t, payload) => s.add(payload.toString()))
  }
  try {
    const adminSub = await open(target.url, v, `${tag}-admin-sub`, 'admin')
    const adminPub = await open(target.url, v, `${tag}-admin-pub`, 'admin')
    clients.push(adminSub, adminPub)
    watch(adminSub, 'admin')
    const writes = CASES.map((c, i) => [c, i] as const).filter(([c]) => c[3] === 'write')
    const reads = CASES.map((c, i) => [c, i] as const).filter(([c]) => c[3] === 'read')
    for (const [[, , topic]] of writes) await adminSub.subscribe(topic, { qos: 1 })
    // write: each case's client publishes once; the admin reads everything
    await Promise.all(
      writes.map(async ([[user, id, topic], i]) => {
        const c = await open(target.url, v, id, user)
        clients.push(c)
        await c.publish(topic, `w${i}`, { qos: 1 }).catch(() => {}) // MQTT 5 refuses with 0x87
      }),
    )
    // read: each case's client subscribes to its topic; the admin publishes to it
    const readers = await Promise.all(
      reads.map(async ([[user, id, topic], i]) => {
        const c = await open(target.url, v, `${id}`, user)
        clients.push(c)
        watch(c, `r${i}`)
        await c.subscribe(topic, { qos: 1 })
        return c
      }),
    )
    assert.equal(readers.length, reads.length)
    for (const [[, , topic], i] of reads) await adminPub.publish(topic, `r${i}`, { qos: 1 })
    const seen = (): boolean[] =>
      CASES.map((c, i) =>
        c[3] === 'write' ? got.get('admin')!.has(`w${i}`) : got.get(`r${i}`)!.has(`r${i}`),
      )
    // on a loaded machine a message may take a while: wait for every one the table expects (a
    // broker that wrongly withholds one only makes this slower), then a little for any it does not
    const deadline = Date.now() + PATIENCE_MS
    while (Date.now() < deadline && !seen().every((s, i) => s || !CASES[i]![4])) await delay(10)
    await delay(SETTLE_MS)
    return seen()
  } finally {
    await Promise.all(clients.map((c) => c.end({ force: true }).catch(() => {})))
  }
}

function table(results: boolean[]): string[] {
  return CASES.map(([u, id, topic, ask], i) => `${u ?? '(none)'} ${id} ${ask} ${topic}: ${results[i]}`)
}

describe('the same ACL file on Petrel and on Mosquitto', { skip: mosquittoSkip() }, () => {
  let dir: string
  let m: MosquittoBroker
  let petrel: Broker
  let petrelUrl: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'petrel-acl-'))
    const file = join(dir, 'acl')
    await writeFile(file, ACL)
    // Mosquitto started as root reads its acl_file as the user 'mosquitto'
    await chmod(dir, 0o755)
    await chmod(file, 0o644)
    m = await startMosquitto({ config: [`acl_file ${file}`] })
    petrel = new Broker({ hooks: [aclHooks(await AclFile.load(file))], sysInterval: 0 })
    const { port } = await petrel.listen({ port: 0, host: '127.0.0.1' })
    petrelUrl = `mqtt://127.0.0.1:${port}`
  })
  after(async () => {
    await petrel?.close()
    await m?.stop()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  test('the table has at least 30 cases, with distinct client ids per kind', () => {
    assert.ok(CASES.length >= 30)
    for (const ask of ['read', 'write']) {
      const ids = CASES.filter((c) => c[3] === ask).map((c) => c[1])
      assert.equal(new Set(ids).size, ids.length)
    }
  })

  for (const v of [4, 5] as const) {
    test(`MQTT ${v === 4 ? '3.1.1' : '5'}: both brokers give the table's answers`, T, async () => {
      const expected = table(CASES.map((c) => c[4]))
      const onMosquitto = table(await answers({ url: m.url }, v, `m${v}`))
      const onPetrel = table(await answers({ url: petrelUrl }, v, `p${v}`))
      assert.deepEqual(onMosquitto, expected, `Mosquitto:\n${m.log().slice(-2000)}`)
      assert.deepEqual(onPetrel, expected)
    })
  }
})
