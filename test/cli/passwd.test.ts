/** `petrel passwd`: SCRAM-SHA-256 credentials, for a user database or the users of `petrel broker`. */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { parseScramCredentials, ScramServerExchange, scramClient } from '../../src/auth/scram.js'
import { resolveServerOptions } from '../../src/auth/scram-server.js'
import { connect } from '../../src/client/client.js'
import { ConnackRefusedError } from '../../src/client/errors.js'
import { LOOPBACK } from '../helpers/net.js'
import { petrel, startCliBroker } from './petrel-cli.js'

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
      [['passwd', '--scram', 'secret'], '', /standard input, not as an argument/],
      [
        ['passwd', 'secret'],
        '',
        /give the user name after secret \(SCRAM credentials: petrel passwd --scram/,
      ],
      [['passwd'], '\n', /no password/],
      [['passwd', '-i', '1000'], 'pw\n', /--iterations must be a whole number from 4096/],
    ] as const) {
      const r = await petrel(args, { input })
      assert.equal(r.code, 2)
      assert.match(r.stderr, why)
      assert.equal(r.stdout, '')
    }
  })

  test('petrel broker takes its output as a user: SCRAM-SHA-256 at MQTT 5, the plain password at 3.1.1', async () => {
    const made = await petrel(['passwd'], { input: 'wonderland\n' })
    const dir = await mkdtemp(join(tmpdir(), 'petrel-passwd-'))
    const file = join(dir, 'users.json')
    await writeFile(
      file,
      JSON.stringify({
        memory: true,
        users: { alice: made.stdout.trim(), bob: 'builder' },
        allowPlaintextUsers: true,
      }),
    )
    const b = await startCliBroker(['--config', file])
    const url = `mqtt://${LOOPBACK}:${b.port}`
    const refused = (err: unknown) => err instanceof ConnackRefusedError && err.permanent
    try {
      const scram = await connect(url, {
        protocolVersion: 5,
        auth: scramClient('alice', 'wonderland'),
        reconnect: false,
      })
      await scram.end()
      const plain = await connect(url, { username: 'alice', password: 'wonderland', reconnect: false })
      await plain.end()
      const clear = await connect(url, { username: 'bob', password: 'builder', reconnect: false })
      await clear.end()
      await assert.rejects(connect(url, { username: 'alice', password: 'nope', reconnect: false }), refused)
      await assert.rejects(connect(url, { username: 'carol', password: 'x', reconnect: false }), refused)
      await assert.rejects(
        connect(url, { protocolVersion: 5, auth: scramClient('alice', 'nope'), reconnect: false }),
        (err: unknown) => err instanceof ConnackRefusedError && err.reasonCode === 0x87,
      )
    } finally {
      await b.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('petrel broker refuses a users value that looks like SCRAM credentials but is not (exit 2)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-passwd-'))
    const file = join(dir, 'users.json')
    await writeFile(file, JSON.stringify({ memory: true, users: { alice: 'SCRAM-SHA-256$4096:AAAA' } }))
    try {
      const r = await petrel(['broker', '--config', file])
      assert.equal(r.code, 2)
      assert.match(r.stderr, /^petrel broker: .*users\.alice: not SCRAM-SHA-256 credentials/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
