import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { AclFile, aclHooks, forClient } from '../../../src/auth/acl.js'
import { AclAccess } from '../../../src/auth/acl-parse.js'
import type { ClientInfo } from '../../../src/broker/options.js'
import { ConfigError } from '../../../src/errors.js'

const { READ, WRITE } = AclAccess

function client(id: string, username?: string): ClientInfo {
  return { id, username, remoteAddress: undefined, protocolVersion: 4 }
}

const RULES = `topic read public/#
topic deny public/private
user alice
topic readwrite alice/#
topic deny alice/secret/#
topic read $SYS/broker/#
topic write a/+/c
user bob
topic read #
pattern readwrite dev/%c/#
pattern read users/%u/inbox
pattern deny dev/%c/locked
pattern write both/%u/%c
`

/** user (undefined: none), client id, read|write, topic, allowed. */
type Row = readonly [string | undefined, string, 'read' | 'write', string, boolean]

const TABLE: readonly Row[] = [
  // anonymous rules, deny first
  [undefined, 'c', 'read', 'public/news', true],
  [undefined, 'c', 'read', 'public', true], // 'public/#' matches its parent
  [undefined, 'c', 'write', 'public/news', false],
  [undefined, 'c', 'read', 'public/private', false],
  // a user's rules replace the anonymous ones
  ['alice', 'c', 'read', 'public/news', false],
  ['alice', 'c', 'write', 'alice/x/y', true],
  ['alice', 'c', 'read', 'alice/secret', false],
  ['alice', 'c', 'read', 'alice/secret/deep', false],
  ['alice', 'c', 'write', 'a/b/c', true],
  ['alice', 'c', 'write', 'a/b/x/c', false],
  ['alice', 'c', 'read', 'a/b/c', false],
  // '$' topics match only rules that start with '$' [MQTT-4.7.2-1]
  ['alice', 'c', 'read', '$SYS/broker/uptime', true],
  ['bob', 'c', 'read', '$SYS/broker/uptime', false],
  ['bob', 'c', 'read', 'anything/at/all', true],
  ['bob', 'c', 'write', 'anything', false],
  // patterns, for everyone: %c and %u filled in
  ['bob', 'b1', 'write', 'dev/b1/temp', true],
  ['bob', 'b1', 'write', 'dev/b2/temp', false],
  ['bob', 'b1', 'write', 'dev/b1/locked', false],
  [undefined, 'dev9', 'write', 'dev/dev9/x', true],
  ['carol', 'x', 'read', 'users/carol/inbox', true],
  ['carol', 'x', 'read', 'users/dave/inbox', false],
  ['carol', 'x', 'write', 'both/carol/x', true],
  ['carol', 'y', 'write', 'both/carol/x', false],
  // a pattern with %u does not apply without a user name
  [undefined, 'x', 'write', 'both//x', false],
  [undefined, 'x', 'read', 'users//inbox', false],
  // the user's own rules decide before the patterns (Mosquitto 2.0's order)
  ['alice', 'alice', 'write', 'dev/alice/locked', false],
  ['bob', 'b1', 'read', 'dev/b1/locked', true],
]

describe('ACL evaluation', () => {
  const acl = AclFile.fromText(RULES)
  for (const [user, id, ask, topic, allowed] of TABLE) {
    test(`${user ?? '(no user name)'} as ${id} ${allowed ? 'may' : 'may not'} ${ask} ${topic}`, () => {
      assert.equal(acl.allows(client(id, user), ask === 'read' ? READ : WRITE, topic), allowed)
    })
  }

  test('an ACL file with no rules denies everything', () => {
    const empty = AclFile.fromText('# nothing yet\n')
    for (const c of [client('a'), client('a', 'alice')]) {
      assert.equal(empty.allows(c, READ, 'x'), false)
      assert.equal(empty.allows(c, WRITE, 'x'), false)
    }
  })

  test('a client id or user name with + or # gets nothing from patterns (it would widen them)', () => {
    const a = AclFile.fromText('pattern readwrite dev/%c/#\npattern read home/%u/#\nuser u\ntopic read own\n')
    assert.equal(a.allows(client('+'), WRITE, 'dev/other/x'), false)
    assert.equal(a.allows(client('#'), WRITE, 'dev/#/x'), false)
    assert.equal(a.allows(client('ok', '+'), READ, 'home/anyone/x'), false)
    assert.equal(a.allows(client('ok', '#'), READ, 'home/x'), false)
    // even patterns without a placeholder, as in Mosquitto, but not the user's own rules
    assert.equal(a.allows(client('ok+', 'u'), READ, 'own'), true)
    assert.equal(a.allows(client('ok+', 'u'), READ, 'home/u/x'), false)
    assert.equal(a.allows(client('ok'), WRITE, 'dev/ok/x'), true)
  })

  test("a client id or user name with '/' never fills %c or %u across levels", () => {
    const a = AclFile.fromText('pattern readwrite dev/%c/#\npattern read home/%u/#\npattern read all/#\n')
    // 'a/b' would reach dev/a/b/..., inside client 'a''s tree (Mosquitto 2.0 allows it)
    assert.equal(a.allows(client('a/b'), WRITE, 'dev/a/b/x'), false)
    assert.equal(a.allows(client('a'), WRITE, 'dev/a/b/x'), true)
    assert.equal(a.allows(client('c', 'a/b'), READ, 'home/a/b/x'), false)
    // such a client gets nothing from patterns at all (a deny pattern could not be trusted either)
    assert.equal(a.allows(client('c', 'a/b'), WRITE, 'dev/c/x'), false)
    assert.equal(a.allows(client('c', 'x'), READ, 'all/x'), true)
    // a '/' in a value that no pattern uses changes nothing
    const onlyC = AclFile.fromText('pattern readwrite dev/%c/#\n')
    assert.equal(onlyC.allows(client('c', 'a/b'), WRITE, 'dev/c/x'), true)
  })

  test('__proto__, constructor and toString as user names and client ids are plain names', () => {
    const a = AclFile.fromText('user __proto__\ntopic read p\npattern read c/%c\n')
    assert.equal(a.allows(client('x', '__proto__'), READ, 'p'), true)
    assert.equal(a.allows(client('x', 'constructor'), READ, 'p'), false)
    assert.equal(a.allows(client('x', 'toString'), READ, 'p'), false)
    assert.equal(a.allows(client('__proto__', 'toString'), READ, 'c/__proto__'), true)
    assert.equal(a.allows(client('constructor'), READ, 'c/toString'), false)
  })

  test('a remembered decision is per kind: reading and writing the same topic are asked apart', () => {
    const a = AclFile.fromText('topic read r\n')
    const c = client('c')
    for (let i = 0; i < 2; i++) {
      assert.equal(a.allows(c, READ, 'r'), true)
      assert.equal(a.allows(c, WRITE, 'r'), false)
    }
  })

  test('more topics than the per-client memory holds are still decided right', () => {
    const a = AclFile.fromText('topic read t/+/even\n')
    const c = client('c')
    for (let i = 0; i < 1000; i++)
      assert.equal(a.allows(c, READ, `t/${i}/${i % 2 === 0 ? 'even' : 'odd'}`), i % 2 === 0)
  })

  test('the per-client memory of decisions is bounded in characters too: long topics do not pin megabytes per client', () => {
    const a = AclFile.fromText('topic read long/#\n')
    const c = forClient(a.rules, client('c'))
    const long = (i: number, n: number): string => `long/${String(i).padStart(n - 5, 'x')}`
    for (let i = 0; i < 300; i++) {
      assert.equal(c.allows(READ, long(i, 60_000)), true)
      assert.equal(c.allows(READ, long(i, 900)), true)
      assert.equal(c.allows(WRITE, long(i, 900)), false)
    }
    const kept = c.remembered
    assert.ok(kept.chars <= 16_384, `${kept.chars} characters of topics remembered`)
    assert.ok(kept.topics <= 256 && kept.topics > 0, `${kept.topics} topics remembered`)
  })

  test('the hooks: write rules on publish, read rules on delivery; publishing to $share/... is refused', () => {
    const h = aclHooks(AclFile.fromText('topic readwrite #\ntopic readwrite $share/#\n'))
    const c = client('c')
    assert.equal(h.authorizePublish!(c, 'a/b', Buffer.alloc(0), 0, false), true)
    assert.equal(h.authorizeRead!(c, 'a/b'), true)
    assert.equal(h.authorizePublish!(c, '$share/g/t', Buffer.alloc(0), 0, false), false)
    assert.equal(h.authorizeSubscribe, undefined) // Mosquitto 2.0 grants every SUBSCRIBE
  })
})

describe('AclFile load and reload', () => {
  test('reload swaps the rules in whole; clients already checked are checked against the new ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-acl-'))
    try {
      const path = join(dir, 'acl')
      await writeFile(path, 'topic read a\n')
      const acl = await AclFile.load(path)
      const c = client('c')
      assert.equal(acl.allows(c, READ, 'a'), true)
      await writeFile(path, 'topic read b\n')
      await acl.reload()
      assert.equal(acl.allows(c, READ, 'a'), false)
      assert.equal(acl.allows(c, READ, 'b'), true)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('a bad file is refused with its name and line, and the rules in use stay', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-acl-'))
    try {
      const path = join(dir, 'acl')
      await writeFile(path, 'topic read a\n')
      const acl = await AclFile.load(path)
      await writeFile(path, 'topic read a\ntopic bogus b\n')
      await assert.rejects(acl.reload(), (err: unknown) => {
        return err instanceof ConfigError && err.message.startsWith(`${path} line 2: unknown access 'bogus'`)
      })
      assert.equal(acl.allows(client('c'), READ, 'a'), true)
      await rm(path)
      await assert.rejects(acl.reload(), /cannot read ACL file .*: no such file/)
      assert.equal(acl.allows(client('c'), READ, 'a'), true)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('a file that does not exist is a ConfigError at load', async () => {
    await assert.rejects(
      AclFile.load('/nonexistent/petrel.acl'),
      (err: unknown) => err instanceof ConfigError,
    )
  })
})
