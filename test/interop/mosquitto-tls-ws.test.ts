/**
 * Petrel's client and `petrel pub` against a real Mosquitto (Debian's 2.0) over TLS,
 * TLS with client certificates, WebSocket and secure WebSocket listeners.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  type Client,
  type ClientOptions,
  ConnectFailedError,
  connect,
  TransportError,
  TransportErrorCode,
} from '../../src/index.js'
import { petrel } from '../cli/petrel-cli.js'
import { makePki, opensslSkip, type Pki } from '../helpers/certs.js'
import { type MosquittoBroker, mosquittoSkip, startMosquitto } from '../helpers/mosquitto.js'
import { freePort, LOOPBACK, waitForPort } from '../helpers/net.js'

const skip = mosquittoSkip() || opensslSkip()
const T = { timeout: 30_000 }

describe('Petrel client against Mosquitto over TLS and WebSocket', { skip }, () => {
  let pki: Pki
  let m: MosquittoBroker
  const ports = { tls: 0, mtls: 0, ws: 0, wss: 0 }
  const clients: Client[] = []

  before(async () => {
    pki = await makePki()
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort()
    const f = pki.files
    const certs = [`cafile ${f.ca}`, `certfile ${f.serverCert}`, `keyfile ${f.serverKey}`]
    m = await startMosquitto({
      config: [
        // Run as root (CI), Mosquitto drops to user mosquitto, who cannot read the test keys.
        'user root',
        `listener ${ports.tls} ${LOOPBACK}`,
        ...certs,
        `listener ${ports.mtls} ${LOOPBACK}`,
        ...certs,
        'require_certificate true',
        'use_identity_as_username true',
        // socket_domain ipv4 keeps libwebsockets on the loopback address (else it binds them all).
        `listener ${ports.ws} ${LOOPBACK}`,
        'protocol websockets',
        'socket_domain ipv4',
        `listener ${ports.wss} ${LOOPBACK}`,
        'protocol websockets',
        'socket_domain ipv4',
        ...certs,
      ],
    })
    for (const p of Object.values(ports)) await waitForPort(p, 5000)
  })

  after(async () => {
    await Promise.all(clients.map((c) => c.end({ force: true }).catch(() => {})))
    await m?.stop()
    await pki?.remove()
  })

  async function open(url: string, options: ClientOptions = {}): Promise<Client> {
    const c = await connect(url, { reconnect: false, connectTimeout: 5000, ...options })
    clients.push(c)
    return c
  }

  async function roundTrip(pub: Client, sub: Client, topic: string, payload: string): Promise<void> {
    await sub.subscribe(topic, { qos: 1 })
    const got = new Promise<[string, string]>((resolve) =>
      sub.once('message', (t, p) => resolve([t, p.toString()])),
    )
    await pub.publish(topic, payload, { qos: 1 })
    assert.deepEqual(await got, [topic, payload])
  }

  test('mqtts:// with ca: messages cross to a plain TCP client', T, async () => {
    const tls = await open(`mqtts://localhost:${ports.tls}`, { ca: pki.ca })
    const plain = await open(m.url)
    await roundTrip(tls, plain, 'interop/tls/a', 'from TLS')
    await roundTrip(plain, tls, 'interop/tls/b', 'to TLS')
  })

  test('mqtts:// refuses Mosquitto with a certificate from an unknown CA', T, async () => {
    const err = await open(`mqtts://localhost:${ports.tls}`, { ca: pki.rogueCa }).then(
      () => assert.fail('connected'),
      (e: unknown) => e as Error,
    )
    assert.ok(err instanceof ConnectFailedError)
    assert.equal((err.cause as TransportError).code, TransportErrorCode.TLS_UNTRUSTED)
  })

  test('a client certificate gives its CN as the user name (require_certificate)', T, async () => {
    const c = await open(`mqtts://localhost:${ports.mtls}`, {
      ca: pki.ca,
      cert: pki.clientCert,
      key: pki.clientKey,
      protocolVersion: 5,
    })
    await roundTrip(c, c, 'interop/mtls', 'alice')
    const none = await open(`mqtts://localhost:${ports.mtls}`, { ca: pki.ca }).then(
      () => assert.fail('connected without a client certificate'),
      (e: unknown) => e as Error,
    )
    assert.ok(none instanceof ConnectFailedError)
    let cause: unknown = none.cause
    if (!(cause instanceof TransportError)) cause = (cause as Error).cause
    assert.ok(cause instanceof TransportError, String(none.cause))
    assert.equal(cause.code, TransportErrorCode.TLS_CLIENT_CERT)
  })

  test('ws:// (Mosquitto takes the subprotocol mqtt on any path)', T, async () => {
    const ws = await open(`ws://${LOOPBACK}:${ports.ws}`)
    const plain = await open(m.url)
    await roundTrip(ws, plain, 'interop/ws/a', 'from WebSocket')
    await roundTrip(plain, ws, 'interop/ws/b', 'to WebSocket')
  })

  test('wss:// with ca, MQTT 3.1.1 and 5', T, async () => {
    const v4 = await open(`wss://localhost:${ports.wss}/mqtt`, { ca: pki.ca })
    const v5 = await open(`wss://localhost:${ports.wss}/mqtt`, { ca: pki.ca, protocolVersion: 5 })
    await roundTrip(v4, v5, 'interop/wss', 'secure WebSocket')
    // 100 QoS 1 messages of 2 KiB, then one of 64 KiB. Mosquitto 2.0.11 writes at most some
    // 4 KiB to a WebSocket per turn of its loop, and turns when a socket has something to read
    // or every 100 ms: larger messages are paced by it (see the next test and docs/decisions.md).
    const payload = 'x'.repeat(2048)
    await v5.subscribe('interop/wss/bulk', { qos: 1 })
    let n = 0
    v5.on('message', (t) => {
      if (t === 'interop/wss/bulk') n++
    })
    await Promise.all(Array.from({ length: 100 }, () => v4.publish('interop/wss/bulk', payload, { qos: 1 })))
    const deadline = Date.now() + 10_000
    while (n < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.equal(n, 100)
    await roundTrip(v4, v5, 'interop/wss/big', 'y'.repeat(64 * 1024))
  })

  test(
    'ws:// subscriber: messages over 4 KiB arrive whole, in order, none lost, paced by Mosquitto',
    T,
    async () => {
      // Each of 10 QoS 1 messages of 8 KiB needs two 4 KiB writes: one when our PUBACK of the
      // previous one wakes Mosquitto, one at its next 100 ms tick, so some 1 s in all. (MQTT.js
      // happens to go faster: it sends each PUBACK as three WebSocket frames, three wake-ups; through
      // a TCP proxy that joins them it is as slow as this.) A client that stalled its reads or held
      // back its acks would take many seconds more.
      const sub = await open(`ws://${LOOPBACK}:${ports.ws}`)
      const pub = await open(m.url)
      for (const qos of [1, 0] as const) {
        const topic = `interop/ws/paced/${qos}`
        await sub.subscribe(topic, { qos })
        const got: number[] = []
        sub.on('message', (t, p) => {
          if (t === topic && p.length === 8192) got.push(p.readUInt32BE(0))
        })
        const started = Date.now()
        for (let i = 0; i < 10; i++) {
          const payload = Buffer.alloc(8192, 0x61)
          payload.writeUInt32BE(i, 0)
          await pub.publish(topic, payload, { qos })
        }
        const deadline = started + 6000
        while (got.length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
        assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], `after ${Date.now() - started} ms`)
      }
    },
  )

  test('petrel pub --cafile --cert --key to Mosquitto, and -L mqtts:// and wss://', T, async () => {
    const sub = await open(m.url)
    await sub.subscribe('interop/cli/#')
    const got: string[] = []
    sub.on('message', (t, p) => got.push(`${t} ${p}`))
    const f = pki.files
    const runs = [
      ['--cafile', f.ca, '-h', 'localhost', '-p', String(ports.tls), '-t', 'interop/cli/cafile'],
      [
        ...['--cafile', f.ca, '--cert', f.clientCert, '--key', f.clientKey],
        ...['-h', 'localhost', '-p', String(ports.mtls), '-t', 'interop/cli/cert'],
      ],
      ['--cafile', f.ca, '-L', `mqtts://localhost:${ports.tls}/interop/cli/url`],
      ['--cafile', f.ca, '-L', `wss://localhost:${ports.wss}/mqtt`, '-t', 'interop/cli/wss'],
      ['-L', `ws://${LOOPBACK}:${ports.ws}`, '-t', 'interop/cli/ws'],
    ]
    for (const args of runs) {
      const r = await petrel(['pub', ...args, '-m', 'hi', '-q', '1'])
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
    }
    const deadline = Date.now() + 5000
    while (got.length < runs.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    assert.deepEqual(got.sort(), [
      'interop/cli/cafile hi',
      'interop/cli/cert hi',
      'interop/cli/url hi',
      'interop/cli/ws hi',
      'interop/cli/wss hi',
    ])
  })
})
