/**
 * mqtts listeners: MQTT over TLS with our codec on a node:tls socket and MQTT.js, client
 * certificates (required, verified against the CA, the CN as the user name), the lowest TLS
 * version, certificates replaced while connections stay, and handshakes that fail or never end.
 */
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { ConfigError } from '../../../src/errors.js'
import { PacketType } from '../../../src/protocol/index.js'
import { makePki, opensslSkip, type Pki } from '../../helpers/certs.js'
import { connectMqttJs } from '../../helpers/mqttjs.js'
import { LOOPBACK } from '../../helpers/net.js'
import { eventually, tlsClient, tlsConnects, tlsSocket } from './helpers.js'

describe('mqtts listener', { skip: opensslSkip() }, () => {
  let pki: Pki
  const brokers: Broker[] = []
  const broker = (o: ConstructorParameters<typeof Broker>[0] = {}): Broker => {
    const b = new Broker({ sysInterval: 0, ...o })
    brokers.push(b)
    return b
  }
  const mqtts = (b: Broker, o: Parameters<Broker['listen']>[0] = {}) =>
    b.listen({ protocol: 'mqtts', port: 0, host: LOOPBACK, cert: pki.serverCert, key: pki.serverKey, ...o })

  before(async () => {
    pki = await makePki()
  })
  after(async () => {
    await Promise.all(brokers.map((b) => b.close()))
    await pki?.remove()
  })

  test('serves MQTT over TLS: CONNECT, SUBSCRIBE and PUBLISH on node:tls sockets, and MQTT.js over mqtts://', async () => {
    const b = broker()
    const l = await mqtts(b)
    assert.equal(l.protocol, 'mqtts')
    assert.equal(l.name, `mqtts://${LOOPBACK}:${l.port}`)
    const sub = await tlsClient(l.port, { ca: pki.ca })
    assert.equal((await sub.connect()).returnCode, 0)
    await sub.subscribe('tls/#', 1)
    const pub = await connectMqttJs(l.port, { protocol: 'mqtts', ca: pki.ca, servername: 'localhost' })
    await pub.client.publishAsync('tls/a', 'over tls', { qos: 1 })
    const got = await sub.next(PacketType.PUBLISH)
    assert.equal(got.topic, 'tls/a')
    assert.equal(got.payload.toString(), 'over tls')
    await pub.end()
    sub.destroy()
  })

  test('requireCertificate: no client certificate, or one from another CA, fails the handshake; a CA-signed one gets in', async () => {
    const b = broker()
    const l = await mqtts(b, { ca: pki.ca, requireCertificate: true })
    assert.equal(await tlsConnects(l.port, { ca: pki.ca }), false, 'no client certificate')
    assert.equal(
      await tlsConnects(l.port, { ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey }),
      false,
      'a certificate from an untrusted CA',
    )
    if (pki.expiredCert.length > 0) {
      assert.equal(
        await tlsConnects(l.port, { ca: pki.ca, cert: pki.expiredCert, key: pki.expiredKey }),
        false,
        'an expired certificate',
      )
    }
    assert.equal(await tlsConnects(l.port, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }), true)
    await eventually(() => b.stats.tlsHandshakeFailures >= 2, 2000, 'handshake failures counted')
    await eventually(() => b.connectedCount === 0, 2000, 'the good client gone')
  })

  test("useIdentityAsUsername: the hooks see the certificate's CN, not the CONNECT's user name", async () => {
    const seen: (string | undefined)[] = []
    const b = broker({
      authenticate: (client, username) => {
        seen.push(username, client.username)
        return true
      },
    })
    const l = await mqtts(b, { ca: pki.ca, requireCertificate: true, useIdentityAsUsername: true })
    const c = await tlsClient(l.port, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey })
    assert.equal((await c.connect({ username: 'bob', password: Buffer.from('x') })).returnCode, 0)
    assert.deepEqual(seen, ['alice', 'alice'])
    c.destroy()
  })

  test('useIdentityAsUsername without requireCertificate: a client with no verified certificate is refused, CONNACK 5 (3.1.1) or 0x87 (MQTT 5)', async () => {
    const b = broker()
    const l = await mqtts(b, { ca: pki.ca, useIdentityAsUsername: true })
    const c4 = await tlsClient(l.port, { ca: pki.ca })
    assert.equal((await c4.connect({ username: 'alice' })).returnCode, 5)
    await c4.closed()
    const rogue = await tlsClient(l.port, { ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey })
    assert.equal((await rogue.connect({ protocolVersion: 5, username: 'alice' })).returnCode, 0x87)
    await rogue.closed()
    const ok = await tlsClient(l.port, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey })
    assert.equal((await ok.connect()).returnCode, 0)
    ok.destroy()
  })

  test('minVersion TLSv1.3 refuses a TLS 1.2 client; the default (TLSv1.2) takes it', async () => {
    const b = broker()
    const strict = await mqtts(b, { minVersion: 'TLSv1.3' })
    await assert.rejects(tlsSocket(strict.port, { ca: pki.ca, maxVersion: 'TLSv1.2' }))
    const s13 = await tlsSocket(strict.port, { ca: pki.ca })
    assert.equal(s13.getProtocol(), 'TLSv1.3')
    s13.destroy()
    const lax = await mqtts(b)
    const s12 = await tlsSocket(lax.port, { ca: pki.ca, maxVersion: 'TLSv1.2' })
    assert.equal(s12.getProtocol(), 'TLSv1.2')
    s12.destroy()
    await assert.rejects(tlsSocket(lax.port, { ca: pki.ca, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }))
  })

  test('reload: new connections get the new certificate, connections already open keep working', async () => {
    const b = broker()
    const l = await mqtts(b)
    const old = await tlsClient(l.port, { ca: pki.ca })
    await old.connect()
    await old.subscribe('r/#', 0)
    const first = await tlsSocket(l.port, { ca: pki.ca })
    assert.equal(first.getPeerCertificate().subject.CN, 'localhost')
    first.destroy()

    l.reload!({ cert: pki.server2Cert, key: pki.server2Key })
    const second = await tlsSocket(l.port, { ca: pki.ca })
    assert.equal(second.getPeerCertificate().subject.CN, 'localhost-2')
    second.destroy()

    // a bad pair is refused whole: the listener keeps serving the last good one
    assert.throws(() => l.reload!({ cert: pki.serverCert, key: pki.server2Key }), ConfigError)
    assert.throws(
      () => l.reload!({ cert: Buffer.from('not a certificate'), key: pki.serverKey }),
      /invalid TLS settings/,
    )
    const third = await tlsSocket(l.port, { ca: pki.ca })
    assert.equal(third.getPeerCertificate().subject.CN, 'localhost-2')
    third.destroy()

    b.publish({ topic: 'r/1', payload: 'still here' })
    const m = await old.next(PacketType.PUBLISH)
    assert.equal(m.payload.toString(), 'still here')
    old.destroy()
  })

  test('a TLS handshake that never completes is closed after connectTimeout and counted', async () => {
    const b = broker({ connectTimeout: 300 })
    const l = await mqtts(b)
    const started = Date.now()
    const closed = await new Promise<number>((resolve, reject) => {
      const s = netConnect({ host: LOOPBACK, port: l.port })
      s.on('error', () => {})
      s.on('connect', () => s.write(Buffer.from([0x16, 0x03, 0x01]))) // the start of a ClientHello, then silence
      s.on('close', () => resolve(Date.now() - started))
      setTimeout(() => reject(new Error('not closed within 3 s')), 3000).unref()
    })
    assert.ok(closed >= 250 && closed < 2500, `closed after ${closed} ms`)
    await eventually(() => b.stats.tlsHandshakeFailures === 1, 1000, 'the failure counted')
  })

  test('garbage instead of a ClientHello is closed at once and the broker goes on serving', async () => {
    const b = broker()
    const l = await mqtts(b)
    await new Promise<void>((resolve) => {
      const s = netConnect({ host: LOOPBACK, port: l.port })
      s.on('error', () => {})
      s.on('connect', () => s.write(Buffer.from('GET / HTTP/1.1\r\n\r\n')))
      s.on('close', () => resolve())
    })
    assert.equal(await tlsConnects(l.port, { ca: pki.ca }), true)
    assert.equal(b.stats.tlsHandshakeFailures, 1)
  })

  test('mqtts without a certificate or key, or with a bad one, is refused with one clear ConfigError', async () => {
    const b = broker()
    await assert.rejects(b.listen({ protocol: 'mqtts', port: 0 }), /listen: cert is required for mqtts/)
    await assert.rejects(
      b.listen({ protocol: 'mqtts', port: 0, cert: pki.serverCert }),
      /listen: key is required for mqtts/,
    )
    await assert.rejects(
      b.listen({ protocol: 'mqtts', port: 0, cert: pki.serverCert, key: pki.server2Key }),
      /invalid TLS settings: .*key values mismatch/,
    )
    await assert.rejects(
      b.listen({
        protocol: 'mqtts',
        port: 0,
        cert: pki.serverCert,
        key: pki.serverKey,
        useIdentityAsUsername: true,
      }),
      /listen: useIdentityAsUsername needs ca/,
    )
    await assert.rejects(
      b.listen({ protocol: 'mqtt', port: 0, cert: pki.serverCert }),
      /listen: cert applies to mqtts and wss listeners only, not mqtt/,
    )
    await assert.rejects(
      b.listen({
        protocol: 'mqtts',
        port: 0,
        cert: pki.serverCert,
        key: pki.serverKey,
        minVersion: 'TLSv1' as 'TLSv1.2',
      }),
      /minVersion must be one of TLSv1.2, TLSv1.3/,
    )
  })
})
