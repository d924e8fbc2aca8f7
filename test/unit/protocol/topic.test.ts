/** Topic names, topic filters and matching [MQTT-4.7]. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  hasWildcard,
  isValidTopicFilter,
  isValidTopicName,
  topicMatches,
} from '../../../src/protocol/index.js'

/** The obvious implementation, level by level, to check the fast one against. */
function referenceMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with '$'
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true // this level, all below, and the parent [MQTT-4.7.1-2]
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

function referenceValidFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\0')) return false
  const levels = filter.split('/')
  return levels.every((level, i) => {
    if (level.includes('#')) return level === '#' && i === levels.length - 1
    if (level.includes('+')) return level === '+'
    return true
  })
}

function referenceValidName(topic: string): boolean {
  return topic.length > 0 && !/[+#\0]/.test(topic)
}

describe('isValidTopicName', () => {
  test('accepts names of one or more characters, including empty levels and $ names', () => {
    for (const t of [
      'a',
      '/',
      '//',
      'a/b/c',
      '/a',
      'a/',
      '$SYS/broker',
      'sport/tennis/player1',
      ' ',
      'é/😀',
    ]) {
      assert.equal(isValidTopicName(t), true, t)
    }
  })
  test('refuses the empty name [MQTT-4.7.3-1]', () => {
    assert.equal(isValidTopicName(''), false)
  })
  test('refuses wildcards anywhere in a name [MQTT-4.7.1-1] [MQTT-3.3.2-2]', () => {
    for (const t of ['+', '#', 'a/+', 'a/#', 'a+', 'a#b', 'sport/tennis/#', '+/a']) {
      assert.equal(isValidTopicName(t), false, t)
    }
  })
  test('refuses U+0000 [MQTT-4.7.3-2]', () => {
    assert.equal(isValidTopicName('a\0b'), false)
  })
})

describe('isValidTopicFilter', () => {
  test('accepts the filters of the specification examples', () => {
    for (const f of [
      'sport/tennis/player1/#',
      'sport/#',
      '#',
      '+',
      '+/tennis/#',
      'sport/+/player1',
      '/+',
      '+/+',
      '$SYS/#',
    ]) {
      assert.equal(isValidTopicFilter(f), true, f)
    }
  })
  test('refuses "#" anywhere but alone as the last level [MQTT-4.7.1-2]', () => {
    for (const f of ['sport/tennis#', 'sport/tennis/#/ranking', '#/a', 'a/#b', '##', 'a/##']) {
      assert.equal(isValidTopicFilter(f), false, f)
    }
  })
  test('refuses "+" that does not fill a whole level [MQTT-4.7.1-3]', () => {
    for (const f of ['sport+', 'sport/+tennis', '+a', 'a+/b', '++', 'a/++/b']) {
      assert.equal(isValidTopicFilter(f), false, f)
    }
  })
  test('refuses the empty filter [MQTT-4.7.3-1] and U+0000 [MQTT-4.7.3-2]', () => {
    assert.equal(isValidTopicFilter(''), false)
    assert.equal(isValidTopicFilter('a/\0'), false)
  })
  test('hasWildcard tells filters with "+" or "#" from plain ones', () => {
    assert.equal(hasWildcard('a/b'), false)
    assert.equal(hasWildcard('a/+'), true)
    assert.equal(hasWildcard('#'), true)
  })
})

describe('topicMatches', () => {
  const cases: [filter: string, topic: string, matches: boolean, why: string][] = [
    ['sport/tennis/player1/#', 'sport/tennis/player1', true, '# matches the parent level [MQTT-4.7.1-2]'],
    ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true, '4.7.1.2'],
    ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true, '4.7.1.2'],
    ['sport/#', 'sport', true, '# matches the parent level [MQTT-4.7.1-2]'],
    ['sport/#', 'sports', false, 'a level is compared whole'],
    ['#', 'a/b/c', true, '# alone matches everything not starting with $'],
    ['#', '/', true, 'empty levels too'],
    ['sport/tennis/+', 'sport/tennis/player1', true, '4.7.1.3'],
    ['sport/tennis/+', 'sport/tennis/player1/tennis', false, '+ is one level only'],
    ['sport/+', 'sport', false, '4.7.1.3: + needs the level to exist'],
    ['sport/+', 'sport/', true, '4.7.1.3: + matches an empty level'],
    ['+', 'a', true, '+ alone matches a one-level topic'],
    ['+', '/a', false, "'/a' has two levels"],
    ['+/+', '/finance', true, '4.7.1.3: a leading / makes an empty first level'],
    ['/+', '/finance', true, '4.7.1.3'],
    ['+', '/finance', false, '4.7.1.3'],
    ['+/+', '/', true, 'both levels empty'],
    ['a/+/c', 'a//c', true, '+ matches an empty middle level'],
    ['+/#', 'a', true, '+ then # matches one level'],
    ['a/+/#', 'a/b', true, '# matches the parent of what + matched'],
    ['a/+/#', 'a', false, '+ needs the level to exist'],
    ['a/b', 'a/b', true, 'exact'],
    ['a/b', 'a/b/', false, 'a trailing / is one more (empty) level'],
    ['a/b/', 'a/b', false, 'and the other way round'],
    ['a/b', 'A/b', false, 'topics are case sensitive (4.7.3)'],
    ['a', 'ab', false, 'prefix is not a match'],
    ['ab', 'a', false, 'nor the other way round'],
    ['#', '$SYS/broker', false, 'wildcard first never matches $ topics [MQTT-4.7.2-1]'],
    ['+/monitor/Clients', '$SYS/monitor/Clients', false, '[MQTT-4.7.2-1]'],
    ['+', '$SYS', false, '[MQTT-4.7.2-1]'],
    ['$SYS/#', '$SYS/monitor/Clients', true, '4.7.2'],
    ['$SYS/monitor/+', '$SYS/monitor/Clients', true, '4.7.2'],
    ['$SYS/#', '$SYS', true, '# matches the parent, $ filter'],
    ['a/#', 'a/$b', true, 'only a leading $ is special'],
    ['+/$b', 'a/$b', true, 'only a leading $ is special'],
    ['é/+', 'é/😀', true, 'multi-byte characters'],
  ]
  for (const [filter, topic, matches, why] of cases) {
    test(`'${filter}' ${matches ? 'matches' : 'does not match'} '${topic}' (${why})`, () => {
      assert.equal(topicMatches(filter, topic), matches)
      assert.equal(referenceMatches(filter, topic), matches, 'the reference agrees')
    })
  }
})

// Small alphabets, so that generated filters and topics often share levels.
const level = fc.constantFrom('', 'a', 'b', 'ab', '$', '$a', 'é')
const topicArb = fc
  .array(level, { minLength: 1, maxLength: 5 })
  .map((ls) => ls.join('/'))
  .filter((t) => t.length > 0)
const filterArb = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 5 }), fc.boolean())
  .map(([ls, hash]) => (hash ? [...ls, '#'] : ls).join('/'))
  .filter((f) => f.length > 0)
/** A filter made from a topic, so that most pairs match: some levels become '+', the tail may become '#'. */
const derivedPair = topicArb.chain((topic) =>
  fc
    .tuple(fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }), fc.integer({ min: 0, max: 6 }))
    .map(([plus, cut]) => {
      const levels = topic.split('/').map((l, i) => (plus[i] ? '+' : l))
      const filter = cut < levels.length ? [...levels.slice(0, cut), '#'].join('/') : levels.join('/')
      return [filter, topic] as const
    }),
)

describe('topicMatches against the reference', () => {
  test('agrees on random filters and topics', () => {
    fc.assert(
      fc.property(filterArb, topicArb, (f, t) => topicMatches(f, t) === referenceMatches(f, t)),
      { numRuns: 20_000 },
    )
  })
  test('agrees on filters derived from the topic (mostly matches)', () => {
    fc.assert(
      fc.property(derivedPair, ([f, t]) => topicMatches(f, t) === referenceMatches(f, t)),
      { numRuns: 20_000 },
    )
  })
  test('agrees on arbitrary strings of / + # $ and letters, where the filter is valid', () => {
    const s = fc.string({ unit: fc.constantFrom('/', '+', '#', '$', 'a', 'b'), minLength: 1, maxLength: 8 })
    fc.assert(
      fc.property(
        s.filter(isValidTopicFilter),
        s.filter(isValidTopicName),
        (f, t) => topicMatches(f, t) === referenceMatches(f, t),
      ),
      { numRuns: 20_000 },
    )
  })
})

describe('validity against the reference', () => {
  const s = fc.string({ unit: fc.constantFrom('/', '+', '#', '$', 'a', '\0'), maxLength: 8 })
  test('isValidTopicFilter agrees with splitting on "/"', () => {
    fc.assert(
      fc.property(s, (f) => isValidTopicFilter(f) === referenceValidFilter(f)),
      { numRuns: 20_000 },
    )
  })
  test('isValidTopicName agrees with the reference', () => {
    fc.assert(
      fc.property(s, (t) => isValidTopicName(t) === referenceValidName(t)),
      { numRuns: 20_000 },
    )
  })
  test('every valid name is matched by "#" unless it starts with $, and by itself [MQTT-4.7.2-1]', () => {
    fc.assert(
      fc.property(s.filter(isValidTopicName), (t) => {
        assert.equal(topicMatches('#', t), !t.startsWith('$'))
        assert.equal(topicMatches(t, t), true)
      }),
      { numRuns: 5_000 },
    )
  })
})
