import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import { type TestContext, test } from 'node:test'
import { addressKey } from '../../src/broker/ip-limits.js'
import { encode, PacketType, ReasonCode, SUBACK_FAILURE } from '../../src/protocol/index.js'
import { sleep } from '../helpers/flood.js'
import { Probe, recordingLogger, waitFor } from '../helpers/hostile.js'
import { RawClient, startBroker, type TestBroker, uniqueId } from '../helpers/raw-client.js'

/**
 * The limits against abuse (docs/limits.md): each refuses (or slows) with the protocol's
 * answer, is counted under $SYS/broker/limits/<name>/..., and is logged once per offender.
 */

/** A listener in front of the broker that hands it every socket as coming from `address`. */
async function listenAs(tb: TestBroker, address: string, t: TestContext): Promise<number> {
  const server: Server = createServer((s) => tb.broker.handle(s, address))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const a = server.address()
  return typeof a === 'object' && a !== null ? a.port : 0
}

/** Opens a connection and sends CONNECT: the CONNACK's return code, or 'closed' when the broker closed it unanswered. */
async function tryConnect(
  port: number,
  clientId = uniqueId(),
): Promise<{ c: RawClient; result: number | 'closed' }> {
  const c = await RawClient.open(port)
  c.send({
    type: PacketType.CONNECT,
    protocolName: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: 0,
    clientId,
  })
  try {
    const ack = await c.next(PacketType.CONNACK)
    return { c, result: ack.returnCode }
  } catch {
    assert.ok(c.ended, 'neither CONNACK nor a close')
    return { c, result: 'closed' }
  }
}

test('maxConnectionsPerIp: the connection past it is closed unanswered, counted and logged once; a freed slot is taken again', async (t) => {
  const logger = recordingLogger()
  // a value given applies to loopback too
  const tb = await startBroker({ maxConnectionsPerIp: 5, logger }, t)
  const ok = await Promise.all(Array.from({ length: 5 }, () => tryConnect(tb.port)))
  for (const { result } of ok) assert.equal(result, 0)
  for (let i = 0; i < 3; i++) assert.equal((await tryConnect(tb.port)).result, 'closed')
  assert.equal(tb.broker.stats.limits['connections-per-ip'], 3)
  assert.equal(logger.warnings.filter((w) => w.fields.limit === 'connections-per-ip').length, 1)
  assert.match(logger.warnings[0]!.msg, /maxConnectionsPerIp/)
  ok[0]!.c.destroy()
  await waitFor('the slot freed', () => tb.broker.connectedCount === 4)
  await sleep(20)
  assert.equal((await tryConnect(tb.port)).result, 0)
})

test('connectionRatePerIp: connections past the rate are closed unanswered; the bucket refills with time', async (t) => {
  const tb = await startBroker({ connectionRatePerIp: 10 }, t)
  // 20 at once: 10 in (one second's worth), and what the bucket gained while they came
  const t0 = performance.now()
  const results = await Promise.all(Array.from({ length: 20 }, () => tryConnect(tb.port)))
  const refill = Math.ceil((performance.now() - t0) / 100)
  const accepted = results.filter((r) => r.result === 0).length
  assert.ok(accepted >= 10 && accepted <= Math.min(17, 10 + refill), `${accepted} of 20 accepted`)
  assert.equal(tb.broker.stats.limits['connection-rate-per-ip'], 20 - accepted)
  await sleep(300) // three tokens back
  assert.equal((await tryConnect(tb.port)).result, 0)
})

test('the default per-address limits (100 new connections a second, 1000 at once) apply to other addresses, not to loopback', async (t) => {
  const tb = await startBroker({}, t)
  const port = await listenAs(tb, '203.0.113.9', t)
  // 150 at once from one remote address: one second's worth (100) is let in, and what the bucket
  // gained while they came
  const t0 = performance.now()
  const remote = await Promise.all(Array.from({ length: 150 }, () => tryConnect(port)))
  const refill = Math.ceil((performance.now() - t0) / 10)
  const accepted = remote.filter((r) => r.result === 0).length
  assert.ok(accepted >= 100 && accepted <= 100 + refill && accepted < 150, `${accepted} of 150 accepted`)
  // the same from loopback: all in
  const local = await Promise.all(Array.from({ length: 130 }, () => tryConnect(tb.port)))
  assert.equal(local.filter((r) => r.result === 0).length, 130)
  for (const r of [...remote, ...local]) r.c.destroy()
  assert.equal(tb.broker.stats.limits['connections-per-ip'], 0)
})

test('IPv6 addresses count by their /64; IPv4-mapped ones as IPv4', () => {
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64')
  assert.equal(addressKey('2001:DB8:1:2:bbbb:cccc:dddd:eeee'), '2001:db8:1:2::/64')
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64')
  assert.equal(addressKey('::ffff:198.51.100.4'), '198.51.100.4')
  assert.equal(addressKey('198.51.100.4'), '198.51.100.4')
  assert.equal(addressKey('::1'), '0:0:0:0::/64')
})

test('maxSubscriptionsPerClient: filters past it get 0x80 (3.1.1) or 0x97 Quota exceeded (MQTT 5); re-subscribing needs no room', async (t) => {
  const logger = recordingLogger()
  const tb = await startBroker({ maxSubscriptionsPerClient: 3, logger }, t)
  const c = await tb.connect()
  assert.deepEqual(
    (
      await c.subscribe([
        { topic: 'a', qos: 1 },
        { topic: 'b', qos: 1 },
      ])
    ).granted,
    [1, 1],
  )
  const ack = await c.subscribe([
    { topic: 'a', qos: 0 }, // held: replaced
    { topic: 'c', qos: 0 },
    { topic: 'd', qos: 0 },
    { topic: 'c', qos: 1 }, // earlier in this packet: replaced
  ])
  assert.deepEqual(ack.granted, [0, 0, SUBACK_FAILURE, 1])
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: c.packetId(), topics: ['b'] })
  await c.next(PacketType.UNSUBACK)
  assert.deepEqual((await c.subscribe('d', 0)).granted, [0])
  const v5 = await tb.connect({ protocolVersion: 5 })
  const codes = (await v5.subscribe(['w', 'x', 'y', 'z'].map((topic) => ({ topic, qos: 0 as const }))))
    .granted
  assert.deepEqual(codes, [0, 0, 0, ReasonCode.QUOTA_EXCEEDED])
  assert.equal(tb.broker.stats.limits['subscriptions-per-client'], 2)
  assert.equal(logger.warnings.length, 2) // once per client
})

test('maxInboundRate slows a publisher without dropping anything or tripping its keep-alive; others are served meanwhile', async (t) => {
  const tb = await startBroker({ maxInboundRate: 200 }, t)
  const sub = await tb.connect()
  await sub.subscribe('rate/t', 0)
  let got = 0
  const counting = sub.until((p) => p.type === PacketType.PUBLISH && ++got === 800, 10_000, '800 messages')
  // keep-alive 1 s, and a PINGREQ every 500 ms as a client sends them: held behind its PUBLISHes, answered in turn
  const pub = await tb.connect({ keepalive: 1 })
  const pinging = setInterval(() => pub.send({ type: PacketType.PINGREQ }), 500)
  t.after(() => clearInterval(pinging))
  const probe = await Probe.start(tb, t)
  const one = encode({
    type: PacketType.PUBLISH,
    topic: 'rate/t',
    payload: Buffer.from('m'),
    qos: 0,
    retain: false,
    dup: false,
    packetId: 0,
  })
  const t0 = performance.now()
  pub.sendRaw(Buffer.concat(Array.from({ length: 800 }, () => one)))
  await counting
  const took = performance.now() - t0
  // 200 at once, then 200 a second: about 3 s
  assert.ok(took > 2500, `800 messages took only ${took.toFixed(0)} ms at 200/s`)
  assert.equal(pub.ended, false)
  await pub.next(PacketType.PINGRESP)
  assert.ok(tb.broker.stats.limits['inbound-rate'] > 0)
  await probe.stop('a throttled publisher')
})

test('maxInboundBytesRate slows a publisher to its bytes per second, losing nothing', async (t) => {
  const tb = await startBroker({ maxInboundBytesRate: 64 * 1024 }, t)
  const sub = await tb.connect()
  await sub.subscribe('bytes/t', 0)
  // keep-alive 1 s and no PINGREQ: while the broker does not read it, it is not blamed for its silence
  const pub = await tb.connect({ keepalive: 1 })
  const t0 = performance.now()
  for (let i = 0; i < 8; i++) pub.publish('bytes/t', Buffer.alloc(32 * 1024, i))
  for (let i = 0; i < 8; i++) assert.equal((await sub.next(PacketType.PUBLISH, 5000)).payload[0], i)
  const took = performance.now() - t0
  // 256 KiB at 64 KiB/s, one second's worth at once and the last chunk read (up to 64 KiB) paid after: 2 s or more
  assert.ok(took > 1500, `256 KiB took only ${took.toFixed(0)} ms at 64 KiB/s`)
  assert.ok(tb.broker.stats.limits['inbound-bytes-rate'] > 0)
  assert.equal(pub.ended, false)
})

test('the limit counters are published under $SYS/broker/limits/', async (t) => {
  const tb = await startBroker({ sysInterval: 1, maxSubscriptionsPerClient: 1 }, t)
  const c = await tb.connect()
  await c.subscribe([
    { topic: 'one', qos: 0 },
    { topic: 'two', qos: 0 },
  ])
  const watcher = await tb.connect()
  await watcher.subscribe('$SYS/broker/limits/#', 0)
  const seen = new Map<string, string>()
  await watcher.until(
    (p) => {
      if (p.type === PacketType.PUBLISH) seen.set(p.topic, p.payload.toString())
      return seen.size >= 9
    },
    3000,
    'the limit counters',
  )
  assert.equal(seen.get('$SYS/broker/limits/subscriptions-per-client/refused'), '1')
  assert.equal(seen.get('$SYS/broker/limits/connections-per-ip/refused'), '0')
  assert.equal(seen.get('$SYS/broker/limits/inbound-rate/throttled'), '0')
  for (const name of ['connections', 'connection-rate-per-ip', 'packet-size', 'keepalive', 'topic-levels'])
    assert.equal(seen.get(`$SYS/broker/limits/${name}/refused`), '0', name)
})

test('a bad limit option is refused with a line naming it', async () => {
  await assert.rejects(startBroker({ maxConnectionsPerIp: -1 }), /maxConnectionsPerIp must be a whole number/)
})
