/**
 * A flood of refused connections costs a bounded number of log lines and `notable` events:
 * NOTABLE_PER_SECOND a second per kind, then one line saying how many were suppressed.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import type { NotableEvent } from '../../../src/broker/events.js'
import { NOTABLE_PER_SECOND } from '../../../src/broker/notable.js'
import type { Logger } from '../../../src/broker/options.js'
import { rawConnect, sleep } from '../../helpers/flood.js'

const CONNECTS = 600
const AT_ONCE = 50

test(`${CONNECTS} refused CONNECTs are logged and told at most ${NOTABLE_PER_SECOND} a second, the rest summed up`, async (t) => {
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = []
  const keep =
    (level: string) =>
    (obj: object, msg: string): void => {
      lines.push({ level, obj: obj as Record<string, unknown>, msg })
    }
  const logger: Logger = { debug() {}, info: keep('info'), warn: keep('warn'), error: keep('error') }
  const broker = new Broker({ sysInterval: 0, logger })
  t.after(() => broker.close())
  const events: NotableEvent[] = []
  broker.on('notable', (e) => events.push(e))
  const { port } = await broker.listen({ port: 0, host: '127.0.0.1' })
  const start = performance.now()
  for (let i = 0; i < CONNECTS; i += AT_ONCE) {
    // 3.1.1: an empty client id needs a clean session, else it is refused 0x02 [MQTT-3.1.3-8]
    const batch = Array.from({ length: AT_ONCE }, () => rawConnect(port, '', { clean: false }))
    for (const s of await Promise.all(batch)) s.destroy()
  }
  const seconds = (performance.now() - start) / 1000
  assert.equal(broker.stats.refused.clientId, CONNECTS)
  const windows = Math.ceil(seconds) + 1
  const refusedLines = (): typeof lines => lines.filter((l) => l.obj.event === 'refused')
  const told = refusedLines().filter((l) => l.obj.suppressed === undefined)
  assert.ok(told.length <= NOTABLE_PER_SECOND * windows, `${told.length} lines in ${seconds.toFixed(1)} s`)
  assert.ok(events.length <= NOTABLE_PER_SECOND * windows, `${events.length} events`)
  assert.ok(lines.length <= (NOTABLE_PER_SECOND + 1) * windows, `${lines.length} lines in all`)
  // when the second is over, the ones held back are counted in a line
  await sleep(1100)
  const suppressed = refusedLines()
    .map((l) => (l.obj.suppressed as number | undefined) ?? 0)
    .reduce((a, b) => a + b, 0)
  assert.equal(told.length + suppressed, CONNECTS, 'every refusal is either logged or counted as suppressed')
})
