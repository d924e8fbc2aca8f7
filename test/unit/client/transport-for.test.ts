/**
 * The URL's transport: scheme, default port, WebSocket path, and the options that only
 * some schemes take. `petrel pub/sub/bench` choose theirs from -h, -p, -L and the TLS
 * flags the way mosquitto_pub does (src/cli/endpoint.ts).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseArgs } from '../../../src/cli/args.js'
import { CONNECTION_FLAGS } from '../../../src/cli/client-flags.js'
import { endpointOf } from '../../../src/cli/endpoint.js'
import { resolveClientOptions } from '../../../src/client/options.js'
import { transportFor } from '../../../src/client/transport-for.js'
import { ConfigError } from '../../../src/errors.js'

const name = (url: string, o = {}): string => transportFor(new URL(url), o).name

describe('transportFor', () => {
  test('picks the transport and default port of each scheme', () => {
    assert.equal(name('mqtt://h'), 'tcp://h:1883')
    assert.equal(name('tcp://h:1884'), 'tcp://h:1884')
    assert.equal(name('mqtts://h'), 'mqtts://h:8883')
    assert.equal(name('ssl://h'), 'mqtts://h:8883')
    assert.equal(name('tls://[::1]:9000'), 'mqtts://[::1]:9000')
    assert.equal(name('ws://h'), 'ws://h/mqtt')
    assert.equal(name('wss://h'), 'wss://h/mqtt')
  })

  test('a WebSocket URL keeps its own path and query; /mqtt only when it has none', () => {
    assert.equal(name('ws://h:8080/'), 'ws://h:8080/mqtt')
    assert.equal(name('ws://h:8080/brokers/a?token=x&v=2'), 'ws://h:8080/brokers/a?token=***&v=***')
    assert.equal(name('ws://h', { wsPath: '/other' }), 'ws://h/other')
    assert.equal(name('ws://h/same', { wsPath: '/same' }), 'ws://h/same')
    assert.throws(() => name('ws://h/one', { wsPath: '/two' }), /give the path once/)
  })

  test('credentials in a WebSocket URL go in CONNECT, not in the HTTP request', () => {
    const o = resolveClientOptions('ws://alice:s3cret@h:8080/mqtt')
    assert.equal(o.username, 'alice')
    assert.deepEqual(o.password, Buffer.from('s3cret'))
    assert.equal(o.transport.name, 'ws://h:8080/mqtt')
  })

  test('credentials in a URL are percent-decoded; a malformed escape is a ConfigError', () => {
    const o = resolveClientOptions('mqtt://al%40ice:p%3As%25s@h')
    assert.equal(o.username, 'al@ice')
    assert.deepEqual(o.password, Buffer.from('p:s%s'))
    assert.throws(
      () => resolveClientOptions('mqtt://a%zz@h'),
      (e) => e instanceof ConfigError && /user name in the URL has a malformed %-escape/.test(e.message),
    )
    assert.throws(
      () => resolveClientOptions('wss://u:100%@h'),
      (e) => e instanceof ConfigError && /password in the URL .* write % as %25/.test(e.message),
    )
  })

  test("error messages mask the password and a query's values of the URL", () => {
    for (const [url, shown] of [
      ['mqtts://alice:s3cret@localhost:0', 'port 0 in mqtts://alice:***@localhost:0'],
      ['http://alice:s3cret@h/?token=t0ken', 'unsupported scheme http:// in http://alice:***@h/?token=***'],
      ['mqtt://alice:s3cret@h:99999', 'not a URL: mqtt://alice:***@h:99999'],
    ] as const) {
      assert.throws(
        () => resolveClientOptions(url),
        (e) => e instanceof ConfigError && e.message.startsWith(shown) && !/s3cret|t0ken/.test(e.message),
        url,
      )
    }
  })

  test('IPv6 hosts: brackets in the URL, none in the name ws and TLS are given', () => {
    assert.equal(name('ws://[::1]:9001'), 'ws://[::1]:9001/mqtt')
    assert.equal(resolveClientOptions('wss://u@[fe80::1]/p').transport.name, 'wss://[fe80::1]/p')
  })

  test('refuses a URL without a host', () => {
    assert.throws(
      () => name('mqtts:///x'),
      (e) => e instanceof ConfigError && /no host/.test(e.message),
    )
  })
})

describe('petrel pub/sub endpoint (mosquitto_pub rules)', () => {
  const endpoint = (argv: string[]) => endpointOf(parseArgs(argv, CONNECTION_FLAGS))

  test('plain by default; -p 8883 alone or -L mqtts:// means TLS', () => {
    assert.equal(endpoint([]).url, 'mqtt://localhost:1883')
    assert.equal(endpoint(['-p', '8883']).url, 'mqtts://localhost:8883')
    assert.equal(endpoint(['-L', 'mqtts://b.example/t']).url, 'mqtts://b.example:8883')
    assert.equal(endpoint(['-L', 'mqtts://b.example/t']).topic, 't')
  })

  test('a TLS flag turns TLS on with port 8883, unless -p says otherwise', () => {
    assert.equal(endpoint(['--insecure']).url, 'mqtts://localhost:8883')
    assert.equal(endpoint(['--tls-use-os-certs', '-p', '1884']).url, 'mqtts://localhost:1884')
    assert.equal(typeof endpoint(['--insecure']).options.checkServerIdentity, 'function')
    assert.equal(endpoint(['--tls-version', 'tlsv1.3']).options.minVersion, 'TLSv1.3')
  })

  test('-L mqtt://host/topic: the topic is the rest as written, wildcards and all', () => {
    const topic = (url: string) => endpoint(['-L', url]).topic
    assert.equal(topic('mqtt://h/sensors/#'), 'sensors/#')
    assert.equal(topic('mqtt://h:1884/a/+/b'), 'a/+/b')
    assert.equal(topic('mqtts://u:p@h/what?now'), 'what?now')
    assert.equal(topic('mqtt://h//lead'), '/lead')
    assert.equal(topic('mqtt://h/'), undefined)
    assert.equal(topic('MQTT://h/t'), 't')
    const e = endpoint(['-L', 'mqtt://al%40ice:pw@[::1]:1884/a/#'])
    assert.equal(e.url, 'mqtt://[::1]:1884')
    assert.equal(e.username, 'al@ice')
    assert.equal(e.password, 'pw')
  })

  test('-L with a malformed URL, escape or scheme is one ConfigError', () => {
    for (const [url, message] of [
      ['mqtt://a%zz@h/t', /user name in the URL has a malformed %-escape/],
      ['localhost/t', /invalid URL for -L: localhost\/t/],
      ['mqtt://h:99999/t', /invalid URL for -L/],
      ['mqtt://u:s3cret@h:99999/t', /^invalid URL for -L: mqtt:\/\/u:\*\*\*@h:99999\/t$/],
      ['ftp://h/t', /unsupported URL scheme ftp:\/\/ for -L/],
    ] as const) {
      assert.throws(
        () => endpoint(['-L', url]),
        (e) => e instanceof ConfigError && message.test(e.message),
        url,
      )
    }
  })

  test('-L ws:// and wss://: the path is the WebSocket path, no topic', () => {
    const ws = endpoint(['-L', 'ws://u:p@h:9001/mqtt'])
    assert.equal(ws.url, 'ws://h:9001/mqtt')
    assert.equal(ws.topic, undefined)
    assert.equal(ws.username, 'u')
    assert.equal(endpoint(['-L', 'wss://h']).url, 'wss://h:443')
  })
})
