/** SCRAM-SHA-256 (RFC 5802, RFC 7677): both ends' state machines, without sockets. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import {
  formatScramCredentials,
  parseScramCredentials,
  type ScramError,
  ScramErrorCode,
  ScramServerExchange,
  saslprep,
  scramClient,
  scramCredentials,
} from '../../../src/auth/scram.js'
import { resolveServerOptions } from '../../../src/auth/scram-server.js'
import { b, data, exchange, failure, pencil, RFC, server } from './rfc7677.js'

describe('SCRAM-SHA-256 with the RFC 7677 test vector', () => {
  test('scramCredentials keeps what the RFC implies for "pencil", and formats as RFC 5803', () => {
    assert.equal(pencil.iterations, 4096)
    assert.deepEqual(pencil.salt, RFC.salt)
    assert.equal(
      formatScramCredentials(pencil),
      `SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$${pencil.storedKey.toString('base64')}:${pencil.serverKey.toString('base64')}`,
    )
    assert.deepEqual(parseScramCredentials(formatScramCredentials(pencil)), pencil)
  })

  test("the server answers the RFC's client messages with the RFC's own", async () => {
    const srv = server()
    assert.equal(data(await srv.clientFirst(b(RFC.clientFirst)), 'challenge').toString(), RFC.serverFirst)
    const final = srv.clientFinal(b(RFC.clientFinal))
    assert.equal(data(final, 'success').toString(), RFC.serverFinal)
    assert.equal((final as { username: string }).username, 'user')
  })

  test("the client sends the RFC's messages and accepts the RFC's server signature", async () => {
    const client = scramClient('user', 'pencil', { nonce: () => RFC.clientNonce })
    assert.equal(client.method, 'SCRAM-SHA-256')
    assert.equal(client.start().toString(), RFC.clientFirst)
    assert.equal((await client.challenge(b(RFC.serverFirst))).toString(), RFC.clientFinal)
    client.done(b(RFC.serverFinal))
  })
})

describe('SCRAM-SHA-256 exchanges', () => {
  test('a client with random nonces and a server with random nonces agree', async () => {
    const creds = await scramCredentials('correct horse', { iterations: 5000 })
    const srv = new ScramServerExchange(resolveServerOptions({ lookup: () => creds }))
    const client = scramClient('alice', 'correct horse')
    const { final } = await exchange(client, srv)
    client.done(data(final, 'success'))
  })

  test('each start uses a fresh nonce', () => {
    const client = scramClient('user', 'pencil')
    assert.notEqual(client.start().toString(), client.start().toString())
  })

  test('a wrong password is refused as unauthorized', async () => {
    const { final } = await exchange(scramClient('user', 'pencil!', { nonce: () => RFC.clientNonce }))
    assert.equal(failure(final), 'unauthorized')
  })

  test('an unknown user gets a salt derived from its name, stable, and the same refusal as a wrong password', async () => {
    const secret = Buffer.alloc(32, 7)
    const firsts = await Promise.all(
      [0, 1].map(async () =>
        data(await server({ secret }).clientFirst(b('n,,n=mallory,r=abc')), 'challenge'),
      ),
    )
    assert.deepEqual(firsts[0], firsts[1])
    assert.match(
      firsts[0]!.toString(),
      /^r=abc%hvYDpWUa2RaTCAfuxFIlj\)hNlF\$k0,s=[A-Za-z0-9+/]{22}==,i=4096$/,
    )
    const other = data(await server({ secret }).clientFirst(b('n,,n=trudy,r=abc')), 'challenge')
    assert.notDeepEqual(other, firsts[0])
    const { final } = await exchange(scramClient('mallory', 'pencil'), server({ secret }))
    assert.deepEqual(final.kind === 'failure' && final.reason, 'unauthorized')
  })

  test('a tampered proof is refused', async () => {
    const srv = server()
    await srv.clientFirst(b(RFC.clientFirst))
    const tampered = RFC.clientFinal.replace('p=dHzb', 'p=dHzc')
    assert.equal(failure(srv.clientFinal(b(tampered))), 'unauthorized')
  })

  test('a client-final replayed into a new exchange is refused: the server nonce differs', async () => {
    let n = 0
    const srv = server({ nonce: () => `fresh${n++}` })
    data(await srv.clientFirst(b(RFC.clientFirst)), 'challenge')
    assert.equal(failure(srv.clientFinal(b(RFC.clientFinal))), 'unauthorized')
  })

  test('a client-final with a nonce of its own is refused even with a valid-looking proof', async () => {
    const srv = server()
    await srv.clientFirst(b(RFC.clientFirst))
    const other = RFC.clientFinal.replace('k0,p=', 'k1,p=')
    assert.equal(failure(srv.clientFinal(b(other))), 'unauthorized')
  })

  test('a client-final whose channel binding is not the GS2 header is refused', async () => {
    const srv = server()
    await srv.clientFirst(b(RFC.clientFirst))
    assert.equal(failure(srv.clientFinal(b(RFC.clientFinal.replace('c=biws', 'c=eSws')))), 'unauthorized')
  })

  test('an exchange runs once: a second client-final, or a client-first after the first, fails', async () => {
    const srv = server()
    await srv.clientFirst(b(RFC.clientFirst))
    data(srv.clientFinal(b(RFC.clientFinal)), 'success')
    assert.equal(failure(srv.clientFinal(b(RFC.clientFinal))), 'malformed')
    assert.equal(failure(await srv.clientFirst(b(RFC.clientFirst))), 'malformed')
  })

  test('user names with , and = travel escaped as =2C and =3D and reach lookup unescaped', async () => {
    const asked: string[] = []
    const creds = await scramCredentials('pw')
    const srv = server({
      lookup: (name) => {
        asked.push(name)
        return creds
      },
    })
    const client = scramClient('a,b=c', 'pw')
    const first = client.start()
    assert.match(first.toString(), /^n,,n=a=2Cb=3Dc,r=/)
    client.done(data((await exchange(client, srv)).final, 'success'))
    assert.deepEqual(asked, ['a,b=c'])
  })

  test('non-ASCII user names and passwords are compared after SASLprep (NFKC)', async () => {
    const creds = await scramCredentials('pa\u00A0ss\u2168') // no-break space, roman numeral nine
    const srv = server({ lookup: (name) => (name === 'Ame\u0301lie'.normalize('NFKC') ? creds : undefined) })
    const client = scramClient('Ame\u0301lie', 'pa ssIX')
    client.done(data((await exchange(client, srv)).final, 'success'))
  })
})

describe('SCRAM-SHA-256 client checks the server', () => {
  test("a server signature that does not verify throws: the server must know the user's keys", async () => {
    const client = scramClient('user', 'pencil', { nonce: () => RFC.clientNonce })
    client.start()
    await client.challenge(b(RFC.serverFirst))
    assert.throws(
      () => client.done(b('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=')),
      (e: ScramError) => e.code === ScramErrorCode.MALFORMED, // not canonical base64
    )
    client.start()
    await client.challenge(b(RFC.serverFirst))
    assert.throws(
      () => client.done(b(`v=${Buffer.alloc(32).toString('base64')}`)),
      (e: ScramError) => e.code === ScramErrorCode.SERVER_SIGNATURE,
    )
  })

  test('a server error (e=) throws with its text', async () => {
    const client = scramClient('user', 'pencil', { nonce: () => RFC.clientNonce })
    client.start()
    await client.challenge(b(RFC.serverFirst))
    assert.throws(() => client.done(b('e=invalid-proof')), /invalid-proof/)
  })

  test("a server nonce that does not extend the client's, or adds nothing, throws", async () => {
    const client = scramClient('user', 'pencil', { nonce: () => RFC.clientNonce })
    for (const first of [
      RFC.serverFirst.replace('r=rOpr', 'r=xOpr'),
      'r=rOprNGfwEbeRWgbNEkqO,s=AAAA,i=4096',
    ]) {
      client.start()
      await assert.rejects(
        client.challenge(b(first)),
        (e: ScramError) => e.code === ScramErrorCode.NONCE_MISMATCH,
      )
    }
  })

  test('an iteration count below 4096 or above the maximum throws before any PBKDF2 work', async () => {
    const client = scramClient('user', 'pencil', { nonce: () => RFC.clientNonce, maxIterations: 100_000 })
    for (const i of ['4095', '100001', '9999999999']) {
      client.start()
      await assert.rejects(
        client.challenge(b(RFC.serverFirst.replace('i=4096', `i=${i}`))),
        (e: ScramError) => e.code === ScramErrorCode.ITERATIONS,
      )
    }
  })

  test('challenge before start, or done before challenge, throws', async () => {
    const client = scramClient('user', 'pencil')
    await assert.rejects(
      client.challenge(b(RFC.serverFirst)),
      (e: ScramError) => e.code === ScramErrorCode.UNEXPECTED,
    )
    client.start()
    assert.throws(
      () => client.done(b(RFC.serverFinal)),
      (e: ScramError) => e.code === ScramErrorCode.UNEXPECTED,
    )
  })
})

describe('SCRAM-SHA-256 properties', () => {
  test('any user name and password (printable ASCII, commas and = included) authenticate both ways', async () => {
    const printable = fc.string({
      unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@AZaz[\\]^_`{|}~'),
      minLength: 1,
      maxLength: 12,
    })
    await fc.assert(
      fc.asyncProperty(printable, fc.string({ maxLength: 16 }).filter(ok), async (name, password) => {
        const creds = await scramCredentials(password)
        const srv = server({ lookup: (n) => (n === name ? creds : undefined), nonce: () => 'srv' })
        const client = scramClient(name, password)
        client.done(data((await exchange(client, srv)).final, 'success'))
      }),
      { numRuns: 30 },
    )
  })

  test('flipping any one character of the client-final message never authenticates', async () => {
    const positions = fc.integer({ min: 0, max: RFC.clientFinal.length - 1 })
    await fc.assert(
      fc.asyncProperty(positions, fc.integer({ min: 0x21, max: 0x7e }), async (at, code) => {
        const c = String.fromCharCode(code)
        fc.pre(RFC.clientFinal[at] !== c)
        const srv = server()
        await srv.clientFirst(b(RFC.clientFirst))
        const tampered = RFC.clientFinal.slice(0, at) + c + RFC.clientFinal.slice(at + 1)
        assert.equal(srv.clientFinal(b(tampered)).kind, 'failure', tampered)
      }),
      { numRuns: 300 },
    )
  })
})

/** A password SASLprep accepts. */
function ok(s: string): boolean {
  try {
    saslprep(s, true)
    return true
  } catch {
    return false
  }
}
