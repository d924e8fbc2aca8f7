/**
 * Property test of the topic tree: after any sequence of subscribes (ordinary and shared,
 * with or without MQTT 5 options) and unsubscribes, a route equals what a brute-force
 * matcher (topicMatches over every subscription) says, cached or not.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { parseShared, type Sub } from '../../../src/broker/subscription.js'
import { combine, type Route, TopicTree } from '../../../src/broker/topic-tree.js'
import { topicMatches } from '../../../src/protocol/index.js'

// 'ab' beside 'a': a level compared in place must match whole, not as a prefix
const LEVELS = ['a', 'ab', 'b', '$x', '']
const level = fc.constantFrom(...LEVELS)
const topic = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'))
const filter = fc
  .tuple(fc.array(fc.constantFrom(...LEVELS, '+'), { minLength: 0, maxLength: 3 }), fc.boolean())
  .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/') || '+') // never empty [MQTT-4.7.3-1]
const sub: fc.Arbitrary<Sub> = fc.oneof(
  fc.constantFrom<Sub>(0, 1, 2),
  fc.record({
    qos: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
    noLocal: fc.boolean(),
    retainAsPublished: fc.boolean(),
    retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
    subscriptionId: fc.integer({ min: 0, max: 3 }),
  }),
)
const op = fc.record({
  client: fc.constantFrom('c1', 'c2', 'c3'),
  shared: fc.option(fc.constantFrom('g1', 'g2'), { nil: null }),
  filter,
  sub,
  remove: fc.boolean(),
})

/** A route in a form that compares: deliveries by client, shared groups by name. */
function normal(r: Route<string>): unknown {
  return {
    deliveries: Object.fromEntries(
      r.deliveries.map((d) => [
        d.subscriber,
        {
          qos: d.qos,
          rap: d.retainAsPublished,
          ids: [...(d.subIds ?? [])].sort(),
          noLocal: d.noLocal !== null,
        },
      ]),
    ),
    shared: (r.shared ?? []).map((g) => g.name).sort(),
  }
}

test('routes agree with a brute-force matcher after any subscribes and unsubscribes [MQTT-4.7.1-2] [MQTT-4.7.2-1] [MQTT-3.3.4-2]', () => {
  fc.assert(
    fc.property(
      fc.array(op, { maxLength: 30 }),
      fc.array(topic, { minLength: 1, maxLength: 6 }),
      (ops, topics) => {
        const tree = new TopicTree<string>()
        const model = new Map<string, Sub>() // "client\0filter" -> sub
        for (const o of ops) {
          const f = o.shared === null ? o.filter : `$share/${o.shared}/${o.filter}`
          const key = `${o.client}\0${f}`
          if (o.remove) assert.equal(tree.remove(f, o.client), model.delete(key))
          else {
            assert.equal(tree.add(f, o.client, o.sub), !model.has(key))
            model.set(key, o.sub)
          }
          assert.equal(tree.size, model.size)
        }
        for (const t of [...topics, ...topics]) {
          // the second pass answers from the route cache
          const bySubscriber = new Map<string, Sub[]>()
          const groups = new Set<string>()
          for (const [key, s] of model) {
            const [client, f] = key.split('\0') as [string, string]
            const shared = parseShared(f)
            if (shared === 'invalid') throw new Error(f)
            if (!topicMatches(shared === null ? f : shared.filter, t)) continue
            if (shared !== null) groups.add(f)
            else bySubscriber.set(client, [...(bySubscriber.get(client) ?? []), s])
          }
          const expected = {
            deliveries: Object.fromEntries(
              [...bySubscriber].map(([client, subs]) => {
                const c = combine(subs, false)
                return [
                  client,
                  {
                    qos: c.qos,
                    rap: c.retainAsPublished,
                    ids: [...(c.subIds ?? [])].sort(),
                    noLocal: subs.some((s) => typeof s !== 'number' && s.noLocal),
                  },
                ]
              }),
            ),
            shared: [...groups].sort(),
          }
          assert.deepEqual(normal(tree.match(t)), expected, t)
        }
      },
    ),
    { numRuns: 300 },
  )
})
