/**
 * `petrel broker`'s cluster settings: `cluster:` in a config file and the --cluster* flags,
 * merged and checked, each mistake refused with one line naming it; the files read at start
 * into ClusterOptions; secrets never shown.
 */
import assert from 'node:assert/strict'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { type ClusterSettings, loadClusterOptions } from '../../src/cli/cluster-settings.js'
import { resolveSettings } from '../../src/cli/config.js'
import { shownSettings } from '../../src/cli/shown-settings.js'
import { ConfigError } from '../../src/errors.js'
import { redactConfig } from '../../src/http/broker-info.js'

const none = new Map<string, string>()
const A = 'nats://127.0.0.1:4222'
const B = 'nats://127.0.0.1:4223'

const base: ClusterSettings = {
  servers: [A],
  node: undefined,
  user: undefined,
  password: undefined,
  passwordFile: undefined,
  token: undefined,
  tokenFile: undefined,
  tls: undefined,
  replicas: undefined,
  connectTimeout: undefined,
}

function cluster(file: Record<string, unknown>, flags = none): ClusterSettings | undefined {
  return resolveSettings(file, 'f.yaml', flags).cluster
}

describe('cluster settings', () => {
  test('are off unless servers are given', () => {
    assert.equal(cluster({}), undefined)
  })

  test('take servers as a list, as one comma-separated string, or as the whole cluster: value', () => {
    assert.deepEqual(cluster({ cluster: { servers: [A, B] } })?.servers, [A, B])
    assert.deepEqual(cluster({ cluster: { servers: `${A}, ${B}` } })?.servers, [A, B])
    assert.deepEqual(cluster({ cluster: `${A},${B}` })?.servers, [A, B])
    assert.deepEqual(cluster({ cluster: [A, 'tls://nats.example.com'] })?.servers, [
      A,
      'tls://nats.example.com',
    ])
  })

  test('take every key of the cluster: mapping', () => {
    const tls = { ca: 'ca.pem', cert: 'cert.pem', key: 'key.pem' }
    const s = cluster({
      cluster: {
        servers: [A],
        node: 'node-a',
        user: 'u',
        password: 'p',
        tls,
        replicas: 3,
        connectTimeout: 2000,
      },
    })
    assert.deepEqual(s, {
      ...base,
      node: 'node-a',
      user: 'u',
      password: 'p',
      tls,
      replicas: 3,
      connectTimeout: 2000,
    })
    const t = cluster({ cluster: { servers: [A], tokenFile: 'tok', tls: { ca: 'ca.pem' } } })
    assert.deepEqual(t, { ...base, tokenFile: 'tok', tls: { ca: 'ca.pem', cert: undefined, key: undefined } })
    assert.equal(cluster({ cluster: { servers: [A], user: 'u', passwordFile: 'pw' } })?.passwordFile, 'pw')
    assert.equal(cluster({ cluster: { servers: [A], token: 't' } })?.token, 't')
  })

  test('take --cluster, --cluster-node and --cluster-replicas alone', () => {
    const flags = new Map([
      ['cluster', `${A},${B}`],
      ['clusterNode', 'n1'],
      ['clusterReplicas', '3'],
    ])
    assert.deepEqual(cluster({}, flags), { ...base, servers: [A, B], node: 'n1', replicas: 3 })
  })

  test('let the flags override the file, field by field', () => {
    const file = { cluster: { servers: [A], node: 'a', replicas: 1, user: 'u', password: 'p' } }
    const s = cluster(
      file,
      new Map([
        ['cluster', B],
        ['clusterReplicas', '3'],
      ]),
    )
    assert.deepEqual(s, { ...base, servers: [B], node: 'a', replicas: 3, user: 'u', password: 'p' })
    assert.equal(cluster(file, new Map([['clusterNode', 'b']]))?.node, 'b')
  })

  const refusals: [string, Record<string, unknown>, Map<string, string>, RegExp][] = [
    [
      'a URL of another scheme',
      { cluster: { servers: ['http://h:4222'] } },
      none,
      /^f\.yaml: cluster\.servers: 'http:\/\/h:4222' must start with nats:\/\/ or tls:\/\/ \(e\.g\. nats:\/\/127\.0\.0\.1:4222\)$/,
    ],
    [
      'a host and port without a scheme, from the flag',
      {},
      new Map([['cluster', '127.0.0.1:4222']]),
      /^--cluster: '127\.0\.0\.1:4222' must start with nats:\/\/ or tls:\/\//,
    ],
    [
      'a URL with no host',
      {},
      new Map([['cluster', `${A},nats://`]]),
      /^--cluster: 'nats:\/\/' has no host; write nats:\/\/host:4222$/,
    ],
    [
      'a string that is no URL',
      { cluster: 'nats://a b' },
      none,
      /^f\.yaml: cluster: 'nats:\/\/a b' is not a URL/,
    ],
    [
      'credentials in a URL',
      { cluster: ['nats://u:p@h:4222'] },
      none,
      /^f\.yaml: cluster: 'nats:\/\/u:p@h:4222' holds credentials; give them as cluster: \{ user, password \}/,
    ],
    [
      'no URL at all',
      {},
      new Map([['cluster', ' , ']]),
      /^--cluster needs at least one NATS URL, e\.g\. nats:\/\/127\.0\.0\.1:4222$/,
    ],
    [
      'servers that are not strings',
      { cluster: { servers: [4222] } },
      none,
      /^f\.yaml: cluster\.servers must be NATS URLs: a list, or one string separated by commas; got \[4222\]$/,
    ],
    [
      'cluster: that is a number',
      { cluster: 1 },
      none,
      /^f\.yaml: cluster must be a mapping such as \{ servers:/,
    ],
    [
      'cluster: without servers',
      { cluster: { node: 'a' } },
      none,
      /^f\.yaml: cluster needs servers \(e\.g\. servers: \[nats:\/\/127\.0\.0\.1:4222\]\)$/,
    ],
    [
      '--cluster-node without servers',
      {},
      new Map([['clusterNode', 'a']]),
      /^--cluster-node needs --cluster \(or cluster: \{ servers \} in a config file\)$/,
    ],
    [
      'an unknown key under cluster:',
      { cluster: { servers: [A], replica: 3 } },
      none,
      /^f\.yaml: cluster: unknown key 'replica'; allowed keys: servers, node, user, password, passwordFile, token, tokenFile, tls, replicas, connectTimeout$/,
    ],
    [
      'replicas above 5',
      { cluster: { servers: [A], replicas: 7 } },
      none,
      /^f\.yaml: cluster\.replicas must be a whole number from 1 to 5; got 7$/,
    ],
    [
      'replicas of 0 from the flag',
      {},
      new Map([
        ['cluster', A],
        ['clusterReplicas', '0'],
      ]),
      /^--cluster-replicas must be a whole number from 1 to 5; got 0$/,
    ],
    [
      'replicas that are no number',
      {},
      new Map([
        ['cluster', A],
        ['clusterReplicas', 'three'],
      ]),
      /^--cluster-replicas must be a whole number from 1 to 5; got 'three'$/,
    ],
    [
      'a connectTimeout of 0',
      { cluster: { servers: [A], connectTimeout: 0 } },
      none,
      /^f\.yaml: cluster\.connectTimeout must be a whole number from 1 to 2147483647; got 0$/,
    ],
    [
      'a node name with a dot',
      {},
      new Map([
        ['cluster', A],
        ['clusterNode', 'a.b'],
      ]),
      /^--cluster-node must be a name of letters, digits, '-' and '_' \(e\.g\. node-a\); got 'a\.b'$/,
    ],
    [
      'a user without a password',
      { cluster: { servers: [A], user: 'u' } },
      none,
      /^f\.yaml: cluster: user needs a password \(password or passwordFile\)$/,
    ],
    [
      'a password without a user',
      { cluster: { servers: [A], passwordFile: 'pw' } },
      none,
      /^f\.yaml: cluster: a password needs a user \(user: NAME\)$/,
    ],
    [
      'a token and a user together',
      { cluster: { servers: [A], user: 'u', password: 'p', token: 't' } },
      none,
      /^f\.yaml: cluster: a token and a user\/password exclude each other; NATS takes one or the other$/,
    ],
    [
      'password and passwordFile together',
      { cluster: { servers: [A], user: 'u', password: 'p', passwordFile: 'pw' } },
      none,
      /^f\.yaml: cluster: password and passwordFile exclude each other; give one$/,
    ],
    [
      'token and tokenFile together',
      { cluster: { servers: [A], token: 't', tokenFile: 'tf' } },
      none,
      /^f\.yaml: cluster: token and tokenFile exclude each other; give one$/,
    ],
    [
      'an empty password',
      { cluster: { servers: [A], user: 'u', password: '' } },
      none,
      /^f\.yaml: cluster\.password must be a non-empty string; got ''$/,
    ],
    [
      'a TLS certificate without its key',
      { cluster: { servers: [A], tls: { cert: 'c.pem' } } },
      none,
      /^f\.yaml: cluster\.tls needs both cert and key \(a client certificate\), or neither$/,
    ],
    [
      'an unknown key under tls:',
      { cluster: { servers: [A], tls: { certfile: 'c.pem' } } },
      none,
      /^f\.yaml: cluster\.tls: unknown key 'certfile'; allowed keys: ca, cert, key$/,
    ],
    [
      'a flag name used as a file key',
      { clusterNode: 'a' },
      none,
      /^f\.yaml: clusterNode is a flag; in a file write cluster: \{ node: \.\.\. \}$/,
    ],
  ]
  for (const [what, file, flags, message] of refusals) {
    test(`refuses ${what} with one line`, () => {
      assert.throws(
        () => resolveSettings(file, 'f.yaml', flags),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError)
          assert.match(err.option, /^cluster/)
          assert.match(err.message, message)
          assert.doesNotMatch(err.message, /\n/)
          return true
        },
      )
    })
  }

  test('are read into ClusterOptions: secrets from files trimmed, TLS files as PEM contents', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'petrel-cluster-settings-'))
    try {
      const path = (name: string): string => join(dir, name)
      await writeFile(path('pw'), 's3cret\n')
      await writeFile(path('tok'), '  tok3n\n')
      await writeFile(path('ca.pem'), 'CA PEM\n')
      await writeFile(path('cert.pem'), 'CERT PEM\n')
      await writeFile(path('key.pem'), 'KEY PEM\n')
      const tls = { ca: path('ca.pem'), cert: path('cert.pem'), key: path('key.pem') }
      const s = {
        ...base,
        node: 'a',
        user: 'u',
        passwordFile: path('pw'),
        tls,
        replicas: 3,
        connectTimeout: 100,
      }
      assert.deepEqual(await loadClusterOptions(s), {
        servers: [A],
        node: 'a',
        user: 'u',
        password: 's3cret',
        tls: { ca: 'CA PEM\n', cert: 'CERT PEM\n', key: 'KEY PEM\n' },
        replicas: 3,
        connectTimeout: 100,
      })
      assert.deepEqual(await loadClusterOptions({ ...base, tokenFile: path('tok') }), {
        servers: [A],
        token: 'tok3n',
      })
      assert.deepEqual(await loadClusterOptions({ ...base, user: 'u', password: 'p' }), {
        servers: [A],
        user: 'u',
        password: 'p',
      })
      assert.deepEqual(await loadClusterOptions(base), { servers: [A] })

      await writeFile(path('empty'), '\n')
      await assert.rejects(loadClusterOptions({ ...base, tokenFile: path('empty') }), (err: unknown) => {
        assert.ok(err instanceof ConfigError)
        assert.equal(err.message, `the cluster token file ${path('empty')} is empty`)
        return true
      })
      const missing = path('missing.pem')
      await assert.rejects(
        loadClusterOptions({ ...base, tls: { ca: missing, cert: undefined, key: undefined } }),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError)
          assert.equal(err.message, `cannot read cluster TLS CA file ${missing}: no such file`)
          return true
        },
      )
      await assert.rejects(
        loadClusterOptions({ ...base, tls: { ca: undefined, cert: path('cert.pem'), key: dir } }),
        /^ConfigError: cannot read cluster TLS key file .+: a directory, not a file$/,
      )
      if (process.getuid?.() !== 0) {
        await chmod(path('pw'), 0o000)
        await assert.rejects(
          loadClusterOptions({ ...base, user: 'u', passwordFile: path('pw') }),
          /cannot read cluster password file .+pw: permission denied$/,
        )
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  test('are shown with paths as given and the password and token redacted', () => {
    const file = {
      cluster: {
        servers: [A],
        node: 'a',
        user: 'u',
        password: 'hunter2',
        tls: { ca: 'ca.pem' },
        replicas: 3,
      },
    }
    const shown = shownSettings(resolveSettings(file, 'f.yaml', none)).cluster
    assert.deepEqual(shown, {
      servers: [A],
      node: 'a',
      user: 'u',
      password: '[redacted]',
      tls: { ca: 'ca.pem' },
      replicas: 3,
    })
    const token = shownSettings(resolveSettings({ cluster: { servers: [A], token: 'T0K' } }, 'f', none))
    assert.deepEqual(token.cluster, { servers: [A], token: '[redacted]' })
    const files = { servers: [A], user: 'u', passwordFile: '/etc/pw' }
    const viaFile = shownSettings(resolveSettings({ cluster: files }, 'f', none))
    assert.deepEqual(viaFile.cluster, { servers: [A], user: 'u', passwordFile: '/etc/pw' })
    // and once more through the admin API's redaction: no secret comes out
    const api = JSON.stringify(redactConfig(shownSettings(resolveSettings(file, 'f.yaml', none))))
    assert.doesNotMatch(api, /hunter2/)
    assert.equal(shownSettings(resolveSettings({}, 'f', none)).cluster, undefined)
  })
})
