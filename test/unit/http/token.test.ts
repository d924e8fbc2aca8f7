/**
 * The HTTP endpoint's bearer token: which paths need it, where it may be given, and that
 * anything but the exact token is refused.
 */
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { describe, test } from 'node:test'
import { ConfigError } from '../../../src/errors.js'
import { BearerToken, tokenFromFile } from '../../../src/http/token.js'

function req(authorization?: string): IncomingMessage {
  return { headers: authorization === undefined ? {} : { authorization } } as IncomingMessage
}
const at = (path: string): URL => new URL(`http://localhost${path}`)

describe('BearerToken', () => {
  const token = new BearerToken('t0ken')

  test('lets the probes and the dashboard files through without a token', () => {
    for (const path of ['/healthz', '/readyz', '/', '/app.js', '/nowhere']) {
      assert.equal(token.allows(req(), at(path)), true, path)
    }
  })

  test('asks for it on /metrics and everything under /api/', () => {
    for (const path of ['/metrics', '/api', '/api/v1/clients', '/api/v1/clients/a/kick', '/api/v1/stream']) {
      assert.equal(token.allows(req(), at(path)), false, path)
      assert.equal(token.allows(req('Bearer t0ken'), at(path)), true, path)
      assert.equal(
        token.allows(req('bearer   t0ken'), at(path)),
        true,
        `${path}: the scheme is case-insensitive`,
      )
    }
  })

  test('refuses a wrong token, a prefix of it, a longer one, another scheme, or none after Bearer', () => {
    for (const h of [
      'Bearer t0ke',
      'Bearer t0ken1',
      'Bearer T0KEN',
      'Basic t0ken',
      'Bearer',
      'Bearer t0ken extra',
      't0ken',
    ]) {
      assert.equal(token.allows(req(h), at('/metrics')), false, h)
    }
  })

  test('takes ?access_token= on /api/v1/stream only (EventSource cannot set headers)', () => {
    assert.equal(token.allows(req(), at('/api/v1/stream?access_token=t0ken')), true)
    assert.equal(token.allows(req(), at('/api/v1/stream?access_token=wrong')), false)
    assert.equal(token.allows(req(), at('/metrics?access_token=t0ken')), false)
    assert.equal(token.allows(req(), at('/api/v1/clients?access_token=t0ken')), false)
  })

  test('must be one word of visible characters', () => {
    assert.throws(() => new BearerToken(''), ConfigError)
    assert.throws(() => new BearerToken('a b'), ConfigError)
    assert.equal(tokenFromFile('  abc\r\n'), 'abc')
  })
})
