import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_CHARS, MAX_ENTRIES, RouteCache, SPARSE, WINDOW } from '../../../src/broker/route-cache.js'

test('holds at most MAX_ENTRIES topics however many distinct ones pass', () => {
  const cache = new RouteCache<number>()
  for (let i = 0; i < MAX_ENTRIES * 3; i++) {
    cache.set(`t/${i}`, i)
    assert.ok(cache.size <= MAX_ENTRIES)
  }
  // the most recent are still there
  assert.equal(cache.get(`t/${MAX_ENTRIES * 3 - 1}`), MAX_ENTRIES * 3 - 1)
})

test('holds at most MAX_CHARS characters of topic names', () => {
  const cache = new RouteCache<number>()
  const long = 'x'.repeat(60_000)
  for (let i = 0; i < 300; i++) {
    cache.set(`${i}/${long}`, i)
    assert.ok(cache.chars <= MAX_CHARS, `${cache.chars} characters`)
  }
})

test('lets go of what was not used for two ageings, and keeps what was', () => {
  const cache = new RouteCache<string>()
  cache.set('hot', 'h')
  cache.set('cold', 'c')
  cache.age()
  assert.equal(cache.get('hot'), 'h') // used since: moves back to the young generation
  cache.age()
  assert.equal(cache.get('cold'), undefined)
  assert.equal(cache.get('hot'), 'h')
  cache.age()
  cache.age()
  assert.equal(cache.size, 0, 'an idle cache ends up empty')
  assert.equal(cache.chars, 0)
})

test('clear() forgets everything', () => {
  const cache = new RouteCache<number>()
  cache.set('a', 1)
  cache.age()
  cache.set('b', 2)
  cache.clear()
  assert.equal(cache.get('a'), undefined)
  assert.equal(cache.get('b'), undefined)
  assert.equal(cache.size, 0)
})

test('turns sparse when topics cycle through more names than it holds, and dense again when hits come back', () => {
  const cache = new RouteCache<number>()
  // a fleet: every look-up a new topic, every miss offered to the cache
  for (let i = 0; i < WINDOW * 4; i++) {
    const t = `site/${i}/telemetry`
    if (cache.get(t) === undefined) cache.set(t, i)
  }
  assert.equal(cache.sparse, true)
  const held = cache.size
  assert.ok(held < (WINDOW * 4) / 2, `only a share of the misses is admitted, ${held} held`)
  // then a small hot set: sampled look-ups and sparse admission find it, and the cache turns dense
  let hits = 0
  for (let i = 0; i < WINDOW * SPARSE * 4; i++) {
    const t = `hot/${i % 10}`
    if (cache.get(t) === undefined) cache.set(t, i)
    else hits++
  }
  assert.equal(cache.sparse, false)
  assert.ok(hits > WINDOW * SPARSE * 2, `${hits} hits`)
})

test('a sparse cache still answers correctly: what it returns is what was set', () => {
  const cache = new RouteCache<string>()
  for (let i = 0; i < WINDOW * 2; i++) {
    const t = `x/${i}`
    const v = cache.get(t)
    if (v === undefined) cache.set(t, t)
    else assert.equal(v, t)
  }
  for (let i = 0; i < WINDOW * 2; i++) {
    const t = `x/${i % 5000}`
    const v = cache.get(t)
    if (v !== undefined) assert.equal(v, t)
  }
})
