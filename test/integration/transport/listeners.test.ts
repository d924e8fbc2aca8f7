/**
 * Several listeners on one broker: one session reached over mqtt, mqtts, ws and wss alike,
 * maxConnections per listener (Mosquitto's max_connections: the socket is closed at once),
 * and the default `listen()` still a plain TCP listener on 127.0.0.1.
 */
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { sysValues } from '../../../src/broker/sys.js'
import { PacketType } from '../../../src/protocol/index.js'
import { makePki, opensslSkip, type Pki } from '../../helpers/certs.js'
import { connectMqttJs } from '../../helpers/mqttjs.js'
import { freePort, LOOPBACK } from '../../helpers/net.js'
import { RawClient } from '../../helpers/raw-client.js'
import { eventually, tlsClient } from './helpers.js'

const brokers: Broker[] = []
after(() => Promise.all(brokers.map((b) => b.close())))
function broker(o: ConstructorParameters<typeof Broker>[0] = {}): Broker {
  const b = new Broker({ sysInterval: 0, ...o })
  brokers.push(b)
  return b
}

function tcpClient(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: LOOPBACK, port })
    s.once('connect', () => resolve(RawClient.wrap(s)))
    s.once('error', reject)
  })
}

describe('several listeners', () => {
  test('listen() with no protocol is plain MQTT over TCP on 127.0.0.1', async () => {
    const l = await broker().listen({ port: 0 })
    assert.equal(l.protocol, 'mqtt')
    assert.equal(l.host, LOOPBACK)
    assert.equal(l.name, `mqtt://${LOOPBACK}:${l.port}`)
    assert.equal(l.reload, undefined)
  })

  test('maxConnections per listener: one more socket is closed at once and counted; other listeners are not limited by it', async () => {
    const b = broker()
    const limited = await b.listen({ port: 0, host: LOOPBACK, maxConnections: 2 })
    const free = await b.listen({ port: 0, host: LOOPBACK })
    const a = await tcpClient(limited.port)
    const c = await tcpClient(limited.port)
    assert.equal((await a.connect()).returnCode, 0)
    assert.equal((await c.connect()).returnCode, 0)
    const third = await tcpClient(limited.port)
    await third.closed(1000, false)
    assert.equal(b.stats.listenerRefused, 1)
    assert.deepEqual(
      sysValues(b).find(([t]) => t === '$SYS/broker/listeners/refused'),
      ['$SYS/broker/listeners/refused', '1'],
    )
    const elsewhere = await tcpClient(free.port)
    assert.equal((await elsewhere.connect()).returnCode, 0)
    a.destroy()
    await eventually(() => b.connectedCount === 2, 1000)
    const again = await tcpClient(limited.port)
    assert.equal((await again.connect()).returnCode, 0)
    for (const x of [c, elsewhere, again]) x.destroy()
  })

  describe('with TLS', { skip: opensslSkip() }, () => {
    let pki: Pki
    before(async () => {
      pki = await makePki()
    })
    after(() => pki?.remove())

    test('one persistent session, reached over mqtt, then mqtts, ws and wss: its queued messages follow it', async () => {
      const b = broker()
      const tls = { cert: pki.serverCert, key: pki.serverKey }
      const [tcp, mqtts, ws, wss] = await Promise.all([
        b.listen({ protocol: 'mqtt', port: 0, host: LOOPBACK }),
        b.listen({ protocol: 'mqtts', port: 0, host: LOOPBACK, ...tls }),
        b.listen({ protocol: 'ws', port: 0, host: LOOPBACK }),
        b.listen({ protocol: 'wss', port: 0, host: LOOPBACK, ...tls }),
      ])
      const id = 'roaming'
      const first = await tcpClient(tcp!.port)
      await first.connect({ clientId: id, clean: false })
      await first.subscribe('roam/#', 1)
      await first.disconnect()

      b.publish({ topic: 'roam/1', payload: 'while away 1', qos: 1 })
      const second = await tlsClient(mqtts!.port, { ca: pki.ca })
      const connack = await second.connect({ clientId: id, clean: false })
      assert.equal(connack.sessionPresent, true, 'the session made over TCP [MQTT-3.2.2-2]')
      const m1 = await second.next(PacketType.PUBLISH)
      assert.equal(m1.payload.toString(), 'while away 1')
      second.send({ type: PacketType.PUBACK, packetId: m1.packetId })
      await second.disconnect()

      for (const [protocol, port, extra] of [
        ['ws', ws!.port, {}],
        ['wss', wss!.port, { ca: pki.ca, servername: 'localhost' }],
      ] as const) {
        b.publish({ topic: 'roam/2', payload: `to ${protocol}`, qos: 1 })
        const c = await connectMqttJs(port, { protocol, path: '/mqtt', clientId: id, clean: false, ...extra })
        assert.equal(c.connack.sessionPresent, true)
        const m = await c.inbox.next()
        assert.equal(m.payload.toString(), `to ${protocol}`)
        await c.end()
      }
    })

    test('closing the broker does not wait for TLS handshakes or HTTP upgrades under way: they are closed with it', async () => {
      const b = new Broker({ sysInterval: 0 }) // connectTimeout 10 s: far longer than this test waits
      const tls = await b.listen({
        protocol: 'mqtts',
        port: 0,
        host: LOOPBACK,
        cert: pki.serverCert,
        key: pki.serverKey,
      })
      const ws = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
      const half = (port: number, bytes: string) =>
        new Promise<{ closed: Promise<void> }>((resolve) => {
          const s = netConnect({ host: LOOPBACK, port })
          s.on('error', () => {})
          const closed = new Promise<void>((done) => s.once('close', () => done()))
          s.once('connect', () => {
            s.write(bytes)
            resolve({ closed }) // (not the promise itself: resolve would wait for it)
          })
        })
      const closed = [await half(tls.port, '\x16\x03\x01'), await half(ws.port, 'GET /mqtt HTTP/1.1\r\n')]
      await new Promise((r) => setTimeout(r, 50))
      const started = Date.now()
      await b.close()
      await Promise.all(closed.map((c) => c.closed))
      assert.ok(Date.now() - started < 1000, `closed in ${Date.now() - started} ms`)
    })
  })
})

test('listen() and close() racing: the listener opened meanwhile is closed, not left holding its port; listen() after close() rejects', async () => {
  const refused = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = netConnect({ host: LOOPBACK, port })
      s.on('connect', () => {
        s.destroy()
        resolve(false)
      })
      s.on('error', () => resolve(true))
    })
  for (const protocol of ['mqtt', 'ws'] as const) {
    const b = new Broker({ sysInterval: 0 })
    const port = await freePort()
    const opening = b.listen({ protocol, port, host: LOOPBACK })
    const closing = b.close()
    await assert.rejects(opening, /listen: the broker is closed/)
    await closing
    assert.equal(await refused(port), true, `${protocol}: nothing listens on ${port}`)
    await assert.rejects(b.listen({ protocol, port, host: LOOPBACK }), /listen: the broker is closed/)
    assert.equal(await refused(port), true)
  }
})
