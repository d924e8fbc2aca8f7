/**
 * ws and wss listeners: MQTT over WebSocket with MQTT.js and a raw `ws` peer, the path,
 * the subprotocol, allowed origins, binary frames only [MQTT-6.0.0-1], packets split across
 * and packed into frames [MQTT-6.0.0-2], the message size limit, per-listener
 * maxConnections, and attaching to an application's http.Server.
 */
import assert from 'node:assert/strict'
import { createServer, request, type Server } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { connect as netConnect, type Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { WebSocketServer } from 'ws'
import { Broker } from '../../../src/broker/broker.js'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { makePki, opensslSkip, type Pki } from '../../helpers/certs.js'
import { connectMqttJs } from '../../helpers/mqttjs.js'
import { LOOPBACK } from '../../helpers/net.js'
import { connectPacket } from '../../helpers/raw-client.js'
import { eventually, upgrade, WsMqtt } from './helpers.js'

const brokers: Broker[] = []
const servers: (Server | HttpsServer)[] = []
function broker(o: ConstructorParameters<typeof Broker>[0] = {}): Broker {
  const b = new Broker({ sysInterval: 0, ...o })
  brokers.push(b)
  return b
}
after(async () => {
  await Promise.all(brokers.map((b) => b.close()))
  for (const s of servers) s.close()
})

/** An open MQTT-over-WebSocket peer, connected (CONNACK 0). */
async function wsConnected(url: string, clientId = `ws-${Math.random()}`): Promise<WsMqtt> {
  const u = await upgrade(url)
  assert.ok(u.ok, 'upgrade accepted')
  const c = new WsMqtt(u.ws)
  c.send(connectPacket({ clientId }))
  const [connack] = await c.waitPackets(1)
  assert.equal(connack?.type, PacketType.CONNACK)
  c.packets.length = 0
  return c
}

describe('ws listener', () => {
  test('MQTT.js over ws:// publishes to a raw WebSocket subscriber; the listener is named with its path', async () => {
    const b = broker()
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    assert.equal(l.name, `ws://${LOOPBACK}:${l.port}/mqtt`)
    const sub = await wsConnected(`ws://${LOOPBACK}:${l.port}/mqtt`)
    sub.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'w/#', qos: 0 }] })
    await sub.waitPackets(1)
    const pub = await connectMqttJs(l.port, { protocol: 'ws', path: '/mqtt' })
    await pub.client.publishAsync('w/1', 'over websocket', { qos: 1 })
    const [, m] = await sub.waitPackets(2)
    assert.equal(m?.type === PacketType.PUBLISH && m.payload.toString(), 'over websocket')
    await pub.end()
    sub.ws.close()
  })

  test('another path is refused with 404; a plain HTTP request on the path gets 426', async () => {
    const b = broker()
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK, path: '/broker' })
    assert.deepEqual(await upgrade(`ws://${LOOPBACK}:${l.port}/mqtt`), { ok: false, status: 404 })
    const ok = await upgrade(`ws://${LOOPBACK}:${l.port}/broker?x=1`)
    assert.ok(ok.ok)
    ok.ws.close()
    const status = await new Promise<number>((resolve, reject) =>
      request({ host: LOOPBACK, port: l.port, path: '/broker' }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
        .on('error', reject)
        .end(),
    )
    assert.equal(status, 426)
    await eventually(() => b.stats.listenerRefused === 1, 1000, 'the refusal counted')
  })

  test("subprotocol: 'mqtt' is chosen when offered [MQTT-6.0.0-4], 'mqttv3.1' for MQTT 3.1 clients, none accepted; offering only others gets 400", async () => {
    const b = broker()
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    const url = `ws://${LOOPBACK}:${l.port}/mqtt`
    for (const [offered, chosen] of [
      [['chat', 'mqtt'], 'mqtt'],
      [['mqttv3.1'], 'mqttv3.1'],
      [[], ''],
    ] as const) {
      const u = await upgrade(url, [...offered])
      assert.ok(u.ok)
      assert.equal(u.protocol, chosen)
      u.ws.close()
    }
    assert.deepEqual(await upgrade(url, ['chat']), { ok: false, status: 400 })
  })

  test('origins: a listed Origin is let in; another, or none, gets 403', async () => {
    const b = broker()
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK, origins: ['https://app.example'] })
    const url = `ws://${LOOPBACK}:${l.port}/mqtt`
    const good = await upgrade(url, ['mqtt'], { origin: 'https://app.example' })
    assert.ok(good.ok)
    good.ws.close()
    assert.deepEqual(await upgrade(url, ['mqtt'], { origin: 'https://evil.example' }), {
      ok: false,
      status: 403,
    })
    assert.deepEqual(await upgrade(url, ['mqtt']), { ok: false, status: 403 })
  })

  test('a text frame closes the connection [MQTT-6.0.0-1]', async () => {
    const b = broker()
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    const c = await wsConnected(`ws://${LOOPBACK}:${l.port}/mqtt`)
    c.ws.send('{"type":"PINGREQ"}')
    assert.equal(await c.whenClosed(), 1003)
    await eventually(() => b.connectedCount === 0, 1000, 'the client gone')
  })

  test('packets split across frames and several packets in one frame are read alike [MQTT-6.0.0-2]', async () => {
    const b = broker()
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    const u = await upgrade(`ws://${LOOPBACK}:${l.port}/mqtt`)
    assert.ok(u.ok)
    const c = new WsMqtt(u.ws)
    const connect = encode(connectPacket({ clientId: 'split' }), 4)
    for (let i = 0; i < connect.length; i++) c.ws.send(connect.subarray(i, i + 1)) // one byte per frame
    const sub = encode(
      { type: PacketType.SUBSCRIBE, packetId: 7, subscriptions: [{ topic: 's', qos: 0 }] },
      4,
    )
    const pub = encode(
      {
        type: PacketType.PUBLISH,
        topic: 's',
        payload: Buffer.from('p'),
        qos: 0,
        retain: false,
        dup: false,
        packetId: 0,
      },
      4,
    )
    const ping = encode({ type: PacketType.PINGREQ }, 4)
    c.ws.send(Buffer.concat([sub, pub, ping])) // three packets in one frame
    const got = await c.waitPackets(4)
    assert.deepEqual(
      got.map((p) => p.type),
      [PacketType.CONNACK, PacketType.SUBACK, PacketType.PUBLISH, PacketType.PINGRESP],
    )
    c.ws.close()
  })

  test('a message larger than maxPacketSize closes the connection (1009)', async () => {
    const b = broker({ maxPacketSize: 1024 })
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    const c = await wsConnected(`ws://${LOOPBACK}:${l.port}/mqtt`)
    c.ws.send(Buffer.alloc(2048))
    assert.equal(await c.whenClosed(), 1009)
  })

  test('before CONNACK a WebSocket message may be no larger than maxConnectSize: closed (1009) from the frame header, not buffered; after it, up to maxPacketSize', async () => {
    const b = broker({ maxConnectSize: 1024, maxPacketSize: 256 * 1024, connectTimeout: 5000 })
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    const u = await upgrade(`ws://${LOOPBACK}:${l.port}/mqtt`)
    assert.ok(u.ok)
    const early = new WsMqtt(u.ws)
    // the first fragment of a message that never ends: a CONNECT announcing 200 KiB
    const first = Buffer.alloc(4096)
    first.set([0x10, 0x80, 0xd0, 0x0c])
    early.ws.send(first, { fin: false })
    assert.equal(await early.whenClosed(1500), 1009)

    const c = await wsConnected(`ws://${LOOPBACK}:${l.port}/mqtt`)
    c.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'big', qos: 0 }] })
    await c.waitPackets(1)
    const payload = Buffer.alloc(200 * 1024, 7)
    c.send({
      type: PacketType.PUBLISH,
      topic: 'big',
      payload,
      qos: 0,
      retain: false,
      dup: false,
      packetId: 0,
    })
    const [, m] = await c.waitPackets(2)
    assert.equal(m?.type === PacketType.PUBLISH && m.payload.length, payload.length)
    c.ws.close()
  })

  test('a connection that never completes its upgrade (silent, or trickling its request) is closed after connectTimeout and counted', async () => {
    const b = broker({ connectTimeout: 300 })
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    const started = Date.now()
    const closedAfter = (onConnect: (s: Socket) => void): Promise<number> =>
      new Promise((resolve, reject) => {
        const s = netConnect({ host: LOOPBACK, port: l.port }, () => onConnect(s))
        s.on('error', () => {})
        s.on('close', () => resolve(Date.now() - started))
        setTimeout(() => {
          s.destroy()
          reject(new Error('not closed within 3 s'))
        }, 3000).unref()
      })
    const times = await Promise.all([
      closedAfter(() => {}),
      closedAfter((s) => s.write('GET /mqtt HTTP/1.1\r\nHost: localhost\r\n')),
    ])
    for (const t of times) assert.ok(t >= 250 && t < 2500, `closed after ${t} ms`)
    await eventually(() => b.stats.listenerRefused === 2, 1000, 'both counted')
    // an upgrade in time is served as before
    const c = await wsConnected(`ws://${LOOPBACK}:${l.port}/mqtt`)
    c.ws.close()
  })

  test('maxConnections per listener: one more upgrade gets 503 and is counted; a freed place is taken again', async () => {
    const b = broker()
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK, maxConnections: 2 })
    const other = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    const url = `ws://${LOOPBACK}:${l.port}/mqtt`
    const a = await wsConnected(url)
    const c = await wsConnected(url)
    assert.deepEqual(await upgrade(url), { ok: false, status: 503 })
    assert.equal(b.stats.listenerRefused, 1)
    const elsewhere = await wsConnected(`ws://${LOOPBACK}:${other.port}/mqtt`) // the limit is this listener's
    a.ws.close()
    await a.whenClosed()
    await eventually(() => b.connectedCount === 2, 1000)
    const d = await wsConnected(url)
    for (const x of [c, d, elsewhere]) x.ws.close()
  })
})

describe('ws back-pressure', () => {
  test('a WebSocket subscriber that stops reading: its QoS 0 is dropped past maxOutputBuffer, it is disconnected after slowConsumerTimeout, the publisher is served throughout', async () => {
    const b = broker({ maxOutputBuffer: 65_536, stuckConsumerWindow: 200, slowConsumerTimeout: 1000 })
    const l = await b.listen({ protocol: 'ws', port: 0, host: LOOPBACK })
    const tcp = await b.listen({ port: 0, host: LOOPBACK })
    const sub = await wsConnected(`ws://${LOOPBACK}:${l.port}/mqtt`)
    sub.send({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'flood', qos: 0 }] })
    await sub.waitPackets(1)
    sub.ws.pause() // reads nothing more: its socket's window fills
    const reasons: string[] = []
    b.on('clientDisconnected', (_c, reason) => reasons.push(reason))
    const pub = await connectMqttJs(tcp.port)
    const payload = Buffer.alloc(1024, 1)
    const started = Date.now()
    for (let round = 0; round < 40 && reasons.length === 0; round++) {
      for (let i = 0; i < 200; i++) pub.client.publish('flood', payload, { qos: 0 })
      await pub.client.publishAsync('ping', 'x', { qos: 1 }) // the publisher is answered every round
      await new Promise((r) => setTimeout(r, 50))
    }
    await eventually(() => reasons.length > 0, 3000, 'the subscriber disconnected')
    assert.match(reasons[0]!, /slow consumer/)
    assert.ok(b.stats.dropped > 0, 'QoS 0 past the budget is dropped, not buffered')
    assert.ok(Date.now() - started < 6000)
    await pub.end()
  })
})

describe('ws attached to an application http.Server', () => {
  test("the app keeps its requests and other upgrade paths; /mqtt upgrades are the broker's", async () => {
    const app = createServer((req, res) => res.end(`app ${req.url}`))
    servers.push(app)
    const appWs = new WebSocketServer({ noServer: true })
    app.on('upgrade', (req, socket, head) => {
      if (req.url === '/chat')
        appWs.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d: Buffer) => ws.send(`app: ${d}`)))
    })
    await new Promise<void>((resolve) => app.listen(0, LOOPBACK, resolve))
    const port = (app.address() as { port: number }).port
    const b = broker()
    const l = await b.listen({ protocol: 'ws', server: app })
    assert.equal(l.port, port)
    assert.equal(l.name, `ws://${LOOPBACK}:${port}/mqtt`)

    const body = await new Promise<string>((resolve, reject) =>
      request({ host: LOOPBACK, port, path: '/hello' }, (res) => {
        let s = ''
        res.on('data', (c: Buffer) => (s += c))
        res.on('end', () => resolve(s))
      })
        .on('error', reject)
        .end(),
    )
    assert.equal(body, 'app /hello')
    const chat = await upgrade(`ws://${LOOPBACK}:${port}/chat`, [])
    assert.ok(chat.ok)
    const hello = new Promise<string>((resolve) =>
      chat.ws.once('message', (d: Buffer) => resolve(d.toString())),
    )
    chat.ws.send('hello')
    assert.equal(await hello, 'app: hello')
    chat.ws.close()

    const c = await wsConnected(`ws://${LOOPBACK}:${port}/mqtt`)
    c.send({ type: PacketType.PINGREQ })
    const [pong] = await c.waitPackets(1)
    assert.equal(pong?.type, PacketType.PINGRESP)
    c.ws.close()

    await l.close() // detaches: the app's server goes on
    const after = await new Promise<number>((resolve, reject) =>
      request({ host: LOOPBACK, port, path: '/still' }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
        .on('error', reject)
        .end(),
    )
    assert.equal(after, 200)
  })

  test('with no upgrade handler of its own, an app server answers other upgrade paths 404; maxConnections holds on it too', async () => {
    const app = createServer((_req, res) => res.end('app'))
    servers.push(app)
    await new Promise<void>((resolve) => app.listen(0, LOOPBACK, resolve))
    const port = (app.address() as { port: number }).port
    await broker().listen({ protocol: 'ws', server: app, maxConnections: 1 })
    assert.deepEqual(await upgrade(`ws://${LOOPBACK}:${port}/elsewhere`), { ok: false, status: 404 })
    const one = await wsConnected(`ws://${LOOPBACK}:${port}/mqtt`)
    assert.deepEqual(
      await upgrade(`ws://${LOOPBACK}:${port}/mqtt`),
      { ok: false, status: 503 },
      'maxConnections',
    )
    one.ws.close()
  })

  test('ws needs an http.Server, wss an https.Server; port, host and TLS settings do not go with server', async () => {
    const b = broker()
    const app = createServer()
    await assert.rejects(
      b.listen({ protocol: 'wss', server: app }),
      /listen: server must be an https.Server for wss/,
    )
    await assert.rejects(
      b.listen({ protocol: 'ws', server: app, port: 1 }),
      /listen: port cannot be given with server/,
    )
    await assert.rejects(b.listen({ protocol: 'ws', origins: [''] }), /listen: origins must be a list/)
    await assert.rejects(b.listen({ protocol: 'ws', path: 'mqtt' }), /listen: path must start with '\/'/)
    await assert.rejects(
      b.listen({ protocol: 'mqtt', path: '/mqtt' }),
      /listen: path applies to ws and wss listeners only/,
    )
  })
})

describe('wss listener', { skip: opensslSkip() }, () => {
  let pki: Pki
  before(async () => {
    pki = await makePki()
  })
  after(() => pki?.remove())

  test('MQTT.js over wss:// to a wss listener and to an attached https.Server', async () => {
    const b = broker()
    const l = await b.listen({
      protocol: 'wss',
      port: 0,
      host: LOOPBACK,
      cert: pki.serverCert,
      key: pki.serverKey,
    })
    assert.equal(l.name, `wss://${LOOPBACK}:${l.port}/mqtt`)
    const sub = await connectMqttJs(l.port, {
      protocol: 'wss',
      path: '/mqtt',
      ca: pki.ca,
      servername: 'localhost',
    })
    await sub.client.subscribeAsync('s/#', { qos: 1 })

    const app = createHttpsServer({ cert: pki.server2Cert, key: pki.server2Key })
    servers.push(app)
    await new Promise<void>((resolve) => app.listen(0, LOOPBACK, resolve))
    const attached = await b.listen({ protocol: 'wss', server: app })
    assert.equal(attached.reload, undefined, "the app's server has its own certificates")
    const pub = await connectMqttJs(attached.port, {
      protocol: 'wss',
      path: '/mqtt',
      ca: pki.ca,
      servername: 'localhost',
    })
    await pub.client.publishAsync('s/1', 'through two wss listeners', { qos: 1 })
    const m = await sub.inbox.next()
    assert.equal(m.payload.toString(), 'through two wss listeners')
    await pub.end()
    await sub.end()
  })

  test('wss with requireCertificate and useIdentityAsUsername: the CN is the user name; no certificate, no upgrade', async () => {
    const users: (string | undefined)[] = []
    const b = broker({
      authenticate: (c) => {
        users.push(c.username)
        return true
      },
    })
    const l = await b.listen({
      protocol: 'wss',
      port: 0,
      host: LOOPBACK,
      cert: pki.serverCert,
      key: pki.serverKey,
      ca: pki.ca,
      requireCertificate: true,
      useIdentityAsUsername: true,
    })
    const url = `wss://localhost:${l.port}/mqtt`
    // no client certificate: refused in the TLS handshake
    await assert.rejects(upgrade(url, ['mqtt'], { ca: pki.ca }))
    const u = await upgrade(url, ['mqtt'], { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey })
    assert.ok(u.ok)
    const ok = new WsMqtt(u.ws)
    ok.send(connectPacket({ username: 'mallory' }))
    const [connack] = await ok.waitPackets(1)
    assert.equal(connack?.type === PacketType.CONNACK && connack.returnCode, 0)
    assert.deepEqual(users, ['alice'])
    ok.ws.close()
  })
})
