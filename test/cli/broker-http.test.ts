/**
 * `petrel broker --http-port` as a process: the endpoint it announces, its probes and metrics,
 * a token from a file, HTTPS, the one-line refusals, and the endpoint closed on SIGTERM.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { makePki, opensslSkip, type Pki } from '../helpers/certs.js'
import { type Background, petrel, spawnPetrel } from './petrel-cli.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petrel-cli-http-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

interface HttpLine {
  msg: string
  protocol: string
  host: string
  port: number
  url: string
  token: boolean
}

/** Starts `petrel broker --memory --port 0 ...args` and waits for its HTTP endpoint's line. */
async function startWithHttp(args: readonly string[]): Promise<{ bg: Background; http: HttpLine }> {
  const bg = spawnPetrel(['broker', '--memory', '--port', '0', '--host', '127.0.0.1', ...args])
  try {
    const line = await bg.waitFor(/^\{.*"msg":"petrel http endpoint on.*$/m)
    return { bg, http: JSON.parse(line) as HttpLine }
  } catch (err) {
    await bg.stop('SIGKILL')
    throw err
  }
}

describe('petrel broker --http-port', () => {
  test('announces the endpoint, serves /healthz, /readyz and /metrics, and closes it on SIGTERM', async () => {
    const { bg, http } = await startWithHttp(['--http-port', '0'])
    try {
      assert.equal(http.protocol, 'http')
      assert.equal(http.host, '127.0.0.1')
      assert.equal(http.url, `http://127.0.0.1:${http.port}`)
      assert.equal(http.token, false)
      assert.deepEqual(await (await fetch(`${http.url}/healthz`)).json(), { status: 'ok' })
      assert.equal((await fetch(`${http.url}/readyz`)).status, 200)
      const metrics = await fetch(`${http.url}/metrics`)
      assert.equal(metrics.status, 200)
      assert.match(await metrics.text(), /^petrel_connections 0$/m)
    } finally {
      const exit = await bg.stop()
      assert.deepEqual(exit, { code: 0, signal: null })
    }
    await assert.rejects(fetch(`${http.url}/healthz`), 'the endpoint is closed with the broker')
  })

  test('with --http-token-file: /metrics needs the token, the probes do not', async () => {
    const tokenFile = join(dir, 'token')
    await writeFile(tokenFile, 'file-token-1\n', { mode: 0o600 })
    const { bg, http } = await startWithHttp(['--http-port', '0', '--http-token-file', tokenFile])
    try {
      assert.equal(http.token, true)
      assert.equal((await fetch(`${http.url}/metrics`)).status, 401)
      const ok = await fetch(`${http.url}/metrics`, { headers: { authorization: 'Bearer file-token-1' } })
      assert.equal(ok.status, 200)
      assert.equal((await fetch(`${http.url}/healthz`)).status, 200)
    } finally {
      await bg.stop()
    }
  })

  test('takes http: from a config file', async () => {
    const config = join(dir, 'http.yaml')
    await writeFile(config, 'http:\n  port: 0\n  host: 127.0.0.1\n')
    const { bg, http } = await startWithHttp(['-c', config])
    try {
      assert.equal((await fetch(`${http.url}/healthz`)).status, 200)
    } finally {
      await bg.stop()
    }
  })

  const refusals: [string, string[], RegExp][] = [
    [
      'a port that is not a number',
      ['--http-port', 'web'],
      /^petrel broker: --http-port must be a whole number from 0 to 65535; got 'web'\n$/,
    ],
    ['--http-host alone', ['--http-host', '0.0.0.0'], /^petrel broker: --http-host needs --http-port/],
    [
      'an unreadable token file',
      ['--http-port', '0', '--http-token-file', '/nonexistent/token'],
      /^petrel broker: cannot read HTTP token file \/nonexistent\/token: no such file\n$/,
    ],
  ]
  for (const [what, args, stderr] of refusals) {
    test(`refuses ${what} with one line and exit code 2`, async () => {
      const r = await petrel(['broker', '--memory', '--port', '0', ...args])
      assert.equal(r.code, 2)
      assert.match(r.stderr, stderr)
    })
  }

  test('refuses a certificate file that is not PEM with one line and exit code 2', async () => {
    const bad = join(dir, 'bad.pem')
    await writeFile(bad, 'not a certificate\n')
    const r = await petrel([
      'broker',
      '--memory',
      '--port',
      '0',
      '--http-port',
      '0',
      '--http-cert',
      bad,
      '--http-key',
      bad,
    ])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /^petrel broker: the HTTP endpoint: the certificate or key is not usable: .+\n$/)
  })

  test('refuses a port in use with one line and exit code 1, closing the broker', async () => {
    const { bg, http } = await startWithHttp(['--http-port', '0'])
    try {
      const r = await petrel(['broker', '--memory', '--port', '0', '--http-port', String(http.port)])
      assert.equal(r.code, 1)
      assert.match(
        r.stderr,
        new RegExp(
          `^petrel broker: cannot listen on http 127\\.0\\.0\\.1:${http.port}: address already in use\\n$`,
        ),
      )
    } finally {
      await bg.stop()
    }
  })
})

describe('petrel broker --http-cert --http-key', { skip: opensslSkip() }, () => {
  let pki: Pki
  before(async () => {
    pki = await makePki()
  })
  after(async () => {
    await pki?.remove()
  })

  test('serves the endpoint over HTTPS', async () => {
    const { bg, http } = await startWithHttp([
      '--http-port',
      '0',
      '--http-cert',
      pki.files.serverCert,
      '--http-key',
      pki.files.serverKey,
    ])
    try {
      assert.equal(http.protocol, 'https')
      assert.equal(http.url, `https://127.0.0.1:${http.port}`)
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest(`${http.url}/healthz`, { ca: pki.ca }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject).end()
      })
      assert.equal(status, 200)
    } finally {
      await bg.stop()
    }
  })
})
