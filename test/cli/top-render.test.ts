/**
 * `petrel top`'s pure parts: human units, the figures from an Overview body and from
 * $SYS messages (rates from successive bursts, clock passed in), and the frame fit to a
 * terminal's width. No sockets, no sleeping.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { clientsFromPage, emptyFigures, figuresFromOverview } from '../../src/cli/top-figures.js'
import { type Frame, renderClients, renderFrame } from '../../src/cli/top-render.js'
import { SysFigures } from '../../src/cli/top-sys.js'
import { bytes, count, duration, elapsed, percent, perSecond } from '../../src/cli/top-units.js'
import { OVERVIEW } from './top-fixtures.js'

const CLIENT = {
  clientId: 'sensor-0001',
  username: null,
  address: '127.0.0.1:50000',
  protocolVersion: 5,
  connected: true,
  connectedSince: new Date(Date.UTC(2026, 0, 1) - 3723_000).toISOString(),
  keepalive: 60,
  cleanSession: true,
  sessionExpiryInterval: 0,
  subscriptions: 3,
  inflight: 1,
  queued: 20,
  bytesIn: 2048,
  bytesOut: 10,
  messagesIn: 1500,
  messagesOut: 7,
}

function frame(over: Partial<Frame> = {}): Frame {
  return {
    source: 'http://127.0.0.1:8080',
    figures: figuresFromOverview(OVERVIEW),
    rateWindow: null,
    status: null,
    clients: null,
    now: new Date(OVERVIEW.time),
    ...over,
  }
}

describe('top: human units', () => {
  test('counts keep three significant digits and step up by 1000', () => {
    assert.deepEqual([0, 7, 999, 1000, 1234, 12_345, 123_456, 999_999, 1_234_567, 5e9].map(count), [
      '0',
      '7',
      '999',
      '1k',
      '1.23k',
      '12.3k',
      '123k',
      '1M',
      '1.23M',
      '5G',
    ])
    assert.equal(count(0.5), '0.5')
    assert.equal(count(12.34), '12.3')
  })

  test('bytes step up by 1024, with binary units', () => {
    assert.deepEqual([0, 151, 1023, 1024, 1536, 10 * 1024 * 1024, 5 * 1024 ** 3].map(bytes), [
      '0 B',
      '151 B',
      '1023 B',
      '1 KiB',
      '1.5 KiB',
      '10 MiB',
      '5 GiB',
    ])
  })

  test('rates, durations, percentages and uptimes', () => {
    assert.equal(perSecond(1520.4), '1.52k/s')
    assert.equal(perSecond(0.25), '0.25/s')
    assert.equal(duration(0.0021), '2.1 ms')
    assert.equal(duration(0.00005), '0.05 ms')
    assert.equal(duration(1.5), '1.5 s')
    assert.equal(percent(0.341), '34%')
    assert.deepEqual([42, 723, 3723, 93_784].map(elapsed), ['42s', '12m 03s', '01:02:03', '1d 02:03:04'])
  })
})

describe('top: figures from GET /api/v1/overview', () => {
  test('reads every field of the contract', () => {
    const f = figuresFromOverview(OVERVIEW)
    assert.equal(f.version, 'petrel version 9.9.9')
    assert.equal(figuresFromOverview({ version: '1.2.3' }).version, 'petrel version 1.2.3')
    assert.equal(f.connections.current, 1234)
    assert.equal(f.sessions.disconnected, 1500 - 1234)
    assert.equal(f.rates.messagesIn, 1520.4)
    assert.equal(f.store.commitP99Seconds, 0.0021)
    assert.equal(f.memory.rssBytes, 120 * 1024 * 1024)
  })

  test('a missing or mistyped field is unknown, not an error', () => {
    const f = figuresFromOverview({ version: 3, connections: { current: 'x' }, rates: null })
    assert.equal(f.version, null)
    assert.equal(f.connections.current, null)
    assert.equal(f.rates.messagesIn, null)
    assert.deepEqual(figuresFromOverview('nonsense'), emptyFigures())
  })
})

describe('top: the frame', () => {
  test('shows the header, the figures in human units and aligned columns', () => {
    const lines = renderFrame(frame(), { width: 120, height: 50 })
    assert.match(
      lines[0]!,
      /^petrel top {2}http:\/\/127\.0\.0\.1:8080 {2}· {2}petrel version 9\.9\.9 {2}· {2}up 1d 02:03:04/,
    )
    assert.equal(lines[1], '')
    // Each column: names left-aligned, values right-aligned.
    assert.deepEqual(lines.slice(2), [
      'Clients    connected           1.23k   maximum            2k   accepted     56.8k   refused    12   new 2/s',
      'Sessions   total                1.5k   persistent        300   offline        266   expired     4',
      'Rates      in            1.52k msg/s   out         45k msg/s   dropped  0.5 msg/s',
      '           in              2.5 MiB/s   out           800 B/s',
      'Totals     in             12.3M msgs   out        98.8M msgs   dropped          3',
      '           in                  5 GiB   out           1.5 KiB',
      'Routing    subscriptions       4.32k   shared              7   retained        88',
      'Delivery   inflight               15   queued          2.05k',
      'Store      commit p99         2.1 ms   size           12 MiB',
      'Process    heap               45 MiB   rss           120 MiB   loop p99   12.5 ms   loop busy 34%',
    ])
  })

  test('never writes past the width: long rows continue on the next line', () => {
    for (const width of [40, 60, 80]) {
      const lines = renderFrame(frame(), { width, height: 100 })
      for (const l of lines) assert.ok(l.length <= width, `${JSON.stringify(l)} > ${width}`)
      assert.ok(lines.join('\n').includes('refused'), `nothing left out at ${width}`)
    }
  })

  test('stays within the height', () => {
    const clients = {
      rows: Array.from({ length: 50 }, () => clientsFromPage({ items: [CLIENT] }).rows[0]!),
      total: 50,
      sort: 'messagesIn' as const,
      error: null,
    }
    assert.equal(renderFrame(frame({ clients }), { width: 100, height: 20 }).length, 20)
  })

  test('leaves out what the source does not give, except the rates', () => {
    const lines = renderFrame(
      frame({ figures: emptyFigures(), status: 'waiting for $SYS/# from 127.0.0.1:1883' }),
      {
        width: 80,
        height: 24,
      },
    )
    assert.deepEqual(lines, [
      `petrel top  http://127.0.0.1:8080  ·  ${new Date(OVERVIEW.time).toTimeString().slice(0, 8)}`,
      'waiting for $SYS/# from 127.0.0.1:1883',
      '',
      'Rates   in -   out -   dropped -',
      '        in -   out -',
    ])
  })
})

describe('top: the clients table', () => {
  const page = clientsFromPage({
    total: 1234,
    items: [
      CLIENT,
      { ...CLIENT, clientId: 'x'.repeat(80), address: null, connectedSince: null, protocolVersion: 4 },
    ],
  })

  test('lists the clients with the sort column marked, in human units', () => {
    const lines = renderClients({ ...page, sort: 'messagesIn', error: null }, 140, new Date(OVERVIEW.time))
    assert.equal(lines[0], 'Clients by msgs in (top 2 of 1.23k)')
    assert.match(
      lines[1]!,
      /^CLIENT ID\s+MSGS IN↓\s+MSGS OUT\s+BYTES IN\s+BYTES OUT\s+QUEUED\s+INFLIGHT\s+SUBS\s+V\s+ADDRESS\s+SINCE$/,
    )
    assert.match(
      lines[2]!,
      /^sensor-0001\s+1\.5k\s+7\s+2 KiB\s+10 B\s+20\s+1\s+3\s+5\s+127\.0\.0\.1:50000\s+01:02:03$/,
    )
    assert.match(lines[3]!, /^x+…?\s.*3\.1\.1\s+offline\s+-$/)
  })

  test('on a narrow terminal keeps the id and the sort column, and drops the least useful columns', () => {
    const lines = renderClients({ ...page, sort: 'queued', error: null }, 40, new Date(OVERVIEW.time))
    for (const l of lines) assert.ok(l.length <= 40, JSON.stringify(l))
    assert.match(lines[1]!, /^CLIENT ID\s.*QUEUED↓/)
    assert.ok(!lines[1]!.includes('SINCE'))
    assert.match(lines[3]!, /^x+…/)
  })

  test('says why it could not be read', () => {
    const lines = renderClients(
      { rows: [], total: null, sort: 'bytesIn', error: 'cannot list clients: HTTP 500' },
      80,
      new Date(),
    )
    assert.deepEqual(lines, ['Clients by bytes in', '  cannot list clients: HTTP 500'])
  })
})

describe('top: figures from $SYS', () => {
  const T0 = 1_000_000

  function burst(sys: SysFigures, at: number, values: Record<string, string>, retained = false): void {
    for (const [k, v] of Object.entries(values)) sys.receive(`$SYS/broker/${k}`, v, retained, at)
    sys.endBurst()
  }

  test("reads Mosquitto's topics, with the uptime running on between bursts", () => {
    const sys = new SysFigures()
    burst(sys, T0, {
      version: 'mosquitto version 2.0.11',
      uptime: '120 seconds',
      'clients/connected': '3',
      'clients/maximum': '5',
      'clients/total': '4',
      'clients/disconnected': '1',
      'clients/expired': '2',
      'subscriptions/count': '9',
      'shared_subscriptions/count': '1',
      'retained messages/count': '40',
      'messages/stored': '35',
      'store/messages/bytes': '151',
      'heap/current': '33336',
      'heap/maximum': '34488',
      'publish/messages/received': '100',
      'publish/bytes/received': '5000',
    })
    const f = sys.figures(T0 + 2500)
    assert.equal(f.version, 'mosquitto version 2.0.11')
    assert.equal(f.uptimeSeconds, 122.5)
    assert.deepEqual(
      [
        f.connections.current,
        f.connections.maximum,
        f.sessions.current,
        f.sessions.disconnected,
        f.sessions.expired,
      ],
      [3, 5, 4, 1, 2],
    )
    assert.deepEqual([f.subscriptions, f.sharedSubscriptions, f.retained], [9, 1, 40])
    assert.deepEqual(
      [f.stored.messages, f.stored.bytes, f.memory.heapUsedBytes, f.memory.heapMaxBytes],
      [35, 151, 33336, 34488],
    )
    assert.equal(f.totals.messagesIn, 100)
    assert.equal(f.rates.messagesIn, null, 'no rate from one burst and no load average')
  })

  test('rates come from two live bursts over the time between them; an unchanged counter is a rate of 0', () => {
    const sys = new SysFigures()
    burst(sys, T0, {
      uptime: '10 seconds',
      'publish/messages/received': '100',
      'publish/messages/sent': '50',
    })
    // Mosquitto republishes only what changed: messages/sent stays at 50.
    burst(sys, T0 + 2000, { uptime: '12 seconds', 'publish/messages/received': '400' })
    const f = sys.figures(T0 + 2000)
    assert.equal(f.rates.messagesIn, 150)
    assert.equal(f.rates.messagesOut, 0)
    assert.equal(sys.rateWindow(), 'last interval')
  })

  test('after the retained burst of a subscription, the broker uptime times the rates', () => {
    const sys = new SysFigures()
    // Retained values arrive at once, though published up to an interval earlier.
    burst(sys, T0, { uptime: '10 seconds', 'bytes/received': '1000' }, true)
    burst(sys, T0 + 100, { uptime: '12 seconds', 'bytes/received': '5000' })
    assert.equal(sys.figures(T0 + 100).rates.bytesIn, 2000)
  })

  test("until then Mosquitto's 1-minute load averages (per minute) stand in", () => {
    const sys = new SysFigures()
    burst(sys, T0, {
      uptime: '1 seconds',
      'load/publish/received/1min': '120.00',
      'load/connections/1min': '6.00',
    })
    const f = sys.figures(T0)
    assert.equal(f.rates.messagesIn, 2)
    assert.equal(f.rates.connections, 0.1)
    assert.equal(sys.rateWindow(), '1 min average')
  })

  test('a counter going back (the broker restarted) gives no rate', () => {
    const sys = new SysFigures()
    burst(sys, T0, { uptime: '100 seconds', 'publish/messages/received': '500' })
    burst(sys, T0 + 1000, { uptime: '1 seconds', 'publish/messages/received': '3' })
    assert.equal(sys.figures(T0 + 1000).rates.messagesIn, null)
  })

  test('no rate from two different counters: all packets before the first PUBLISH, PUBLISHes after', () => {
    const sys = new SysFigures()
    // Mosquitto publishes publish/messages/received only once it is not 0
    burst(sys, T0, { uptime: '10 seconds', 'messages/received': '40' })
    burst(sys, T0 + 2000, {
      uptime: '12 seconds',
      'messages/received': '142',
      'publish/messages/received': '100',
    })
    assert.equal(sys.figures(T0 + 2000).rates.messagesIn, null)
    burst(sys, T0 + 4000, {
      uptime: '14 seconds',
      'messages/received': '244',
      'publish/messages/received': '200',
    })
    assert.equal(sys.figures(T0 + 4000).rates.messagesIn, 50)
  })

  test('a second uptime ends the burst before it, even without a pause', () => {
    const sys = new SysFigures()
    sys.receive('$SYS/broker/uptime', '5 seconds', false, T0)
    sys.receive('$SYS/broker/publish/messages/sent', '10', false, T0)
    sys.receive('$SYS/broker/uptime', '6 seconds', false, T0 + 1000)
    sys.receive('$SYS/broker/publish/messages/sent', '30', false, T0 + 1000)
    sys.endBurst()
    assert.equal(sys.burstCount, 2)
    assert.equal(sys.figures(T0 + 1000).rates.messagesOut, 20)
  })

  test('ignores topics outside $SYS/broker/', () => {
    const sys = new SysFigures()
    sys.receive('$SYS/other/uptime', '5 seconds', false, T0)
    sys.endBurst()
    assert.equal(sys.burstCount, 0)
  })
})
