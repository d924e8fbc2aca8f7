import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAX_CACHE_CHARS, TopicTree } from '../../../src/broker/topic-tree.js'

test('bounds the route cache by the length of the topic names it holds, not only by their number', () => {
  const tree = new TopicTree<string>()
  tree.add('#', 'everyone', 0)
  const long = 'x'.repeat(60_000)
  // 300 distinct 60 000-character topics: 18 million characters if all were kept
  for (let i = 0; i < 300; i++) {
    const topic = `${i}/${long}`
    assert.deepEqual(tree.match(topic), [{ subscriber: 'everyone', qos: 0 }])
    assert.ok(tree.cachedChars <= MAX_CACHE_CHARS, `${tree.cachedChars} characters cached`)
  }
  // a topic seen just now is still answered from the cache
  assert.equal(tree.match(`299/${long}`), tree.match(`299/${long}`))
})
