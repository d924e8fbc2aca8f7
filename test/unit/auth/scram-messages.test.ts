/** SCRAM-SHA-256 messages are parsed strictly (RFC 5802 section 7); credentials and SASLprep (RFC 4013). */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  parseScramCredentials,
  type ScramError,
  ScramErrorCode,
  saslprep,
  scramClient,
  scramCredentials,
} from '../../../src/auth/scram.js'
import { b, data, failure, RFC, server } from './rfc7677.js'

describe('SCRAM-SHA-256 parsing is strict (RFC 5802 section 7)', () => {
  const malformedClientFirst = [
    ['nothing', undefined],
    ['empty', ''],
    ['no GS2 header', 'n=user,r=abc'],
    ['channel binding asked for (p=)', 'p=tls-unique,,n=user,r=abc'],
    ['an authorization identity', 'n,a=admin,n=user,r=abc'],
    ['a mandatory extension', 'n,,m=ext,n=user,r=abc'],
    ['no nonce', 'n,,n=user'],
    ['attributes out of order', 'n,,r=abc,n=user'],
    ['an empty user name', 'n,,n=,r=abc'],
    ['an unescaped =', 'n,,n=a=b,r=abc'],
    ['a bad escape', 'n,,n=a=2D,r=abc'],
    ['a nonce with a space', 'n,,n=user,r=a bc'],
    ['a nonce with non-ASCII', 'n,,n=user,r=abcé'],
    ['a known attribute as an extension', 'n,,n=user,r=abc,r=def'],
    ['an empty extension', 'n,,n=user,r=abc,x='],
    ['a trailing comma', 'n,,n=user,r=abc,'],
    ['a user name with a control character', 'n,,n=us\u0007er,r=abc'],
  ] as const
  for (const [what, message] of malformedClientFirst) {
    test(`client-first with ${what} is malformed`, async () => {
      const step = await server().clientFirst(message === undefined ? undefined : b(message))
      assert.equal(failure(step), 'malformed')
    })
  }

  test('client-first that is not UTF-8 is malformed', async () => {
    const step = await server().clientFirst(
      Buffer.from([0x6e, 0x2c, 0x2c, 0x6e, 0x3d, 0xff, 0x2c, 0x72, 0x3d, 0x61]),
    )
    assert.equal(failure(step), 'malformed')
  })

  test("client-first with 'y' (client could bind, thinks we cannot) and extensions is accepted", async () => {
    const srv = server()
    data(await srv.clientFirst(b('y,,n=user,r=rOprNGfwEbeRWgbNEkqO,x=ext')), 'challenge')
  })

  const malformedClientFinal = [
    ['no proof', RFC.clientFinal.replace(/,p=.*$/, '')],
    ['a proof not in base64', RFC.clientFinal.replace('p=dHzb', 'p=*Hzb')],
    ['a short proof', 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA'],
    ['attributes after the proof', `${RFC.clientFinal},x=1`],
    ['no channel binding', RFC.clientFinal.replace('c=biws,', '')],
  ] as const
  for (const [what, message] of malformedClientFinal) {
    test(`client-final with ${what} is malformed`, async () => {
      const srv = server()
      await srv.clientFirst(b(RFC.clientFirst))
      assert.equal(failure(srv.clientFinal(b(message))), 'malformed')
    })
  }

  const malformedServerFirst = [
    ['no salt', 'r=rOprNGfwEbeRWgbNEkqOxyz,i=4096'],
    ['a salt not in base64', 'r=rOprNGfwEbeRWgbNEkqOxyz,s=W22Z!,i=4096'],
    ['an iteration count with a sign', 'r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096'],
    [
      'an iteration count with a leading zero',
      'r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096',
    ],
    ['a mandatory extension', 'm=x,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'],
  ] as const
  for (const [what, message] of malformedServerFirst) {
    test(`server-first with ${what} makes the client throw`, async () => {
      const client = scramClient('user', 'pencil', { nonce: () => RFC.clientNonce })
      client.start()
      await assert.rejects(
        client.challenge(b(message)),
        (e: ScramError) => e.code === ScramErrorCode.MALFORMED,
      )
    })
  }
})

describe('SCRAM credentials and SASLprep', () => {
  test('fewer than 4096 iterations are refused (RFC 7677 section 4)', async () => {
    await assert.rejects(
      scramCredentials('pw', { iterations: 1000 }),
      (e: ScramError) => e.code === ScramErrorCode.ITERATIONS,
    )
  })

  test('stored credentials that do not parse are refused with a message that says what is expected', () => {
    for (const s of [
      '',
      'SCRAM-SHA-1$4096:AAAA$AAAA:AAAA',
      'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA',
      `SCRAM-SHA-256$0:AAAA$${'A'.repeat(43)}=:${'A'.repeat(43)}=`,
    ]) {
      assert.throws(
        () => parseScramCredentials(s),
        (e: ScramError) => e.code === ScramErrorCode.BAD_CREDENTIALS,
        s,
      )
    }
  })

  test('SASLprep maps non-ASCII spaces to space, drops soft hyphens, applies NFKC', () => {
    assert.equal(saslprep('I\u00ADX'), 'IX') // RFC 4013 section 3, example 1
    assert.equal(saslprep('user'), 'user') // example 2
    assert.equal(saslprep('\u00AA'), 'a') // example 4
    assert.equal(saslprep('\u2168'), 'IX') // example 5
    assert.equal(saslprep('a\u2003b'), 'a b')
  })

  test('SASLprep refuses prohibited characters; unassigned ones only in stored strings', () => {
    const prohibited = (s: string, stored = false) =>
      assert.throws(
        () => saslprep(s, stored),
        (e: ScramError) => e.code === ScramErrorCode.SASLPREP,
        JSON.stringify(s),
      )
    prohibited('\u0007') // RFC 4013 section 3, example 6
    prohibited('a\uE000') // private use
    prohibited('a\uD800') // lone surrogate
    prohibited('a\u200Eb') // change display
    prohibited('a\u{E0001}') // tagging
    prohibited('a\uFFFE') // non-character
    assert.equal(saslprep('a\u0378'), 'a\u0378') // unassigned, in a query
    prohibited('a\u0378', true)
  })
})
