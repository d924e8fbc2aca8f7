/**
 * `petrel broker`'s HTTP endpoint settings: `http:` in a config file and the --http-* flags,
 * merged and checked, each mistake refused with one line naming it.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { resolveSettings } from '../../src/cli/config.js'
import { loadHttpOptions } from '../../src/cli/http-settings.js'
import { ConfigError } from '../../src/errors.js'

const none = new Map<string, string>()

describe('HTTP endpoint settings', () => {
  test('are off unless a port is given', () => {
    assert.equal(resolveSettings({}, 'f.yaml', none).http, undefined)
  })

  test('take http: from the file, 127.0.0.1 by default, and let the --http-* flags win', () => {
    const fromFile = resolveSettings({ http: { port: 9090, tokenFile: 't' } }, 'f.yaml', none).http
    assert.deepEqual(fromFile, {
      port: 9090,
      host: '127.0.0.1',
      certfile: undefined,
      keyfile: undefined,
      tokenFile: 't',
    })
    const flags = new Map([
      ['httpPort', '9191'],
      ['httpHost', '0.0.0.0'],
      ['httpCert', 'c.pem'],
      ['httpKey', 'k.pem'],
    ])
    assert.deepEqual(resolveSettings({ http: { port: 9090, tokenFile: 't' } }, 'f.yaml', flags).http, {
      port: 9191,
      host: '0.0.0.0',
      certfile: 'c.pem',
      keyfile: 'k.pem',
      tokenFile: 't',
    })
  })

  const refusals: [string, Record<string, unknown>, Map<string, string>, RegExp][] = [
    [
      'a bad --http-port',
      {},
      new Map([['httpPort', 'abc']]),
      /^--http-port must be a whole number from 0 to 65535; got 'abc'$/,
    ],
    [
      'a port out of range in the file',
      { http: { port: 70000 } },
      none,
      /^f\.yaml: http\.port must be a whole number from 0 to 65535; got 70000$/,
    ],
    [
      'an unknown key under http:',
      { http: { port: 1, prot: 2 } },
      none,
      /^f\.yaml: http: unknown key 'prot'; allowed keys: port, host, certfile, keyfile, tokenFile$/,
    ],
    ['http: that is not a mapping', { http: 9090 }, none, /^f\.yaml: http must be a mapping/],
    ['http: without a port', { http: { host: '::1' } }, none, /^f\.yaml: http needs a port/],
    ['--http-host without a port', {}, new Map([['httpHost', '::1']]), /^--http-host needs --http-port/],
    [
      '--http-token-file without a port',
      {},
      new Map([['httpTokenFile', 't']]),
      /^--http-token-file needs --http-port/,
    ],
    [
      'a certificate without its key',
      {},
      new Map([
        ['httpPort', '1'],
        ['httpCert', 'c.pem'],
      ]),
      /needs both a certificate and its key/,
    ],
    [
      'a flag name used as a file key',
      { httpPort: 9090 },
      none,
      /^f\.yaml: httpPort is a flag; in a file write http: \{ port: \.\.\. \}$/,
    ],
  ]
  for (const [what, file, flags, message] of refusals) {
    test(`refuses ${what} with one line`, () => {
      assert.throws(
        () => resolveSettings(file, 'f.yaml', flags),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError)
          assert.match(err.message, message)
          assert.doesNotMatch(err.message, /\n/)
          return true
        },
      )
    })
  }

  test('read the token from its file without the final newline, and refuse an empty or unreadable one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-http-settings-'))
    try {
      const file = join(dir, 'token')
      await writeFile(file, 'abc123\n')
      const base = { port: 0, host: '127.0.0.1', certfile: undefined, keyfile: undefined }
      assert.equal((await loadHttpOptions({ ...base, tokenFile: file })).token, 'abc123')
      await writeFile(file, '\n')
      await assert.rejects(loadHttpOptions({ ...base, tokenFile: file }), /must hold one word/)
      await assert.rejects(
        loadHttpOptions({ ...base, tokenFile: join(dir, 'missing') }),
        /cannot read HTTP token file .*missing: no such file$/,
      )
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
