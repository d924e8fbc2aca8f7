/** `petrel passwd`: SCRAM-SHA-256 credentials for a user database. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseScramCredentials, ScramServerExchange, scramClient } from '../../src/auth/scram.js'
import { resolveServerOptions } from '../../src/auth/scram-server.js'
import { petrel } from './petrel-cli.js'

describe('petrel passwd', () => {
  test('prints one line of credentials for the password on stdin, which a SCRAM client then proves', async () => {
    const r = await petrel(['passwd', '--iterations', '5000'], { input: 'wonderland\n' })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^SCRAM-SHA-256\$5000:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}\n$/)
    assert.doesNotMatch(r.stdout, /wonderland/)
    const creds = parseScramCredentials(r.stdout)
    const server = new ScramServerExchange(resolveServerOptions({ lookup: () => creds }))
    const client = scramClient('alice', 'wonderland')
    const first = await server.clientFirst(client.start())
    assert.equal(first.kind, 'challenge')
    const final = server.clientFinal(await client.challenge((first as { data: Buffer }).data))
    assert.equal(final.kind, 'success')
  })

  test('refuses a password given as an argument, an empty one, and fewer than 4096 iterations (exit 2)', async () => {
    for (const [args, input, why] of [
      [['passwd', 'secret'], '', /standard input, not as an argument/],
      [['passwd'], '\n', /no password/],
      [['passwd', '-i', '1000'], 'pw\n', /--iterations must be a whole number from 4096/],
    ] as const) {
      const r = await petrel(args, { input })
      assert.equal(r.code, 2)
      assert.match(r.stderr, why)
      assert.equal(r.stdout, '')
    }
  })
})
