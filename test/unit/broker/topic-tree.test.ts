import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_CHARS as MAX_CACHE_CHARS } from '../../../src/broker/route-cache.js'
import { TopicTree } from '../../../src/broker/topic-tree.js'

test('bounds the route cache by the length of the topic names it holds, not only by their number', () => {
  const tree = new TopicTree<string>()
  tree.add('#', 'everyone', 0)
  const long = 'x'.repeat(60_000)
  // 300 distinct 60 000-character topics: 18 million characters if all were kept
  for (let i = 0; i < 300; i++) {
    const topic = `${i}/${long}`
    assert.deepEqual(
      tree.match(topic).deliveries.map((d) => [d.subscriber, d.qos]),
      [['everyone', 0]],
    )
    assert.ok(tree.cachedChars <= MAX_CACHE_CHARS, `${tree.cachedChars} characters cached`)
  }
  // a topic seen just now is still answered from the cache
  assert.equal(tree.match(`299/${long}`), tree.match(`299/${long}`))
})

test('matches a topic of 100 000 levels without recursion [MQTT-4.7.1-2] [MQTT-4.7.1-3]', () => {
  const tree = new TopicTree<string>()
  const depth = 100_000
  const topic = Array.from({ length: depth }, () => 'a').join('/')
  tree.add(Array.from({ length: depth }, () => '+').join('/'), 'plusses', 1)
  tree.add(`${Array.from({ length: depth - 1 }, () => 'a').join('/')}/#`, 'hash', 0)
  tree.add(topic, 'exact', 2)
  const got = tree.match(topic).deliveries.map((d) => `${d.subscriber}:${d.qos}`)
  assert.deepEqual(got.sort(), ['exact:2', 'hash:0', 'plusses:1'])
})

test('visits subscribers in the same order as before: # first, then + before the exact level', () => {
  const tree = new TopicTree<string>()
  tree.add('a/b', 'exact', 0)
  tree.add('a/+', 'plus', 0)
  tree.add('a/#', 'hash', 0)
  tree.add('#', 'all', 0)
  assert.deepEqual(
    tree.match('a/b').deliveries.map((d) => d.subscriber),
    ['all', 'hash', 'plus', 'exact'],
  )
})

test('an unused route leaves the cache after two ageings; a subscription change empties it', () => {
  const tree = new TopicTree<string>()
  tree.add('#', 's', 0)
  tree.match('a')
  tree.match('b')
  assert.equal(tree.cachedTopics, 2)
  tree.age()
  tree.match('a')
  tree.age()
  assert.equal(tree.cachedTopics, 1)
  tree.add('x', 's', 0)
  assert.equal(tree.cachedTopics, 0)
})
