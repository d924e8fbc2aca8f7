import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Fifo } from '../../../src/session/fifo.js'

describe('session Fifo', () => {
  test('items leave in the order they came; peek leaves them in place', () => {
    const f = new Fifo<number>()
    assert.equal(f.size, 0)
    assert.equal(f.peek(), undefined)
    assert.equal(f.shift(), undefined)
    for (let i = 1; i <= 5; i++) f.push(i)
    assert.equal(f.size, 5)
    assert.equal(f.peek(), 1)
    assert.equal(f.peek(), 1)
    assert.equal(f.shift(), 1)
    assert.equal(f.shift(), 2)
    f.push(6)
    assert.deepEqual(f.drain(), [3, 4, 5, 6])
    assert.equal(f.size, 0)
    assert.equal(f.shift(), undefined)
  })

  test('emptied by shift, it starts again from the next push', () => {
    const f = new Fifo<string>()
    f.push('a')
    assert.equal(f.shift(), 'a')
    assert.equal(f.size, 0)
    f.push('b')
    assert.equal(f.peek(), 'b')
    assert.equal(f.size, 1)
  })

  test('a steady trickle that never empties the queue keeps order and size across compactions', () => {
    const f = new Fifo<number>()
    const backlog = 10
    let next = 0
    let expected = 0
    for (; next < backlog; next++) f.push(next)
    // far beyond the compaction point (more than 1024 consumed), many times over
    for (let i = 0; i < 100_000; i++) {
      f.push(next++)
      assert.equal(f.shift(), expected++)
      assert.equal(f.size, backlog)
    }
    assert.equal(f.peek(), expected)
    assert.deepEqual(
      f.drain(),
      Array.from({ length: backlog }, (_, i) => expected + i),
    )
  })

  test('a growing backlog read in bursts still comes out whole and in order', () => {
    const f = new Fifo<number>()
    const out: number[] = []
    let n = 0
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 3000; i++) f.push(n++)
      for (let i = 0; i < 2000; i++) out.push(f.shift()!)
    }
    out.push(...f.drain())
    assert.equal(out.length, n)
    for (let i = 0; i < n; i++) assert.equal(out[i], i)
  })

  test('retain keeps the accepted items in order, also after some were shifted', () => {
    const f = new Fifo<number>()
    for (let i = 0; i < 2000; i++) f.push(i)
    for (let i = 0; i < 1500; i++) f.shift()
    f.retain((x) => x % 2 === 0)
    assert.equal(f.size, 250)
    assert.equal(f.peek(), 1500)
    f.push(9999)
    assert.equal(f.shift(), 1500)
    assert.equal(f.shift(), 1502)
    const rest = f.drain()
    assert.equal(rest.length, 249)
    assert.equal(rest.at(-1), 9999)
  })

  test('retain that keeps nothing leaves an empty queue that still works', () => {
    const f = new Fifo<number>()
    f.push(1)
    f.push(2)
    f.retain(() => false)
    assert.equal(f.size, 0)
    assert.equal(f.shift(), undefined)
    f.push(3)
    assert.equal(f.shift(), 3)
  })
})
