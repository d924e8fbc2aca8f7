/** MQTT topics and filters as NATS subjects, for a cluster joined through NATS. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  filterToSubjects,
  fromToken,
  SubjectError,
  subjectMatches,
  subjectToTopic,
  tokenOf,
  topicToSubject,
} from '../../src/cluster/subject.js'
import { topicMatches } from '../../src/protocol/index.js'
import { codePoint, mqttString, topicName } from '../helpers/arbitraries.js'

const TOKEN = /^[A-Za-z0-9_-]+$/

/** MQTT matching, level by level, without the '$' rule [MQTT-4.7.2-1]. */
function mqttMatchesIgnoringDollar(filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true // this level, all below, and the parent [MQTT-4.7.1-2]
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

/** Levels that look like escapes, separators or wildcards of the other side. */
const TRICKY = ['a', 'b', '', '.', '$x', ' ', 'é', '_', '_2E', '_5F', '*', '>', '😀']

/** A topic from a small alphabet of levels, so near-collisions and matches happen. */
const smallTopic: fc.Arbitrary<string> = fc
  .array(fc.constantFrom(...TRICKY), { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((t) => t.length > 0) // [MQTT-4.7.3-1]

/** A valid filter from the same levels, '+' anywhere, '#' only last [MQTT-4.7.1-2] [MQTT-4.7.1-3]. */
const smallFilter: fc.Arbitrary<string> = fc
  .record({
    levels: fc.array(fc.constantFrom(...TRICKY, '+', '+'), { minLength: 0, maxLength: 4 }),
    hash: fc.boolean(),
  })
  .map(({ levels, hash }) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f.length > 0) // [MQTT-4.7.3-1]

/** Topics with long levels and every kind of character, empty levels included. */
const anyTopic: fc.Arbitrary<string> = fc.oneof(
  topicName(),
  fc.array(mqttString(12), { minLength: 1, maxLength: 6 }).map((levels) => levels.join('/')),
  fc.string({ unit: codePoint, minLength: 100, maxLength: 400 }),
  smallTopic,
)

/** Any JS string, lone surrogates included. */
const anyCodeUnits: fc.Arbitrary<string> = fc.string({
  unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  maxLength: 20,
})

describe('topicToSubject', () => {
  test('maps each level to one token, by example', () => {
    const cases: [string, string][] = [
      ['a/b', 'a.b'],
      ['/', '_._'],
      ['a//b', 'a._.b'],
      ['/a', '_.a'],
      ['a/', 'a._'],
      ['a.b', 'a_2Eb'],
      ['$SYS/x', '_24SYS.x'],
      ['a_b', 'a_5Fb'],
      ['_', '_5F'],
      ['a b', 'a_20b'],
      ['é', '_C3_A9'],
      ['😀', '_F0_9F_98_80'],
      ['*/>', '_2A._3E'],
      ['sport/tennis-1/Player2', 'sport.tennis-1.Player2'],
    ]
    for (const [topic, subject] of cases) {
      assert.equal(topicToSubject(topic), subject, topic)
      assert.equal(subjectToTopic(subject), topic, subject)
    }
  })

  test('round trip: subjectToTopic undoes topicToSubject for any topic', () => {
    fc.assert(
      fc.property(anyTopic, (t) => {
        assert.equal(subjectToTopic(topicToSubject(t)), t)
      }),
      { numRuns: 2000 },
    )
  })

  test('tokens are non-empty [A-Za-z0-9_-]+, one per level; no empty token between dots', () => {
    fc.assert(
      fc.property(anyTopic, (t) => {
        const s = topicToSubject(t)
        assert.ok(!s.startsWith('.') && !s.endsWith('.') && !s.includes('..'), s)
        const tokens = s.split('.')
        assert.equal(tokens.length, t.split('/').length)
        for (const token of tokens) assert.match(token, TOKEN)
      }),
      { numRuns: 2000 },
    )
  })

  test('is injective: distinct topics give distinct subjects', () => {
    fc.assert(
      fc.property(smallTopic, smallTopic, (a, b) => {
        assert.equal(topicToSubject(a) === topicToSubject(b), a === b, `${a} | ${b}`)
      }),
      { numRuns: 3000 },
    )
    fc.assert(
      fc.property(anyTopic, anyTopic, (a, b) => {
        assert.equal(topicToSubject(a) === topicToSubject(b), a === b)
      }),
    )
  })
})

describe('subjectToTopic', () => {
  test('refuses malformed subjects and non-canonical tokens', () => {
    for (const s of [
      '',
      '.',
      'a..b',
      '.a',
      'a.',
      '__',
      'a_',
      '_2',
      '_2e', // lowercase hex
      '_61', // 'a' needs no escape
      '_2D', // '-' needs no escape
      '_C3', // truncated sequence
      '_C3_41',
      '_C0_80', // overlong
      '_E0_80_80',
      '_F4_90_80_80', // beyond U+10FFFF
      '_ED_A0_BD_ED_B8_80', // a surrogate pair as two sequences
      '*',
      '>',
      'a b',
      'a$',
      '_2F', // '/' inside a level: fine for tokenOf, never in a topic's subject
      'a._2Fb',
    ]) {
      assert.throws(
        () => subjectToTopic(s),
        (e: unknown) => e instanceof SubjectError && e.code === 'PETREL_MALFORMED_SUBJECT',
        s,
      )
    }
  })

  test('every subject it accepts is the subject of its topic (one spelling per topic)', () => {
    const chars = fc.constantFrom(...'_2EFDeaC3A980-.')
    fc.assert(
      fc.property(fc.string({ unit: chars, minLength: 1, maxLength: 16 }), (s) => {
        let topic: string
        try {
          topic = subjectToTopic(s)
        } catch (e) {
          assert.ok(e instanceof SubjectError)
          return
        }
        assert.equal(topicToSubject(topic), s)
      }),
      { numRuns: 5000 },
    )
  })
})

describe('tokenOf', () => {
  test('encodes any string as one token, and fromToken decodes it', () => {
    fc.assert(
      fc.property(fc.oneof(anyCodeUnits, mqttString(), fc.string({ unit: codePoint })), (s) => {
        const t = tokenOf(s)
        assert.match(t, TOKEN)
        assert.equal(fromToken(t), s)
      }),
      { numRuns: 2000 },
    )
  })

  test('encodes client ids and group names by example', () => {
    assert.equal(tokenOf(''), '_')
    assert.equal(tokenOf('client-1'), 'client-1')
    assert.equal(tokenOf('a/b.c'), 'a_2Fb_2Ec')
    assert.equal(tokenOf('\ud800'), '_ED_A0_80') // a lone surrogate, as WTF-8
    assert.equal(fromToken('_ED_A0_80'), '\ud800')
  })
})

describe('filterToSubjects', () => {
  test('maps wildcards by example', () => {
    const cases: [string, string[]][] = [
      ['a/b', ['a.b']],
      ['+', ['*']],
      ['#', ['>']],
      ['a/#', ['a', 'a.>']],
      ['a/+/#', ['a.*', 'a.*.>']],
      ['+/+', ['*.*']],
      ['/+', ['_.*']],
      ['/#', ['_', '_.>']],
      ['$SYS/#', ['_24SYS', '_24SYS.>']],
      ['a.b/+', ['a_2Eb.*']],
    ]
    for (const [filter, subjects] of cases) assert.deepEqual(filterToSubjects(filter), subjects, filter)
  })

  test("'a/#' also matches 'a' itself [MQTT-4.7.1-2]", () => {
    const subjects = filterToSubjects('sport/tennis/player1/#')
    for (const t of ['sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/']) {
      assert.ok(
        subjects.some((s) => subjectMatches(s, topicToSubject(t))),
        t,
      )
    }
  })

  test("'+' matches exactly one level, an empty one too [MQTT-4.7.1-3]", () => {
    const [s] = filterToSubjects('sport/+')
    assert.ok(subjectMatches(s!, topicToSubject('sport/')))
    assert.ok(subjectMatches(s!, topicToSubject('sport/tennis')))
    assert.ok(!subjectMatches(s!, topicToSubject('sport')))
    assert.ok(!subjectMatches(s!, topicToSubject('sport/tennis/player1')))
  })

  test('refuses an invalid filter [MQTT-4.7.3-1]', () => {
    for (const f of ['', 'a/#/b', 'a+', 'a#', '#/']) {
      assert.throws(
        () => filterToSubjects(f),
        (e: unknown) => e instanceof SubjectError && e.code === 'PETREL_MALFORMED_FILTER',
        f,
      )
    }
  })

  test('produces only tokens, `*` and a final `>`', () => {
    fc.assert(
      fc.property(smallFilter, (f) => {
        const subjects = filterToSubjects(f)
        assert.ok(subjects.length === 1 || subjects.length === 2)
        for (const s of subjects) {
          const tokens = s.split('.')
          tokens.forEach((token, i) => {
            if (token === '>') assert.equal(i, tokens.length - 1)
            else if (token !== '*') assert.match(token, TOKEN)
          })
        }
      }),
    )
  })

  test("subjects match exactly the topics the filter matches, over-delivering only '$' topics to a leading wildcard [MQTT-4.7.2-1]", () => {
    fc.assert(
      fc.property(smallFilter, smallTopic, (f, t) => {
        const subject = topicToSubject(t)
        const natsSide = filterToSubjects(f).some((s) => subjectMatches(s, subject))
        // exactly MQTT matching without the '$' rule...
        assert.equal(natsSide, mqttMatchesIgnoringDollar(f, t), `${f} vs ${t}`)
        // ...which differs from the broker's matcher only for a '$' topic under a leading wildcard
        const dollarCase = t.startsWith('$') && (f.startsWith('+') || f.startsWith('#'))
        if (!dollarCase) assert.equal(natsSide, topicMatches(f, t), `${f} vs ${t}`)
        else assert.equal(topicMatches(f, t), false)
      }),
      { numRuns: 10_000 },
    )
  })
})

describe('subjectMatches', () => {
  test('follows NATS: `*` one token, `>` one or more trailing tokens', () => {
    assert.ok(subjectMatches('a.*', 'a.b'))
    assert.ok(!subjectMatches('a.*', 'a'))
    assert.ok(!subjectMatches('a.*', 'a.b.c'))
    assert.ok(subjectMatches('a.>', 'a.b.c'))
    assert.ok(!subjectMatches('a.>', 'a'))
    assert.ok(subjectMatches('>', 'a'))
    assert.ok(subjectMatches('a.b', 'a.b'))
    assert.ok(!subjectMatches('a.b', 'a.c'))
  })
})
