import assert from 'node:assert/strict'
import { mock, test } from 'node:test'
import type { NotableEvent } from '../../../src/broker/events.js'
import { NOTABLE_PER_SECOND, Notable } from '../../../src/broker/notable.js'
import type { Logger } from '../../../src/broker/options.js'

interface Line {
  level: string
  fields: Record<string, unknown>
  msg: string
}

function logger(): Logger & { lines: Line[] } {
  const lines: Line[] = []
  const at =
    (level: string) =>
    (fields: object, msg: string): void => {
      lines.push({ level, fields: fields as Record<string, unknown>, msg })
    }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }
}

test('tells a notable event once: one structured log line at its level and one notable event', () => {
  const log = logger()
  const events: NotableEvent[] = []
  const n = new Notable(
    log,
    (e) => events.push(e),
    () => 1000,
  )
  n.report('refused', 'info', 'CONNECT refused: not authorised', {
    clientId: 'c1',
    remoteAddress: '10.0.0.1',
    reason: 'notAuthorized',
  })
  assert.deepEqual(log.lines, [
    {
      level: 'info',
      fields: { event: 'refused', clientId: 'c1', remoteAddress: '10.0.0.1', reason: 'notAuthorized' },
      msg: 'CONNECT refused: not authorised',
    },
  ])
  assert.deepEqual(events, [
    {
      time: 1000,
      kind: 'refused',
      clientId: 'c1',
      remoteAddress: '10.0.0.1',
      detail: 'CONNECT refused: not authorised',
    },
  ])
})

test('logs at most 10 lines a second per kind, then one line saying how many were suppressed', () => {
  const log = logger()
  const events: NotableEvent[] = []
  let now = 0
  const n = new Notable(
    log,
    (e) => events.push(e),
    () => now,
  )
  for (let i = 0; i < 1000; i++) n.report('refused', 'info', `refused ${i}`, { clientId: `c${i}` })
  // another kind has its own budget
  n.report('takeover', 'info', 'taken over', { clientId: 'x' })
  assert.equal(log.lines.length, NOTABLE_PER_SECOND + 1)
  assert.equal(events.length, NOTABLE_PER_SECOND + 1)
  now = 1000
  n.report('refused', 'info', 'refused again')
  assert.deepEqual(
    log.lines.slice(-2).map((l) => l.msg),
    ["suppressed 990 more 'refused' events (at most 10 a second are logged)", 'refused again'],
  )
  assert.deepEqual(log.lines.at(-2)!.fields, { event: 'refused', suppressed: 990 })
  n.close()
})

test('the suppressed-line comes when the second is over even if nothing more happens', () => {
  mock.timers.enable({ apis: ['setTimeout'] })
  try {
    const log = logger()
    let now = 0
    const n = new Notable(
      log,
      () => {},
      () => now,
    )
    for (let i = 0; i < 15; i++) n.report('slow-consumer', 'warn', 'slow')
    assert.equal(log.lines.length, 10)
    now = 1000
    mock.timers.tick(1000)
    assert.equal(log.lines.length, 11)
    assert.equal(log.lines[10]!.level, 'warn')
    assert.match(log.lines[10]!.msg, /^suppressed 5 more 'slow-consumer' events/)
    n.close()
  } finally {
    mock.timers.reset()
  }
})

test('event() emits within the same limit without logging (its line was logged elsewhere)', () => {
  const log = logger()
  const events: NotableEvent[] = []
  const n = new Notable(
    log,
    (e) => events.push(e),
    () => 5,
  )
  for (let i = 0; i < 30; i++) n.event('limit', 'too deep', { clientId: 'a' })
  assert.equal(log.lines.length, 0)
  assert.equal(events.length, 10)
  assert.deepEqual(events[0], { time: 5, kind: 'limit', clientId: 'a', detail: 'too deep' })
  n.close()
})
