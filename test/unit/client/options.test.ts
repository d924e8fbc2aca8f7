import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { resolveClientOptions } from '../../../src/client/options.js'
import { ConfigError } from '../../../src/index.js'

describe('client options', () => {
  test('defaults: clean session, 60 s keep-alive, reconnect on, a generated client id', () => {
    const o = resolveClientOptions('mqtt://127.0.0.1')
    assert.equal(o.transport.name, 'tcp://127.0.0.1:1883')
    assert.equal(o.clean, true)
    assert.equal(o.keepalive, 60)
    assert.equal(o.pingTimeout, 60_000)
    assert.deepEqual(o.reconnect, { minDelay: 500, maxDelay: 30_000 })
    assert.match(o.clientId, /^petrel-[0-9a-f]{16}$/)
    assert.equal(o.maxOfflineQueue, 1000)
    assert.equal(o.maxInflightQoS2, 20)
  })

  test('credentials come from the URL unless given as options', () => {
    const a = resolveClientOptions('mqtt://al%40ice:s3cret@[::1]:1884')
    assert.equal(a.transport.name, 'tcp://[::1]:1884')
    assert.equal(a.username, 'al@ice')
    assert.equal(a.password?.toString(), 's3cret')
    const b = resolveClientOptions('tcp://u:p@host', { username: 'x', password: Buffer.from('y') })
    assert.equal(b.username, 'x')
    assert.equal(b.password?.toString(), 'y')
  })

  test('reconnect: false turns it off; bounds are checked', () => {
    assert.equal(resolveClientOptions('mqtt://h', { reconnect: false }).reconnect, null)
    assert.deepEqual(resolveClientOptions('mqtt://h', { reconnect: { minDelay: 10 } }).reconnect, {
      minDelay: 10,
      maxDelay: 30_000,
    })
    assert.throws(
      () => resolveClientOptions('mqtt://h', { reconnect: { minDelay: 100, maxDelay: 50 } }),
      ConfigError,
    )
  })

  test('refuses what cannot work, with the option named', () => {
    const bad: [string, () => unknown][] = [
      ['url', () => resolveClientOptions('http://h')],
      ['ca', () => resolveClientOptions('mqtt://h', { ca: 'x' })],
      ['url', () => resolveClientOptions('not a url')],
      ['clientId', () => resolveClientOptions('mqtt://h', { clientId: '', clean: false })],
      ['password', () => resolveClientOptions('mqtt://h', { password: 'p' })],
      ['keepalive', () => resolveClientOptions('mqtt://h', { keepalive: 70_000 })],
      ['will', () => resolveClientOptions('mqtt://h', { will: { topic: 'a/+', payload: 'x' } })],
    ]
    for (const [option, f] of bad) {
      assert.throws(f, (e: unknown) => e instanceof ConfigError && e.option === option, option)
    }
  })
})

describe('client options: MQTT 5', () => {
  test('protocolVersion 5 turns the v5 options into CONNECT properties, leaving defaults out', () => {
    const o = resolveClientOptions('mqtt://h', {
      protocolVersion: 5,
      sessionExpiryInterval: 0xffff_ffff,
      receiveMaximum: 100,
      maximumPacketSize: 1024,
      topicAliasMaximum: 16,
      requestResponseInformation: true,
      requestProblemInformation: false,
      userProperties: [['a', 'b']],
    })
    assert.equal(o.protocolVersion, 5)
    assert.equal(o.maxPacketSize, 1024)
    assert.deepEqual(o.connectProperties, {
      sessionExpiryInterval: 0xffff_ffff,
      receiveMaximum: 100,
      maximumPacketSize: 1024,
      topicAliasMaximum: 16,
      requestResponseInformation: true,
      requestProblemInformation: false,
      userProperties: [['a', 'b']],
    })
    assert.deepEqual(resolveClientOptions('mqtt://h', { protocolVersion: 5 }).connectProperties, {})
    assert.equal(resolveClientOptions('mqtt://h', { protocolVersion: 5 }).maxInflightQoS2, 65_535)
    assert.equal(resolveClientOptions('mqtt://h').connectProperties, undefined)
  })

  test('MQTT 5 allows an empty client id with clean: false, and a password without a user name', () => {
    const o = resolveClientOptions('mqtt://h', {
      protocolVersion: 5,
      clientId: '',
      clean: false,
      password: 'p',
    })
    assert.equal(o.clientId, '')
    assert.equal(o.password?.toString(), 'p')
  })

  test('v5 options need protocolVersion 5; bounds are checked', () => {
    for (const [option, make] of [
      ['protocolVersion', () => resolveClientOptions('mqtt://h', { protocolVersion: 6 as 5 })],
      ['sessionExpiryInterval', () => resolveClientOptions('mqtt://h', { sessionExpiryInterval: 1 })],
      [
        'auth',
        () =>
          resolveClientOptions('mqtt://h', {
            auth: { method: 'x', start: () => undefined, challenge: () => undefined },
          }),
      ],
      [
        'will',
        () => resolveClientOptions('mqtt://h', { will: { topic: 't', payload: 'p', properties: {} } }),
      ],
      ['receiveMaximum', () => resolveClientOptions('mqtt://h', { protocolVersion: 5, receiveMaximum: 0 })],
      [
        'topicAliasMaximum',
        () => resolveClientOptions('mqtt://h', { protocolVersion: 5, topicAliasMaximum: 70_000 }),
      ],
    ] as const) {
      assert.throws(make, (e: unknown) => e instanceof ConfigError && e.option === option, option)
    }
  })
})
