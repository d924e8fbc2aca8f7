/**
 * The client against Petrel's own listeners, end to end (Broker.listen, no test servers in
 * between): mqtts:// with client certificates to a requireCertificate listener, wss://,
 * bursts of large messages to a WebSocket subscriber, a WebSocket reader paused by its
 * consumer, and reconnecting once a restarted broker listens again on the same ports.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { WebSocket } from 'ws'
import { Broker } from '../../../src/broker/broker.js'
import type { ListenerInfo } from '../../../src/broker/listen-options.js'
import type { ClientInfo } from '../../../src/broker/options.js'
import {
  type Client,
  type ClientOptions,
  ConnectFailedError,
  connect,
  TransportError,
  TransportErrorCode,
} from '../../../src/index.js'
import type { QoS } from '../../../src/protocol/constants.js'
import { makePki, opensslSkip, type Pki } from '../../helpers/certs.js'
import { LOOPBACK } from '../../helpers/net.js'
import { nextEvent, T, until, within } from './suite.js'

const skip = opensslSkip()

describe("client against Petrel's own mqtts, ws and wss listeners", { skip }, () => {
  let pki: Pki
  let broker: Broker
  const users: string[] = []
  const l = {} as Record<'tcp' | 'tls' | 'mtls' | 'ws' | 'wss', ListenerInfo>
  const clients: Client[] = []

  function tls() {
    return { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca }
  }

  /** A broker with an mqtts and a wss listener (on these ports, or free ones). */
  async function start(ports = { tls: 0, wss: 0 }) {
    const b = new Broker({
      sysInterval: 0,
      authenticate: (client: ClientInfo) => {
        users.push(client.username ?? '')
        return true
      },
    })
    const tlsL = await b.listen({ protocol: 'mqtts', port: ports.tls, host: LOOPBACK, ...tls() })
    const wssL = await b.listen({ protocol: 'wss', port: ports.wss, host: LOOPBACK, ...tls() })
    return { broker: b, tls: tlsL, wss: wssL }
  }

  before(async () => {
    pki = await makePki()
    const first = await start()
    broker = first.broker
    l.tls = first.tls
    l.wss = first.wss
    l.tcp = await broker.listen({ port: 0, host: LOOPBACK })
    l.ws = await broker.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    l.mtls = await broker.listen({
      protocol: 'mqtts',
      port: 0,
      host: LOOPBACK,
      ...tls(),
      requireCertificate: true,
      useIdentityAsUsername: true,
    })
  })

  after(async () => {
    await Promise.all(clients.map((c) => c.end({ force: true }).catch(() => {})))
    await broker?.close()
    await pki?.remove()
  })

  async function open(url: string, options: ClientOptions = {}): Promise<Client> {
    const c = await connect(url, { reconnect: false, connectTimeout: 5000, ...options })
    clients.push(c)
    return c
  }

  async function roundTrip(pub: Client, sub: Client, topic: string): Promise<void> {
    await sub.subscribe(topic, { qos: 1 })
    const got = nextEvent(sub, 'message', 5000)
    await pub.publish(topic, topic, { qos: 1 })
    const [t, p] = await got
    assert.equal(t, topic)
    assert.equal(p.toString(), topic)
  }

  test('mqtts:// with a client certificate: its CN is the user name the hooks see', T, async () => {
    const c = await open(`mqtts://localhost:${l.mtls.port}`, {
      ca: pki.ca,
      cert: pki.clientCert,
      key: pki.clientKey,
      username: 'ignored',
    })
    assert.equal(users.at(-1), 'alice')
    await roundTrip(c, c, 'own/mtls')
  })

  test('mqtts:// to a requireCertificate listener without a certificate: TLS_CLIENT_CERT', T, async () => {
    const err = await open(`mqtts://localhost:${l.mtls.port}`, { ca: pki.ca }).then(
      () => assert.fail('connected without a client certificate'),
      (e: unknown) => e as Error,
    )
    assert.ok(err instanceof ConnectFailedError, String(err))
    let cause: unknown = err.cause
    if (!(cause instanceof TransportError)) cause = (cause as Error).cause
    assert.ok(cause instanceof TransportError, String(err.cause))
    assert.equal(cause.code, TransportErrorCode.TLS_CLIENT_CERT)
  })

  test('wss:// (default path /mqtt) and mqtts://, MQTT 3.1.1 and 5, to a ws:// client', T, async () => {
    const wss = await open(`wss://localhost:${l.wss.port}`, { ca: pki.ca, protocolVersion: 5 })
    const mqtts = await open(`mqtts://localhost:${l.tls.port}`, { ca: pki.ca })
    const ws = await open(`ws://${LOOPBACK}:${l.ws.port}/mqtt`)
    await roundTrip(wss, ws, 'own/wss-ws')
    await roundTrip(ws, mqtts, 'own/ws-mqtts')
    await roundTrip(mqtts, wss, 'own/mqtts-wss')
  })

  test('IPv6: ws://[::1] and wss://[::1], the address checked against the certificate', T, async (t) => {
    let ws6: ListenerInfo
    let wss6: ListenerInfo
    try {
      ws6 = await broker.listen({ protocol: 'ws', port: 0, host: '::1' })
      wss6 = await broker.listen({ protocol: 'wss', port: 0, host: '::1', ...tls() })
    } catch (err) {
      t.skip(`no IPv6 loopback here: ${(err as Error).message}`)
      return
    }
    try {
      const ws = await open(`ws://[::1]:${ws6.port}`)
      // The certificate names IP ::1; credentials in the URL go in CONNECT.
      const wss = await open(`wss://u:p%40ss@[::1]:${wss6.port}/mqtt`, { ca: pki.ca })
      assert.equal(users.at(-1), 'u')
      await roundTrip(ws, wss, 'own/ipv6')
      const err = await open(`wss://[::1]:${wss6.port}`, {
        ca: pki.ca,
        servername: 'elsewhere.example',
      }).then(
        () => assert.fail('connected with a name the certificate does not hold'),
        (e: unknown) => e as Error,
      )
      assert.equal((err.cause as TransportError).code, TransportErrorCode.TLS_NAME, String(err.cause))
    } finally {
      await Promise.all([ws6.close(), wss6.close()])
    }
  })

  // Against Mosquitto 2.0.11's websockets listener such bursts crawl: its libwebsockets sends
  // some 4 KiB per turn of its loop (see docs/decisions.md). Here they must not.
  for (const [count, size, qos] of [
    [100, 8 * 1024, 0],
    [100, 8 * 1024, 1],
    [20, 64 * 1024, 0],
    [20, 64 * 1024, 1],
  ] as const) {
    test(`a ws:// subscriber gets ${count} x ${size / 1024} KiB at QoS ${qos} at once`, T, async () => {
      const sub = await open(`ws://${LOOPBACK}:${l.ws.port}`)
      const pub = await open(`mqtt://${LOOPBACK}:${l.tcp.port}`)
      const topic = `own/burst/${size}/${qos}`
      await sub.subscribe(topic, { qos: qos as QoS })
      const got: number[] = []
      sub.on('message', (_t, p) => got.push(p.readUInt32BE(0)))
      const started = performance.now()
      await Promise.all(
        Array.from({ length: count }, (_, i) => {
          const payload = Buffer.alloc(size, 0x78)
          payload.writeUInt32BE(i, 0)
          return pub.publish(topic, payload, { qos: qos as QoS })
        }),
      )
      await until(() => got.length === count, 8000, `${count} messages`)
      assert.deepEqual(
        got,
        Array.from({ length: count }, (_, i) => i),
      )
      // A stall per message (a read never resumed, acks held back) would take seconds.
      assert.ok(performance.now() - started < 4000, `took ${performance.now() - started} ms`)
    })
  }

  test('a ws:// reader paused by a slow consumer resumes and loses nothing', T, async () => {
    // Counts the client's calls to ws's pause() and resume() (not the broker's: server side).
    const calls = { pause: 0, resume: 0 }
    const { pause, resume } = WebSocket.prototype
    WebSocket.prototype.pause = function (this: WebSocket) {
      if (!isServerSide(this)) calls.pause++
      pause.call(this)
    }
    WebSocket.prototype.resume = function (this: WebSocket) {
      if (!isServerSide(this)) calls.resume++
      resume.call(this)
    }
    try {
      const sub = await open(`ws://${LOOPBACK}:${l.ws.port}`, { maxBufferedMessages: 8 })
      const pub = await open(`mqtt://${LOOPBACK}:${l.tcp.port}`)
      await sub.subscribe('own/paused', { qos: 1 })
      const messages = sub.messages()
      const n = 200
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          pub.publish('own/paused', Buffer.alloc(4096, i % 256), { qos: 1 }),
        ),
      )
      // Nobody reads for a while: the client stops reading the WebSocket after 8 messages.
      await new Promise((r) => setTimeout(r, 200))
      assert.ok(calls.pause > 0, 'the client never paused the WebSocket')
      let i = 0
      const read = (async () => {
        for await (const m of messages) {
          assert.equal(m.payload[0], i % 256, `message ${i}`)
          if (++i === n) break
        }
      })()
      await within(read, 10_000, `${n} messages after the pause`)
      assert.equal(i, n)
      assert.ok(calls.resume > 0, 'the client never resumed the WebSocket')
    } finally {
      WebSocket.prototype.pause = pause
      WebSocket.prototype.resume = resume
    }
  })

  test('reconnects over mqtts:// and wss:// once the restarted broker listens again', T, async () => {
    const b1 = await start()
    const ports = { tls: b1.tls.port, wss: b1.wss.port }
    const opts = { ca: pki.ca, reconnect: { minDelay: 50, maxDelay: 200 }, clean: false }
    const viaTls = await open(`mqtts://localhost:${ports.tls}`, { ...opts, clientId: 'own-re-tls' })
    const viaWss = await open(`wss://localhost:${ports.wss}`, { ...opts, clientId: 'own-re-wss' })
    const lost = [nextEvent(viaTls, 'offline', 5000), nextEvent(viaWss, 'offline', 5000)]
    await b1.broker.close()
    await Promise.all(lost)
    // Nothing listens for a moment: the clients keep trying.
    await new Promise((r) => setTimeout(r, 300))
    const back = [nextEvent(viaTls, 'connect', 10_000), nextEvent(viaWss, 'connect', 10_000)]
    const b2 = await start(ports)
    try {
      await Promise.all(back)
      await roundTrip(viaWss, viaTls, 'own/restart')
    } finally {
      await Promise.all([viaTls.end({ force: true }), viaWss.end({ force: true })])
      await b2.broker.close()
    }
  })
})

/** ws's server-side sockets (the broker's) are created with isServer; the client's are not. */
function isServerSide(ws: WebSocket): boolean {
  return (ws as unknown as { _isServer: boolean })._isServer
}
