/**
 * The client over TLS (mqtts://) and WebSocket (ws://, wss://): against TLS and
 * WebSocket servers made in the test that hand each stream to a Petrel broker.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { WebSocketServer } from 'ws'
import { Broker } from '../../../src/broker/broker.js'
import {
  type Client,
  type ClientOptions,
  ConfigError,
  ConnectFailedError,
  ConnectTimeoutError,
  connect,
  TransportError,
  TransportErrorCode,
  tlsTransport,
  wsTransport,
} from '../../../src/index.js'
import { makePki, opensslSkip, type Pki } from '../../helpers/certs.js'
import { LOOPBACK } from '../../helpers/net.js'
import {
  silentServer,
  type TestServer,
  tlsBrokerServer,
  wsBrokerServer,
} from '../../helpers/secure-servers.js'
import { nextEvent, T, until, within } from './suite.js'

const skip = opensslSkip()

/**
 * The TransportError behind a failed connect: its cause, or (when a TLS 1.3 server refused
 * the client certificate just after the handshake) the cause of the lost connection.
 */
function transportCause(err: Error): TransportError | undefined {
  let e: unknown = err
  for (let i = 0; i < 4 && e instanceof Error; i++, e = e.cause) {
    if (e instanceof TransportError) return e
  }
  return undefined
}

describe('client over TLS and WebSocket', { skip }, () => {
  let pki: Pki
  let broker: Broker
  /** TLS; asks for a client certificate but lets clients without one in. */
  let tlsServer: TestServer
  /** TLS; refuses clients without a certificate from the CA. */
  let mtlsServer: TestServer
  let wsServer: TestServer
  let wsCustomPath: TestServer
  let wssServer: TestServer
  const clients: Client[] = []

  before(async () => {
    pki = await makePki()
    broker = new Broker({ sysInterval: 0 })
    const tls = { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca }
    tlsServer = await tlsBrokerServer(broker, { ...tls, requestCert: true, rejectUnauthorized: false })
    mtlsServer = await tlsBrokerServer(broker, { ...tls, requestCert: true, rejectUnauthorized: true })
    wsServer = await wsBrokerServer(broker)
    wsCustomPath = await wsBrokerServer(broker, { path: '/brokers/petrel' })
    wssServer = await wsBrokerServer(broker, { tls })
  })

  after(async () => {
    await Promise.all(clients.map((c) => c.end({ force: true }).catch(() => {})))
    for (const s of [tlsServer, mtlsServer, wsServer, wsCustomPath, wssServer]) await s?.close()
    await broker?.close()
    await pki?.remove()
  })

  async function open(url: string, options: ClientOptions = {}): Promise<Client> {
    const c = await connect(url, { reconnect: false, connectTimeout: 5000, ...options })
    clients.push(c)
    return c
  }

  /** Subscribes `sub` and checks that a message published by `pub` arrives. */
  async function roundTrip(pub: Client, sub: Client, topic: string, payload: Buffer | string): Promise<void> {
    await sub.subscribe(topic, { qos: 1 })
    const got = nextEvent(sub, 'message', 5000)
    await pub.publish(topic, payload, { qos: 1 })
    const [t, p] = await got
    assert.equal(t, topic)
    assert.deepEqual(p, Buffer.from(payload))
  }

  async function refused(p: Promise<Client>): Promise<Error> {
    const err = await p.then(
      (c) => {
        clients.push(c)
        assert.fail('connected, but should have been refused')
      },
      (e: unknown) => e as Error,
    )
    assert.ok(err instanceof ConnectFailedError, String(err))
    return err.cause as Error
  }

  describe('mqtts://', () => {
    test('connects with the CA given as ca and carries messages both ways', T, async () => {
      const c = await open(`mqtts://localhost:${tlsServer.port}`, { ca: pki.ca })
      await roundTrip(c, c, 'tls/echo', 'over TLS')
      assert.equal(tlsServer.seen.at(-1)?.servername, 'localhost')
    })

    test('ssl:// and tls:// are mqtts:// too', T, async () => {
      for (const scheme of ['ssl', 'tls']) {
        const c = await open(`${scheme}://localhost:${tlsServer.port}`, { ca: pki.ca })
        await roundTrip(c, c, `tls/${scheme}`, scheme)
      }
    })

    test('refuses a server whose certificate is from an unknown CA, saying so', T, async () => {
      // Node's default CA list does not hold the test CA.
      const cause = await refused(open(`mqtts://localhost:${tlsServer.port}`))
      assert.ok(cause instanceof TransportError, String(cause))
      assert.equal(cause.code, TransportErrorCode.TLS_UNTRUSTED)
      assert.match(cause.message, /certificate is not trusted .*give the CA that signed it as ca/)
      const rogue = await refused(open(`mqtts://localhost:${tlsServer.port}`, { ca: pki.rogueCa }))
      assert.equal((rogue as TransportError).code, TransportErrorCode.TLS_UNTRUSTED)
    })

    test('rejectUnauthorized: false accepts any certificate', T, async () => {
      const c = await open(`mqtts://localhost:${tlsServer.port}`, { rejectUnauthorized: false })
      await roundTrip(c, c, 'tls/unverified', 'x')
    })

    test('by IP address: no SNI is sent and the IP in the certificate is checked', T, async () => {
      const c = await open(`mqtts://${LOOPBACK}:${tlsServer.port}`, { ca: pki.ca })
      await roundTrip(c, c, 'tls/ip', 'ip')
      assert.equal(tlsServer.seen.at(-1)?.servername, false)
    })

    test('servername sets SNI and the name checked against the certificate', T, async () => {
      const c = await open(`mqtts://${LOOPBACK}:${tlsServer.port}`, { ca: pki.ca, servername: 'localhost' })
      await c.publish('tls/sni', 'x')
      assert.equal(tlsServer.seen.at(-1)?.servername, 'localhost')
      const wrong = await refused(
        open(`mqtts://${LOOPBACK}:${tlsServer.port}`, { ca: pki.ca, servername: 'broker.example' }),
      )
      assert.equal((wrong as TransportError).code, TransportErrorCode.TLS_NAME)
      assert.match(wrong.message, /certificate is for another name/)
      // Skipping only the name check (mosquitto's --insecure) still verifies the chain.
      const named = await open(`mqtts://${LOOPBACK}:${tlsServer.port}`, {
        ca: pki.ca,
        servername: 'broker.example',
        checkServerIdentity: () => undefined,
      })
      await named.publish('tls/any-name', 'x')
      const chain = await refused(
        open(`mqtts://${LOOPBACK}:${tlsServer.port}`, { checkServerIdentity: () => undefined }),
      )
      assert.equal((chain as TransportError).code, TransportErrorCode.TLS_UNTRUSTED)
    })

    test('presents a client certificate to a server that requires one', T, async () => {
      const c = await open(`mqtts://localhost:${mtlsServer.port}`, {
        ca: pki.ca,
        cert: pki.clientCert,
        key: pki.clientKey,
      })
      await roundTrip(c, c, 'tls/mutual', 'alice')
      assert.equal(mtlsServer.seen.at(-1)?.clientCn, 'alice')
    })

    test('a server that requires a client certificate refuses a client without one', T, async () => {
      const err = await open(`mqtts://localhost:${mtlsServer.port}`, { ca: pki.ca }).then(
        () => assert.fail('connected without a client certificate'),
        (e: unknown) => e as Error,
      )
      assert.ok(err instanceof ConnectFailedError, String(err))
      const cause = transportCause(err)
      assert.equal(cause?.code, TransportErrorCode.TLS_CLIENT_CERT, String(err.cause))
      assert.match(cause.message, /the server refused the TLS client certificate/)
      const rogue = await open(`mqtts://localhost:${mtlsServer.port}`, {
        ca: pki.ca,
        cert: pki.rogueCert,
        key: pki.rogueKey,
      }).then(
        () => assert.fail('connected with a certificate from an unknown CA'),
        (e: unknown) => e as Error,
      )
      // node:tls servers judge the chain after the TLS 1.3 handshake and close without an
      // alert: all the client can tell is that the connection closed before CONNACK.
      assert.ok(rogue instanceof ConnectFailedError, String(rogue))
    })

    test('a server that answers in plain text is a TLS handshake failure that says so', T, async () => {
      const plain = createServer((s) => s.resume().end('HTTP/1.1 400 Bad Request\r\n\r\n'))
      await new Promise<void>((resolve) => plain.listen(0, LOOPBACK, resolve))
      try {
        const port = (plain.address() as { port: number }).port
        const cause = await refused(open(`mqtts://localhost:${port}`, { ca: pki.ca }))
        assert.equal((cause as TransportError).code, TransportErrorCode.TLS_HANDSHAKE)
        assert.match(cause.message, /^TLS handshake failed: the server does not speak TLS on this port/)
      } finally {
        await new Promise((resolve) => plain.close(resolve))
      }
    })

    test(
      'a port that hangs up on the TLS handshake (plain MQTT) is a TLS handshake failure that says so',
      T,
      async () => {
        const mqtt = await broker.listen({ port: 0 })
        try {
          for (const scheme of ['mqtts', 'wss']) {
            const cause = await refused(open(`${scheme}://localhost:${mqtt.port}`, { ca: pki.ca }))
            assert.equal((cause as TransportError).code, TransportErrorCode.TLS_HANDSHAKE, String(cause))
            assert.match(
              cause.message,
              /^TLS handshake failed: the server closed the connection during it \(.+\); check that this port takes TLS$/,
            )
          }
        } finally {
          await mqtt.close()
        }
      },
    )

    test('reconnects over TLS after the connection is cut', T, async () => {
      const c = await open(`mqtts://localhost:${tlsServer.port}`, {
        ca: pki.ca,
        clientId: 'tls-reconnect',
        reconnect: { minDelay: 20, maxDelay: 100 },
      })
      await c.subscribe('tls/again', { qos: 1 })
      const before = tlsServer.seen.length
      const back = nextEvent(c, 'connect', 5000)
      for (const s of tlsServer.sockets) s.destroy()
      await back
      assert.ok(tlsServer.seen.length > before, 'a new TLS connection')
      const got = nextEvent(c, 'message', 5000)
      await c.publish('tls/again', 'after the cut', { qos: 1 })
      assert.equal((await got)[1].toString(), 'after the cut')
    })
  })

  describe('ws:// and wss://', () => {
    test('ws:// without a path uses /mqtt and offers the subprotocol mqtt [MQTT-6.0.0-3]', T, async () => {
      const c = await open(`ws://${LOOPBACK}:${wsServer.port}`)
      await roundTrip(c, c, 'ws/echo', 'over WebSocket')
      const seen = wsServer.seen.at(-1)!
      assert.equal(seen.path, '/mqtt')
      assert.deepEqual(seen.protocols, ['mqtt'])
    })

    test('ws:// with a path connects to that path', T, async () => {
      const c = await open(`ws://localhost:${wsCustomPath.port}/brokers/petrel`)
      await c.publish('ws/path', 'x')
      assert.equal(wsCustomPath.seen.at(-1)?.path, '/brokers/petrel')
      const viaOption = await open(`ws://localhost:${wsCustomPath.port}`, { wsPath: '/brokers/petrel' })
      await viaOption.publish('ws/path', 'y')
    })

    test('a query string reaches the server; messages show its names, never its values', T, async () => {
      const c = await open(`ws://${LOOPBACK}:${wsServer.port}/mqtt?token=s3cret&v=2`)
      await c.publish('ws/query', 'x')
      assert.equal(wsServer.seen.at(-1)?.path, '/mqtt?token=s3cret&v=2')
      const cause = await refused(open(`ws://${LOOPBACK}:${wsCustomPath.port}/nothing-here?token=s3cret`))
      assert.equal((cause as TransportError).code, TransportErrorCode.WS_HANDSHAKE)
      assert.match(
        cause.message,
        /upgrade of ws:\/\/127\.0\.0\.1:\d+\/nothing-here\?token=\*\*\* with HTTP 400/,
      )
      assert.doesNotMatch(String(cause.message), /s3cret/)
    })

    test('a wrong path is a failed WebSocket handshake that names the HTTP status', T, async () => {
      const cause = await refused(open(`ws://${LOOPBACK}:${wsCustomPath.port}/nothing-here`))
      assert.ok(cause instanceof TransportError, String(cause))
      assert.equal(cause.code, TransportErrorCode.WS_HANDSHAKE)
      assert.match(cause.message, /HTTP 400/)
    })

    test('wss:// with ca, and an unknown CA refused', T, async () => {
      const c = await open(`wss://localhost:${wssServer.port}/mqtt`, { ca: pki.ca })
      await roundTrip(c, c, 'wss/echo', 'over secure WebSocket')
      assert.equal(wssServer.seen.at(-1)?.servername, 'localhost')
      assert.deepEqual(wssServer.seen.at(-1)?.protocols, ['mqtt'])
      const cause = await refused(open(`wss://localhost:${wssServer.port}/mqtt`))
      assert.equal((cause as TransportError).code, TransportErrorCode.TLS_UNTRUSTED)
    })

    test('mixes transports: a ws:// subscriber gets what an mqtts:// client publishes', T, async () => {
      const sub = await open(`ws://${LOOPBACK}:${wsServer.port}`)
      const pub = await open(`mqtts://localhost:${tlsServer.port}`, { ca: pki.ca })
      await roundTrip(pub, sub, 'mixed/a', 'from TLS to WebSocket')
    })

    test('carries a 1 MiB message and 2000 QoS 0 messages (write backpressure and drain)', T, async () => {
      const sub = await open(`ws://${LOOPBACK}:${wsServer.port}`)
      const pub = await open(`wss://localhost:${wssServer.port}`, { ca: pki.ca })
      const big = Buffer.alloc(1024 * 1024, 7)
      await roundTrip(pub, sub, 'ws/big', big)
      await sub.subscribe('ws/many', { qos: 0 })
      let n = 0
      sub.on('message', (t) => {
        if (t === 'ws/many') n++
      })
      const payload = Buffer.alloc(1000, 1)
      await Promise.all(Array.from({ length: 2000 }, () => pub.publish('ws/many', payload)))
      await until(() => n === 2000, 10_000, `2000 messages (got ${n})`)
    })

    test('reconnects over WebSocket after the connection is cut', T, async () => {
      const c = await open(`ws://${LOOPBACK}:${wsServer.port}`, {
        clientId: 'ws-reconnect',
        reconnect: { minDelay: 20, maxDelay: 100 },
      })
      const before = wsServer.seen.length
      const back = nextEvent(c, 'connect', 5000)
      for (const s of wsServer.sockets) s.destroy()
      await back
      assert.ok(wsServer.seen.length > before)
      await roundTrip(c, c, 'ws/again', 'after the cut')
    })

    test(
      'a port that drops the HTTP upgrade (plain MQTT, or TLS) is a WebSocket handshake failure that says so',
      T,
      async () => {
        const mqtt = await broker.listen({ port: 0 })
        try {
          for (const port of [mqtt.port, tlsServer.port, wssServer.port]) {
            const cause = await refused(open(`ws://localhost:${port}`))
            assert.equal((cause as TransportError).code, TransportErrorCode.WS_HANDSHAKE, String(cause))
            assert.match(
              cause.message,
              /^the server closed the connection instead of upgrading ws:\/\/localhost:\d+\/mqtt to WebSocket \(socket hang up\); check that this port is a WebSocket listener \(wss:\/\/ if it takes TLS\)$/,
            )
          }
        } finally {
          await mqtt.close()
        }
      },
    )

    test('a server that picks no subprotocol is refused', T, async () => {
      const none = await wsBrokerServer(broker, { protocol: false })
      try {
        const cause = await refused(open(`ws://${LOOPBACK}:${none.port}`))
        assert.equal((cause as TransportError).code, TransportErrorCode.WS_HANDSHAKE)
        assert.match(cause.message, /subprotocol 'mqtt'/)
      } finally {
        await none.close()
      }
    })

    test('a text frame from the server closes the connection [MQTT-6.0.0-1]', T, async () => {
      const wss = new WebSocketServer({ port: 0, host: LOOPBACK, handleProtocols: () => 'mqtt' })
      await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
      const port = (wss.address() as { port: number }).port
      const closed = new Promise<number>((resolve) => {
        wss.on('connection', (ws) => {
          ws.on('close', (code) => resolve(code))
          ws.send('not binary')
        })
      })
      try {
        const cause = await refused(open(`ws://${LOOPBACK}:${port}`))
        assert.equal((cause as TransportError).code, TransportErrorCode.WS_CLOSED)
        assert.equal(await within(closed, 5000, 'the close'), 1003)
      } finally {
        for (const c of wss.clients) c.terminate()
        await new Promise((resolve) => wss.close(resolve))
      }
    })
  })

  describe('opening is aborted', () => {
    let silent: TestServer
    before(async () => {
      silent = await silentServer()
    })
    after(() => silent?.close())

    for (const scheme of ['mqtts', 'ws', 'wss'] as const) {
      test(`${scheme}://: a handshake that never ends times out and the socket is closed`, T, async () => {
        const err = await connect(`${scheme}://localhost:${silent.port}`, {
          reconnect: false,
          connectTimeout: 300,
          ca: scheme === 'ws' ? undefined : pki.ca,
        } as ClientOptions).then(
          () => assert.fail('connected to a silent server'),
          (e: unknown) => e as Error,
        )
        assert.ok(err instanceof ConnectTimeoutError, String(err))
        await until(() => silent.sockets.size === 0, 5000, 'the client to close its socket')
      })

      test(`${scheme}://: the transport's open rejects with the abort reason`, T, async () => {
        const transport =
          scheme === 'mqtts'
            ? tlsTransport({ host: 'localhost', port: silent.port, ca: pki.ca })
            : wsTransport({ url: `${scheme}://localhost:${silent.port}/mqtt`, ca: pki.ca })
        const ac = new AbortController()
        const noop = { data() {}, drain() {}, close() {} }
        const opening = transport.open(noop, ac.signal)
        await until(() => silent.sockets.size > 0, 5000, 'the TCP connection')
        const reason = new Error('stop')
        ac.abort(reason)
        await assert.rejects(opening, (e) => e === reason)
        await until(() => silent.sockets.size === 0, 5000, 'the socket to close')
        const already = transport.open(noop, AbortSignal.abort(reason))
        await assert.rejects(already, (e) => e === reason)
      })
    }
  })

  describe('options', () => {
    const bad: [string, string, ClientOptions, RegExp][] = [
      [
        'ca with mqtt://',
        'mqtt://localhost',
        { ca: 'x' },
        /TLS options, but mqtt:\/\/ does not use TLS; write mqtts:\/\//,
      ],
      ['ca with ws://', 'ws://localhost', { ca: 'x' }, /write wss:\/\//],
      ['cert without key', 'mqtts://localhost', { cert: 'x' }, /cert needs key/],
      ['key without cert', 'mqtts://localhost', { key: 'x' }, /key needs cert/],
      [
        'a CA that is not PEM',
        'mqtts://localhost',
        { ca: 'not a certificate' },
        /ca holds no PEM certificate/,
      ],
      [
        'a cert that is not PEM',
        'mqtts://localhost',
        { cert: 'key', key: 'key' },
        /^cert holds no PEM certificate: no -----BEGIN CERTIFICATE----- line$/,
      ],
      [
        'minVersion above maxVersion',
        'mqtts://localhost',
        { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.2' },
        /^minVersion TLSv1\.3 is above maxVersion TLSv1\.2: no TLS version is left to offer$/,
      ],
      [
        'port 0',
        'mqtts://localhost:0',
        {},
        /^port 0 in mqtts:\/\/localhost:0: give the broker's port, or none for 8883$/,
      ],
      [
        'wsPath with mqtts://',
        'mqtts://localhost',
        { wsPath: '/x' },
        /WebSocket options, but the URL is mqtts:/,
      ],
      ['a wsPath without /', 'ws://localhost', { wsPath: 'mqtt' }, /wsPath must start with '\/'/],
      [
        'an unknown TLS version',
        'mqtts://localhost',
        { minVersion: 'TLSv9' as never },
        /minVersion must be one of/,
      ],
      [
        'a transport and TLS options',
        'mqtt://localhost',
        { transport: wsTransport({ url: 'ws://x' }), ca: 'x' },
        /pass them to tlsTransport\(\) or wsTransport\(\)/,
      ],
    ]
    for (const [what, url, options, message] of bad) {
      test(`refuses ${what} with a ConfigError`, async () => {
        await assert.rejects(
          connect(url, options),
          (e) => e instanceof ConfigError && message.test(e.message),
        )
      })
    }

    test('an unsupported scheme lists the supported ones', async () => {
      await assert.rejects(
        connect('http://localhost'),
        /unsupported scheme http:\/\/ .*use mqtt:\/\/, tcp:\/\/, mqtts:\/\/, ssl:\/\/, tls:\/\/, ws:\/\/, wss:\/\//,
      )
    })

    test('a private key given as the certificate says so', async () => {
      await assert.rejects(
        connect('mqtts://localhost', { cert: pki.clientKey, key: pki.clientKey }),
        (e) =>
          e instanceof ConfigError &&
          e.message ===
            'cert holds no PEM certificate (it holds a private key): no -----BEGIN CERTIFICATE----- line',
      )
    })

    test("a key that is not the certificate's is refused before connecting", async () => {
      await assert.rejects(
        connect('mqtts://localhost', { cert: pki.clientCert, key: pki.rogueKey }),
        /key is not the private key of cert/,
      )
    })
  })
})
