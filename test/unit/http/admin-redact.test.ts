/**
 * GET /api/v1/broker's settings: secrets redacted, code left out, the store shown as its kind
 * (src/http/broker-info.ts).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import { brokerInfo, REDACTED, redactConfig } from '../../../src/http/broker-info.js'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'

test('redacts every value whose key may hold a secret, keeping switches and file paths', () => {
  const shown = redactConfig({
    port: 1883,
    users: { alice: 'wonderland' },
    password: 'p',
    clientSecret: 's',
    token: 't',
    credentials: ['c'],
    http: { port: 8080, token: 'bearer', tokenFile: '/etc/petrel/token', keyfile: '/etc/key.pem' },
    listeners: [{ protocol: 'mqtts', port: 8883, key: '-----BEGIN PRIVATE KEY-----', passphrase: 'x' }],
    passwordFile: '/etc/petrel/passwd',
    allowPlaintextUsers: true,
    apiKey: 42,
    keepalive: 60,
  })
  assert.deepEqual(shown, {
    port: 1883,
    users: REDACTED,
    password: REDACTED,
    clientSecret: REDACTED,
    token: REDACTED,
    credentials: REDACTED,
    http: { port: 8080, token: REDACTED, tokenFile: '/etc/petrel/token', keyfile: '/etc/key.pem' },
    listeners: [{ protocol: 'mqtts', port: 8883, key: REDACTED, passphrase: REDACTED }],
    passwordFile: '/etc/petrel/passwd',
    allowPlaintextUsers: true,
    apiKey: REDACTED,
    keepalive: 60,
  })
})

test('leaves out functions, the logger and the hooks; shows a store as its kind, Maps as objects, Buffers by size', () => {
  const shown = redactConfig({
    logger: { info: () => {} },
    hooks: [{ authenticate: () => true }],
    authenticate: () => true,
    now: () => 0,
    store: new MemoryStore(),
    limits: new Map([['a', 1]]),
    cert: Buffer.alloc(10),
    nested: { fn: () => 1, deep: { deeper: { n: Number.POSITIVE_INFINITY } } },
  })
  assert.deepEqual(shown, {
    store: 'memory',
    limits: { a: 1 },
    cert: '[10 bytes]',
    nested: { deep: { deeper: { n: 'Infinity' } } },
  })
})

test("shows the settings startHttp was given, or else the broker's options; never its secrets", async () => {
  const broker = new Broker({ sysInterval: 0, maxInflight: 7 })
  try {
    const own = brokerInfo(broker, {})
    assert.equal(own.config.maxInflight, 7)
    assert.equal('logger' in own.config, false)
    const given = brokerInfo(broker, { port: 1883, users: { bob: 'hunter2' } })
    assert.deepEqual(given.config, { port: 1883, users: REDACTED })
    assert.equal(JSON.stringify(given).includes('hunter2'), false)
  } finally {
    await broker.close()
  }
})
