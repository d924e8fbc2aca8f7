/**
 * Regression tests named after Mosquitto's CVEs for crafted input (ChangeLog.txt and the
 * security page of mosquitto.org), where the attack applies to an MQTT 3.1.1 or 5 broker:
 * each sends the shape that hurt Mosquitto and asserts the protocol's answer, the broker
 * alive, memory bounded and others served.
 *
 * Not here, and why:
 * - CVE-2017-7650 (pattern ACLs widened by '+'/'#' in a client id or user name),
 *   CVE-2018-12546 (a retained message still delivered after ACL access is revoked),
 *   CVE-2018-12550 (an empty ACL file allowing everything), CVE-2018-20145
 *   (per_listener_settings ACL bypass), CVE-2021-34434 (a persistent subscription kept after
 *   ACL access is revoked): access control, tested with the ACL file (issue 13's aclFile work).
 * - CVE-2018-12551 (a malformed password file taken as valid): the password file (passwordFile).
 * - CVE-2017-7652 (defaults after a SIGHUP reload with descriptors exhausted), CVE-2017-9868
 *   (persistence file permissions): configuration and local files, not network input.
 * - CVE-2017-7655 (a NULL dereference in libmosquitto, no published shape) and
 *   CVE-2024-3935 (a crafted packet from the remote end of a bridge): Petrel has no bridge.
 * - CVE-2021-23980 is the first name of CVE-2021-28166, tested below.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { type TestContext, test } from 'node:test'
import { connect } from '../../src/client/client.js'
import { encode, PacketType, ReasonCode, SUBACK_FAILURE } from '../../src/protocol/index.js'
import { rawConnect, sleep } from '../helpers/flood.js'
import {
  assertBelow,
  MB,
  memoryAfterGc,
  Probe,
  peakGrowth,
  sentAndClosed,
  waitFor,
} from '../helpers/hostile.js'
import { connectPacket, hex, startBroker, type TestBroker, uniqueId } from '../helpers/raw-client.js'

const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s) : s
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

function varint(n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

/** An MQTT 5 CONNECT with these raw property bytes (and will, with its raw property bytes). */
function connect5(props: Buffer, clientId: string, will?: { props: Buffer; topic: string }): Buffer {
  const flags = 0x02 | (will === undefined ? 0 : 0x04)
  const body = Buffer.concat([
    hex('00 04 4d 51 54 54 05'),
    Buffer.from([flags, 0, 0]),
    varint(props.length),
    props,
    str(clientId),
    ...(will === undefined ? [] : [varint(will.props.length), will.props, str(will.topic), str('w')]),
  ])
  return Buffer.concat([Buffer.from([0x10]), varint(body.length), body])
}

/** Sends `bytes` on a fresh connection `n` times (50 at a time) and waits for each to be closed. */
async function refusedEach(tb: TestBroker, n: number, bytes: (i: number) => Buffer): Promise<void> {
  for (let i = 0; i < n; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, (_, j) => sentAndClosed(tb.port, bytes(i + j))),
    )
  }
}

/** Memory (after GC) kept after `attack`: what it leaked. */
async function kept(attack: () => Promise<void>): Promise<number> {
  await attack() // a first round warms up what is allocated once
  const before = memoryAfterGc()
  await attack()
  await sleep(50)
  return memoryAfterGc() - before
}

async function started(t: TestContext, options = {}): Promise<{ tb: TestBroker; probe: Probe }> {
  const tb = await startBroker(options, t)
  return { tb, probe: await Probe.start(tb, t) }
}

test('CVE-2017-7651: CONNECTs announcing 256 MB from unauthenticated clients are refused on their header, allocating nothing', async (t) => {
  const { tb, probe } = await started(t)
  const grown = await peakGrowth(() => refusedEach(tb, 300, () => hex('10 ff ff ff 7f 00 04 4d 51 54 54')))
  assertBelow(grown, 8 * MB, 'memory grew')
  assert.equal(tb.broker.stats.limits['packet-size'], 300)
  await probe.stop('huge CONNECTs')
})

test('CVE-2017-7653: a topic, filter, client id or will topic that is not valid UTF-8 closes its sender and reaches nobody [MQTT-1.5.3-1]', async (t) => {
  const { tb, probe } = await started(t)
  const sub = await tb.connect()
  await sub.subscribe('#', 0)
  const bad = [
    Buffer.from([0x61, 0xc3, 0x28]),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from([0xff]),
    Buffer.from([0x61, 0x00]),
  ]
  for (const b of bad) {
    for (const version of [4, 5] as const) {
      const props = version === 5 ? Buffer.from([0]) : Buffer.alloc(0)
      // PUBLISH QoS 0 to that topic
      const pub = await tb.connect({ protocolVersion: version })
      const publish = Buffer.concat([str(b), props, Buffer.from('x')])
      pub.sendRaw(Buffer.concat([Buffer.from([0x30]), varint(publish.length), publish]))
      await pub.closed(1000)
      // SUBSCRIBE to it as a filter
      const s = await tb.connect({ protocolVersion: version })
      const subscribe = Buffer.concat([hex('00 01'), props, str(b), Buffer.from([0])])
      s.sendRaw(Buffer.concat([Buffer.from([0x82]), varint(subscribe.length), subscribe]))
      await s.closed(1000)
    }
    // a client id, a will topic
    const id = await tb.open()
    const body = Buffer.concat([hex('00 04 4d 51 54 54 04 02 00 00'), str(b)])
    id.sendRaw(Buffer.concat([Buffer.from([0x10]), varint(body.length), body]))
    await id.closed(1000)
    const will = await tb.open()
    const wbody = Buffer.concat([hex('00 04 4d 51 54 54 04 06 00 00'), str('w'), str(b), str('p')])
    will.sendRaw(Buffer.concat([Buffer.from([0x10]), varint(wbody.length), wbody]))
    await will.closed(1000)
  }
  await sub.nothingFor(100)
  assert.equal(sub.ended, false)
  await probe.stop('invalid UTF-8')
})

test('CVE-2017-7654: 1000 CONNECTs refused by authentication (with credentials, wills, MQTT 5 properties) leave no memory behind', async (t) => {
  const tb = await startBroker({ authenticate: () => false }, t)
  const will = { topic: 'w/t', payload: Buffer.alloc(1000, 1), qos: 1 as const, retain: true }
  const leaked = await kept(() =>
    refusedEach(tb, 500, (i) =>
      encode(
        connectPacket({
          clientId: uniqueId('refused'),
          username: `user-${i}`,
          password: Buffer.alloc(200, 2),
          will,
          ...(i % 2 === 0
            ? {
                protocolVersion: 5,
                properties: { sessionExpiryInterval: 3600, userProperties: [['k', 'v'.repeat(500)]] },
              }
            : { clean: false }),
        }),
        i % 2 === 0 ? 5 : 4,
      ),
    ),
  )
  assertBelow(leaked, 2 * MB, 'memory kept')
  assert.equal(tb.broker.sessionCount, 0)
})

test('CVE-2018-12543: PUBLISHes to $ topics other than $SYS ($, $foo, $/x), retained and at every QoS, are routed like others', async (t) => {
  const { tb, probe } = await started(t)
  const sub = await tb.connect()
  await sub.subscribe([
    { topic: '$foo/#', qos: 2 },
    { topic: '$', qos: 2 },
    { topic: '$/#', qos: 2 },
  ])
  const pub = await tb.connect({ protocolVersion: 5 })
  for (const topic of ['$', '$foo', '$foo/bar', '$/x', '$SYS']) {
    for (const qos of [0, 1, 2] as const) pub.publish(topic, `${topic} ${qos}`, { qos, retain: qos === 2 })
  }
  await sleep(200)
  const got = sub.received.filter((p) => p.type === PacketType.PUBLISH).length
  assert.equal(got, 12) // all but $SYS, at QoS 0, 1 and 2
  await probe.stop('$ topics')
})

test('CVE-2019-11778: an MQTT 5 will delay longer than the session expiry: the will goes out once, when the session ends', async (t) => {
  const { tb, probe } = await started(t)
  const watcher = await tb.connect()
  await watcher.subscribe('cve/will', 0)
  for (let round = 0; round < 3; round++) {
    const id = uniqueId('delayed')
    const c = await tb.connect({
      clientId: id,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 1 },
      will: {
        topic: 'cve/will',
        payload: Buffer.from(`r${round}`),
        qos: 0,
        retain: false,
        properties: { willDelayInterval: 30 },
      },
    })
    c.destroy()
    const w = await watcher.next(PacketType.PUBLISH, 3000)
    assert.equal(w.payload.toString(), `r${round}`)
    // the same id comes back: a new session, nothing left of the old one
    const again = await tb.connect({ clientId: id, protocolVersion: 5 })
    assert.equal(again.connack?.sessionPresent, false)
    await again.disconnect()
  }
  // and a will whose session is taken over before its delay: not sent
  const id = uniqueId('taken')
  const first = await tb.connect({
    clientId: id,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: {
      topic: 'cve/will',
      payload: Buffer.from('taken'),
      qos: 0,
      retain: false,
      properties: { willDelayInterval: 30 },
    },
  })
  first.destroy()
  await sleep(50)
  const second = await tb.connect({
    clientId: id,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 60 },
  })
  await second.disconnect()
  await watcher.nothingFor(200)
  await probe.stop('delayed wills')
})

test("CVE-2019-11779: a SUBSCRIBE of 65 000 '/' is refused without a stack overflow; allowed, it is served without one", async (t) => {
  const { tb, probe } = await started(t)
  const c = await tb.connect()
  assert.deepEqual((await c.subscribe('/'.repeat(65_000), 0)).granted, [SUBACK_FAILURE])
  const c5 = await tb.connect({ protocolVersion: 5 })
  assert.deepEqual((await c5.subscribe('/'.repeat(65_000), 0)).granted, [ReasonCode.TOPIC_FILTER_INVALID])
  await probe.stop('65 000 levels')
  const deep = await startBroker({ maxTopicLevels: 65_536 }, t)
  const d = await deep.connect()
  assert.deepEqual((await d.subscribe('/'.repeat(65_000), 0)).granted, [0])
  d.publish('/'.repeat(65_000), 'deep')
  assert.equal((await d.next(PacketType.PUBLISH)).payload.toString(), 'deep')
})

test('CVE-2020-13849: maxKeepalive refuses a 3.1.1 keep-alive past it (CONNACK 2) and lowers an MQTT 5 one (Server Keep Alive)', async (t) => {
  const tb = await startBroker({ maxKeepalive: 60 }, t)
  const c = await tb.open()
  assert.equal((await c.connect({ keepalive: 65_535 })).returnCode, 2)
  await c.closed()
  const c5 = await tb.connect({ protocolVersion: 5, keepalive: 65_535 })
  assert.equal(c5.connack?.properties?.serverKeepAlive, 60)
  assert.equal(tb.broker.stats.limits.keepalive, 1)
})

test('CVE-2021-28166: a CONNACK from a connected MQTT 5 client, with or without properties, is a protocol error: DISCONNECT, closed', async (t) => {
  const { tb, probe } = await started(t)
  for (const connack of ['20 03 00 00 00', '20 02 00 00', '20 08 01 00 05 11 00 00 00 01', '20 01 00']) {
    const c = await tb.connect({ protocolVersion: 5 })
    c.sendRaw(connack)
    const d = await c.next(PacketType.DISCONNECT)
    assert.ok(d.reasonCode === ReasonCode.PROTOCOL_ERROR || d.reasonCode === ReasonCode.MALFORMED_PACKET)
    await c.closed()
  }
  await probe.stop('CONNACKs from clients')
})

test('CVE-2021-34431: MQTT 5 CONNECTs with crafted properties (repeated, of another packet, truncated, unknown) are refused, memory flat', async (t) => {
  const { tb, probe } = await started(t)
  const crafted = [
    hex('11 00 00 00 0a 11 00 00 00 0a'), // Session Expiry Interval twice
    hex('23 00 01'), // Topic Alias: a PUBLISH property
    hex('15 00 0a 61'), // Authentication Method, truncated
    hex('7f 00'), // no such property
    hex('26 00 01 61'), // User Property without its value
  ]
  const leaked = await kept(() =>
    refusedEach(tb, 500, (i) => connect5(crafted[i % crafted.length]!, uniqueId('crafted'))),
  )
  assertBelow(leaked, 2 * MB, 'memory kept')
  assert.equal(tb.broker.connectedCount, 1)
  await probe.stop('crafted CONNECT properties')
})

test('CVE-2021-34432: a PUBLISH with a zero-length topic closes its sender (MQTT 5 with an unknown Topic Alias too); the broker carries on', async (t) => {
  const { tb, probe } = await started(t)
  const sub = await tb.connect()
  await sub.subscribe('#', 0)
  for (const [version, bytes] of [
    [4, '30 03 00 00 78'],
    [4, '32 05 00 00 00 01 78'],
    [5, '30 04 00 00 00 78'],
    [5, '30 07 00 00 03 23 00 07 78'], // Topic Alias 7, never set
    [5, '34 06 00 00 00 01 00 78'],
  ] as const) {
    const c = await tb.connect({
      protocolVersion: version,
      properties: version === 5 ? { topicAliasMaximum: 10 } : undefined,
    })
    c.sendRaw(bytes)
    await c.closed(1000)
  }
  await sub.nothingFor(100)
  await probe.stop('zero-length topics')
})

test('CVE-2021-41039: an MQTT 5 CONNECT with 8000 user properties and PUBLISHes with 100 000 take time in proportion; others served', async (t) => {
  const { tb, probe } = await started(t)
  const many = (n: number): [string, string][] => Array.from({ length: n }, (_, i) => [`k${i % 10}`, ''])
  const t0 = performance.now()
  const c = await tb.connect({ protocolVersion: 5, properties: { userProperties: many(8000) } })
  assert.ok(performance.now() - t0 < 2000)
  // the subscriber counts bytes (decoding them here would be this process's time, not the broker's)
  const sub = await rawConnect(tb.port, uniqueId('props'), { protocolVersion: 5 })
  t.after(() => sub.destroy())
  let got = 0
  sub.on('data', (chunk: Buffer) => {
    got += chunk.length
  })
  sub.write(
    encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'props/many', qos: 0 }] }, 5),
  )
  await waitFor('SUBACK', () => got >= 6)
  const start = got
  for (let i = 0; i < 2; i++) c.publish('props/many', 'p', { properties: { userProperties: many(100_000) } })
  // each forwarded with its 100 000 properties: 7 bytes each
  await waitFor('both delivered', () => got - start >= 2 * 700_000, 5000)
  await probe.stop('100 000 user properties')
})

test('CVE-2023-0809: first packets that are not CONNECT, announcing 256 MB, are refused on their first byte', async (t) => {
  const { tb, probe } = await started(t)
  const firsts = [
    '30 ff ff ff 7f',
    '82 ff ff ff 7f',
    'a2 ff ff ff 7f',
    'f0 ff ff ff 7f',
    '00 ff ff ff 7f',
    '20 ff ff ff 7f',
  ]
  const grown = await peakGrowth(() =>
    refusedEach(tb, 300, (i) => Buffer.concat([hex(firsts[i % firsts.length]!), Buffer.alloc(4096, 0x61)])),
  )
  assertBelow(grown, 8 * MB, 'memory grew')
  await probe.stop('first packets that are not CONNECT')
})

test('CVE-2023-3592: MQTT 5 CONNECTs whose will properties hold properties a will may not have are refused, memory flat', async (t) => {
  const { tb, probe } = await started(t)
  const willProps = [
    hex('11 00 00 00 0a'), // Session Expiry Interval: a CONNECT property
    hex('23 00 01'), // Topic Alias
    hex('0b 01'), // Subscription Identifier
    hex('18 00 00 00 01 18 00 00 00 01'), // Will Delay Interval twice
    hex('01 02'), // Payload Format Indicator 2
  ]
  const leaked = await kept(() =>
    refusedEach(tb, 500, (i) =>
      connect5(Buffer.alloc(0), uniqueId('will'), { props: willProps[i % willProps.length]!, topic: 'w' }),
    ),
  )
  assertBelow(leaked, 2 * MB, 'memory kept')
  await probe.stop('crafted will properties')
})

test('CVE-2023-28366: 10 000 QoS 2 PUBLISHes with one packet id and no PUBREL: delivered once, a PUBREC each, memory flat', async (t) => {
  const { tb, probe } = await started(t)
  const sub = await tb.connect()
  await sub.subscribe('qos2/same', 2)
  const pub = await tb.connect()
  const one = encode({
    type: PacketType.PUBLISH,
    topic: 'qos2/same',
    payload: Buffer.alloc(256, 1),
    qos: 2,
    retain: false,
    dup: false,
    packetId: 7,
  })
  let pubrecs = 0
  pub.socket.on('data', (chunk: Buffer) => {
    pubrecs += chunk.length / 4 // PUBREC is 4 bytes
  })
  const grown = await peakGrowth(async () => {
    for (let i = 0; i < 10; i++) {
      pub.sendRaw(Buffer.concat(Array.from({ length: 1000 }, () => one)))
      await sleep(20)
    }
    await waitFor('a PUBREC for each', () => pubrecs >= 10_000)
  })
  assertBelow(grown, 8 * MB, 'memory grew')
  const first = await sub.next(PacketType.PUBLISH)
  sub.send({ type: PacketType.PUBREC, packetId: first.packetId })
  await sub.next(PacketType.PUBREL)
  await sub.nothingFor(200)
  await probe.stop('10 000 QoS 2 duplicates')
})

test('CVE-2024-8376: subscriptions and shared subscriptions to one filter, unsubscribed crosswise over reconnects, leave nothing behind', async (t) => {
  const { tb, probe } = await started(t)
  const base = tb.broker.subscriptionCount
  const pub = await tb.connect()
  const cycle = async (round: number): Promise<void> => {
    const id = `mixed-${round % 5}`
    const c = await tb.connect({ clientId: id, clean: round % 2 === 0 })
    await c.subscribe([
      { topic: 'mix/t', qos: 1 },
      { topic: '$share/g/mix/t', qos: 1 },
      { topic: '$share/h/mix/#', qos: 0 },
    ])
    c.send({
      type: PacketType.UNSUBSCRIBE,
      packetId: c.packetId(),
      topics: ['$share/g/mix/t', 'mix/#', '$share/h/mix/t'],
    })
    await c.next(PacketType.UNSUBACK)
    // left: 'mix/t' and '$share/h/mix/#' (the UNSUBSCRIBE named neither): two copies
    pub.publish('mix/t', `m${round}`)
    for (let i = 0; i < 2; i++)
      assert.equal((await c.next(PacketType.PUBLISH)).payload.toString(), `m${round}`)
    c.send({ type: PacketType.UNSUBSCRIBE, packetId: c.packetId(), topics: ['mix/t', '$share/h/mix/#'] })
    await c.next(PacketType.UNSUBACK)
    if (round % 3 === 0) c.destroy()
    else await c.disconnect()
  }
  const leaked = await kept(async () => {
    for (let round = 0; round < 100; round++) await cycle(round)
  })
  await waitFor('every subscription gone', () => tb.broker.subscriptionCount === base)
  assertBelow(leaked, 2 * MB, 'memory kept')
  await probe.stop('crosswise unsubscribes')
})

test('CVE-2024-10525 (client side): a SUBACK with no reason codes fails the subscribe, it does not crash the client', async (t) => {
  const server = createServer((s) => {
    s.on('error', () => {})
    s.once('data', () => {
      s.write(hex('20 02 00 00')) // CONNACK
      s.once('data', (sub: Buffer) => s.write(Buffer.from([0x90, 0x02, sub[2]!, sub[3]!]))) // SUBACK without codes
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const port = (server.address() as { port: number }).port
  const client = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: false })
  t.after(() => client.end({ force: true }).catch(() => {}))
  const outcome = await Promise.race([
    client.subscribe('t', { qos: 0 }).then(
      (codes) => `resolved ${JSON.stringify(codes)}`,
      (err: Error) => `rejected: ${err.message}`,
    ),
    sleep(2000).then(() => 'no answer'),
  ])
  assert.match(outcome, /^rejected/, outcome)
})
