import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { AclAccess, parseAcl } from '../../../src/auth/acl-parse.js'
import { ConfigError } from '../../../src/errors.js'

const { READ, WRITE, READWRITE, DENY } = AclAccess

/** The topic rules of a parse as [access, filter] pairs. */
const pairs = (rules: readonly { access: number; filter: string }[] | null | undefined) =>
  rules?.map((r) => [r.access, r.filter])

describe('ACL file parser (Mosquitto 2.0 acl_file syntax)', () => {
  test('topic lines: every access word, and none meaning readwrite', () => {
    const r = parseAcl('topic read a\ntopic write b\ntopic readwrite c\ntopic deny d\ntopic e\n', 'f')
    // deny first, then the rest in file order
    assert.deepEqual(pairs(r.anonymous), [
      [DENY, 'd'],
      [READ, 'a'],
      [WRITE, 'b'],
      [READWRITE, 'c'],
      [READWRITE, 'e'],
    ])
  })

  test('topic lines before the first user are the anonymous rules; each user block has its own', () => {
    const r = parseAcl('topic read pub/#\nuser alice\ntopic alice/#\nuser bob\ntopic read x\n', 'f')
    assert.deepEqual(pairs(r.anonymous), [[READ, 'pub/#']])
    assert.deepEqual(pairs(r.users.get('alice')), [[READWRITE, 'alice/#']])
    assert.deepEqual(pairs(r.users.get('bob')), [[READ, 'x']])
  })

  test('no topic line before the first user: no anonymous rules at all', () => {
    assert.equal(parseAcl('user a\ntopic x\n', 'f').anonymous, null)
  })

  test('a user named twice gets both blocks', () => {
    const r = parseAcl('user a\ntopic x\nuser b\ntopic y\nuser a\ntopic z\n', 'f')
    assert.deepEqual(pairs(r.users.get('a')), [
      [READWRITE, 'x'],
      [READWRITE, 'z'],
    ])
  })

  test('a user name is the rest of the line; names like __proto__ are plain names', () => {
    const r = parseAcl(
      'user  John Smith \ntopic x\nuser __proto__\ntopic y\nuser constructor\ntopic z\n',
      'f',
    )
    assert.deepEqual(pairs(r.users.get('John Smith')), [[READWRITE, 'x']])
    assert.deepEqual(pairs(r.users.get('__proto__')), [[READWRITE, 'y']])
    assert.deepEqual(pairs(r.users.get('constructor')), [[READWRITE, 'z']])
    assert.equal(r.users.size, 3)
  })

  test('pattern lines apply to everyone wherever they stand, with %c and %u as whole levels', () => {
    const r = parseAcl('user a\npattern write dev/%c/out\npattern %u/#\npattern deny x/%c/%u\n', 'f')
    assert.deepEqual(pairs(r.patterns), [
      [DENY, 'x/%c/%u'],
      [WRITE, 'dev/%c/out'],
      [READWRITE, '%u/#'],
    ])
    assert.deepEqual(pairs(r.users.get('a')), [])
    const [deny, write, rw] = r.patterns
    assert.equal(deny!.usesClientId && deny!.usesUserName, true)
    assert.equal(write!.usesClientId && !write!.usesUserName, true)
    assert.equal(!rw!.usesClientId && rw!.usesUserName, true)
  })

  test('comments, blank lines, leading spaces, trailing white space and CRLF are read as Mosquitto reads them', () => {
    const text = '# a comment\n\n   \n  topic   read   a/b  \r\n#topic write hidden\r\n'
    assert.deepEqual(pairs(parseAcl(text, 'f').anonymous), [[READ, 'a/b']])
  })

  test("'topic read' is the topic named 'read'; the filter is the rest of the line, spaces included", () => {
    assert.deepEqual(pairs(parseAcl('topic read\n', 'f').anonymous), [[READWRITE, 'read']])
    assert.deepEqual(pairs(parseAcl('topic deny\n', 'f').anonymous), [[READWRITE, 'deny']])
    assert.deepEqual(pairs(parseAcl('topic read a b  \n', 'f').anonymous), [[READ, 'a b']])
  })

  test('an empty file, or one with only comments, has no rules', () => {
    for (const text of ['', '\n\n', '# nothing\n']) {
      const r = parseAcl(text, 'f')
      assert.equal(r.anonymous, null)
      assert.equal(r.users.size, 0)
      assert.equal(r.patterns.length, 0)
    }
  })

  const BAD: readonly [string, string, RegExp][] = [
    ['unknown keyword', 'topic a\nTopic b\n', /^acl\.conf line 2: unknown keyword 'Topic'; lines are 'topic/],
    [
      'indented comment',
      '  # note\n',
      /line 1: unknown keyword '#' \(a comment must start in the first column\)/,
    ],
    ['topic with nothing', 'topic\n', /line 1: 'topic' needs a topic filter/],
    ['pattern with nothing', 'pattern   \n', /line 1: 'pattern' needs a topic filter/],
    [
      'bad access word',
      'topic bogus a\n',
      /line 1: unknown access 'bogus'; allowed: read, write, readwrite, deny/,
    ],
    ['user with no name', 'user\n', /line 1: 'user' needs a name/],
    ['user with spaces only', 'user    \n', /line 1: 'user' needs a name/],
    ["'#' not last", 'topic read #/a\n', /line 1: '#\/a' is not a valid topic filter/],
    ["'+' inside a level", 'topic read a+/b\n', /not a valid topic filter/],
    ["'#' inside a level", 'topic read a#\n', /not a valid topic filter/],
    ['%c inside a level', 'pattern read a/x%c\n', /line 1: 'a\/x%c': %c and %u must fill a whole level/],
    ['%u inside a level', 'pattern read %u-data/#\n', /%c and %u must fill a whole level/],
    ['a tab', 'topic\tread a\n', /line 1: a tab; separate the words with spaces/],
    ['a NUL byte', 'topic read a\0b\n', /line 1: a NUL byte/],
  ]
  for (const [what, text, message] of BAD) {
    test(`refuses ${what}, naming the file, the line and what is allowed`, () => {
      assert.throws(
        () => parseAcl(text, 'acl.conf'),
        (err: unknown) => err instanceof ConfigError && err.option === 'aclFile' && message.test(err.message),
      )
    })
  }
})
