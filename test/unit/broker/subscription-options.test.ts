import assert from 'node:assert/strict'
import { test } from 'node:test'
import { SharedGroup } from '../../../src/broker/shared.js'
import { makeSub, parseShared, type Sub } from '../../../src/broker/subscription.js'
import { combine, TopicTree } from '../../../src/broker/topic-tree.js'

/** The tree and its routes with MQTT 5 options and shared subscriptions, without sockets. */

const opts = (qos: 0 | 1 | 2, o: Partial<Exclude<Sub, number>> = {}): Sub => ({
  qos,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  subscriptionId: 0,
  ...o,
})

test('a subscription with every v5 option at its default is kept as its QoS alone (the 3.1.1 path)', () => {
  assert.equal(makeSub({ topic: 'a', qos: 1 }, 1, 0), 1)
  assert.equal(makeSub({ topic: 'a', qos: 2, noLocal: false, retainHandling: 0 }, 1, 0), 1)
  assert.deepEqual(
    makeSub({ topic: 'a', qos: 2, noLocal: true }, 2, 7),
    opts(2, { noLocal: true, subscriptionId: 7 }),
  )
})

test('overlapping subscriptions give one delivery at the highest QoS with every identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3]', () => {
  const tree = new TopicTree<string>()
  tree.add('a/+', 'c', opts(0, { subscriptionId: 1 }))
  tree.add('a/#', 'c', opts(2, { subscriptionId: 2, retainAsPublished: true }))
  tree.add('a/b', 'c', 1)
  const [d, ...rest] = tree.match('a/b').deliveries
  assert.equal(rest.length, 0)
  assert.equal(d!.qos, 2)
  assert.equal(d!.retainAsPublished, true)
  assert.deepEqual([...d!.subIds!].sort(), [1, 2])
  assert.equal(d!.noLocal, null, 'kept only when a subscription has No Local')
})

test('No Local: a client’s own message goes by its other subscriptions only [MQTT-3.8.3-3]', () => {
  const tree = new TopicTree<string>()
  tree.add('a/b', 'c', opts(2, { noLocal: true, subscriptionId: 5 }))
  tree.add('a/+', 'c', opts(1, { subscriptionId: 6 }))
  const d = tree.match('a/b').deliveries[0]!
  assert.notEqual(d.noLocal, null)
  assert.deepEqual(combine(d.noLocal!, true), { qos: 1, retainAsPublished: false, subIds: [6] })
  assert.deepEqual(combine(d.noLocal!, false).qos, 2)
  const only = new TopicTree<string>()
  only.add('x', 'c', opts(1, { noLocal: true }))
  assert.equal(combine(only.match('x').deliveries[0]!.noLocal!, true).qos, -1, 'nothing left: not delivered')
})

test('a new SUBSCRIBE to the same filter replaces the options [MQTT-3.8.4-3]', () => {
  const tree = new TopicTree<string>()
  assert.equal(tree.add('a', 'c', opts(2, { subscriptionId: 1 })), true)
  assert.equal(tree.add('a', 'c', 0), false)
  const d = tree.match('a').deliveries[0]!
  assert.deepEqual([d.qos, d.subIds], [0, null])
  assert.equal(tree.size, 1)
})

test('parses $share/{ShareName}/{filter} and refuses broken forms [MQTT-4.8.2-1] [MQTT-4.8.2-2]', () => {
  assert.deepEqual(parseShared('$share/g/a/b'), { group: 'g', filter: 'a/b' })
  assert.deepEqual(parseShared('$share/g/#'), { group: 'g', filter: '#' })
  assert.deepEqual(parseShared('$share/g//'), { group: 'g', filter: '/' })
  assert.equal(parseShared('a/b'), null)
  assert.equal(parseShared('$sharex/g/a'), null)
  assert.equal(parseShared('$SYS/a'), null)
  for (const bad of [
    '$share/',
    '$share//a',
    '$share/g',
    '$share/g/',
    '$share/+/a',
    '$share/#/a',
    '$share/g+/a',
    '$share/g/a#',
  ]) {
    assert.equal(parseShared(bad), 'invalid', bad)
  }
})

test('shared and ordinary subscriptions of one client stay apart (CVE-2024-8376)', () => {
  const tree = new TopicTree<string>()
  tree.add('a/b', 'c', 1)
  tree.add('$share/g/a/b', 'c', 2)
  let r = tree.match('a/b')
  assert.deepEqual(
    r.deliveries.map((d) => [d.subscriber, d.qos]),
    [['c', 1]],
  )
  assert.equal(r.shared!.length, 1)
  assert.equal(r.shared![0]!.name, '$share/g/a/b')
  assert.equal(tree.size, 2)
  // removing the ordinary one leaves the shared one, and the reverse
  assert.equal(tree.remove('a/b', 'c'), true)
  r = tree.match('a/b')
  assert.deepEqual([r.deliveries.length, r.shared?.length], [0, 1])
  tree.add('a/b', 'c', 1)
  assert.equal(tree.remove('$share/g/a/b', 'c'), true)
  r = tree.match('a/b')
  assert.deepEqual([r.deliveries.length, r.shared], [1, null])
  assert.equal(tree.remove('$share/g/a/b', 'c'), false)
  assert.equal(tree.size, 1)
})

test('$share/g/# does not match $SYS topics [MQTT-4.7.2-1]', () => {
  const tree = new TopicTree<string>()
  tree.add('$share/g/#', 'c', 0)
  tree.add('$share/g/+/x', 'c', 0)
  assert.equal(tree.match('$SYS/x').shared, null)
  assert.equal(tree.match('a/x').shared!.length, 2)
})

test('two groups on one filter are two shared subscriptions; the route cache is dropped on change', () => {
  const tree = new TopicTree<string>()
  tree.add('$share/g1/t', 'a', 0)
  tree.add('$share/g2/t', 'b', 0)
  assert.deepEqual(
    tree
      .match('t')
      .shared!.map((g) => g.name)
      .sort(),
    ['$share/g1/t', '$share/g2/t'],
  )
  assert.equal(tree.cachedTopics, 1)
  tree.remove('$share/g1/t', 'a')
  assert.equal(tree.cachedTopics, 0)
  assert.deepEqual(
    tree.match('t').shared!.map((g) => g.name),
    ['$share/g2/t'],
  )
  tree.remove('$share/g2/t', 'b')
  assert.equal(tree.match('t').shared, null)
  assert.equal(tree.size, 0)
})

test('a shared group picks members in turn, preferring ready, then connected, then offline ones', () => {
  const g = new SharedGroup<string>('$share/g/t')
  for (const m of ['a', 'b', 'c']) g.set(m, 1)
  const state: Record<string, 0 | 1 | 2> = { a: 2, b: 2, c: 2 }
  const r = (s: string) => state[s]!
  assert.deepEqual(
    [1, 2, 3, 4].map(() => g.pick(r)!.subscriber),
    ['a', 'b', 'c', 'a'],
  )
  state.b = 1 // connected, no room
  assert.deepEqual(
    [1, 2, 3].map(() => g.pick(r)!.subscriber),
    ['c', 'a', 'c'],
  )
  state.a = 0
  state.c = 0
  assert.equal(g.pick(r)!.subscriber, 'b', 'busy but connected beats offline')
  state.b = 0
  assert.ok(['a', 'b', 'c'].includes(g.pick(r)!.subscriber), 'all offline: an offline persistent member')
  assert.equal(g.pick(r, 'a')?.subscriber === 'a', false, 'never the member that is leaving')
  g.delete('b')
  g.delete('c')
  assert.equal(g.pick(r, 'a'), null)
  assert.equal(g.hasOther('a'), false)
})

test('a shared member keeps its own QoS and options [MQTT-4.8.2-3]', () => {
  const g = new SharedGroup<string>('$share/g/t')
  g.set('a', opts(1, { subscriptionId: 9, retainAsPublished: true }))
  const m = g.pick(() => 2)!
  assert.deepEqual([m.qos, m.subIds, m.retainAsPublished], [1, [9], true])
  assert.equal(g.set('a', 2), false, 'replaced, not added')
  assert.deepEqual([g.pick(() => 2)!.qos, g.size], [2, 1])
})
