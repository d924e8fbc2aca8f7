/**
 * The HTTP endpoint's server: where it listens, its bearer token, HTTPS, the bounds on what a
 * request may send, and a clean close. (The parts it serves have their own tests.)
 */
import assert from 'node:assert/strict'
import { request as httpsRequest } from 'node:https'
import { connect as netConnect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import type { Logger } from '../../../src/broker/options.js'
import { ConfigError } from '../../../src/errors.js'
import { MAX_BODY_BYTES, startHttp } from '../../../src/http/server.js'
import { makePki, opensslSkip, type Pki } from '../../helpers/certs.js'
import { LOOPBACK } from '../../helpers/net.js'
import { assertResponse } from '../../helpers/openapi.js'

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} }

async function withBroker<T>(run: (b: Broker) => Promise<T>): Promise<T> {
  const broker = new Broker({ logger: quiet })
  await broker.listen({ port: 0, host: LOOPBACK })
  try {
    return await run(broker)
  } finally {
    await broker.close()
  }
}

/** Sends raw bytes and resolves with everything the server answers until it closes (bounded). */
function raw(port: number, bytes: string, ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, LOOPBACK)
    let got = ''
    const timer = setTimeout(() => {
      s.destroy()
      resolve(got)
    }, ms)
    s.setEncoding('utf8').on('data', (d: string) => (got += d))
    s.on('error', reject)
    s.on('close', () => {
      clearTimeout(timer)
      resolve(got)
    })
    s.write(bytes)
  })
}

/** The JSON body of a raw HTTP/1.1 answer sent with Content-Length. */
function bodyOf(answer: string): unknown {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))
}

describe('the HTTP endpoint', () => {
  test('listens on 127.0.0.1 unless told otherwise, and answers unknown paths 404 with the API error body', async () => {
    await withBroker(async (broker) => {
      const http = await startHttp(broker, { port: 0 })
      try {
        assert.equal(http.host, '127.0.0.1')
        assert.equal(http.url, `http://127.0.0.1:${http.port}`)
        const r = await fetch(`${http.url}/nowhere`)
        assert.equal(r.status, 404)
        assert.match(r.headers.get('content-type') ?? '', /^application\/json/)
        const body = (await r.json()) as { error: { code: string; message: string } }
        assert.equal(body.error.code, 'not-found')
      } finally {
        await http.close()
      }
    })
  })

  test('refuses a request body over the limit with 413, by Content-Length or as it arrives chunked, and goes on serving', async () => {
    await withBroker(async (broker) => {
      const http = await startHttp(broker, { port: 0 })
      try {
        const big = 'x'.repeat(MAX_BODY_BYTES + 1)
        const declared = await fetch(`${http.url}/metrics`, { method: 'POST', body: big })
        assert.equal(declared.status, 413)
        assert.equal(((await declared.json()) as { error: { code: string } }).error.code, 'too-large')
        const chunk = (n: number): string => `${n.toString(16)}\r\n${'y'.repeat(n)}\r\n`
        const chunked = await raw(
          http.port,
          `POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(MAX_BODY_BYTES)}${chunk(10)}`,
        )
        assert.match(chunked, /^HTTP\/1\.1 413 /)
        assert.match(chunked, /connection: close/i)
        assert.equal((await fetch(`${http.url}/healthz`)).status, 200)
      } finally {
        await http.close()
      }
    })
  })

  test('answers a request target that names no path 400, and a malformed request 400, and goes on serving', async () => {
    await withBroker(async (broker) => {
      const http = await startHttp(broker, { port: 0 })
      try {
        assert.match(await raw(http.port, 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', 1000), /^HTTP\/1\.1 400 /)
        assert.match(
          await raw(http.port, 'GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n', 1000),
          /^HTTP\/1\.1 400 /,
        )
        const absolute = await raw(
          http.port,
          `GET http://elsewhere/healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
          1000,
        )
        assert.match(absolute, /^HTTP\/1\.1 200 /, 'absolute-form: its path counts')
        assert.equal((await fetch(`${http.url}/healthz`)).status, 200)
      } finally {
        await http.close()
      }
    })
  })

  test('with a token: /metrics and /api/ need "Authorization: Bearer <token>" (401 and WWW-Authenticate otherwise); the probes do not', async () => {
    await withBroker(async (broker) => {
      const token = 's3cr3t-token'
      const http = await startHttp(broker, { port: 0, token })
      try {
        for (const path of ['/metrics', '/api/v1/broker']) {
          const none = await fetch(`${http.url}${path}`)
          assert.equal(none.status, 401, path)
          assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/)
          assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthorized')
          const wrong = await fetch(`${http.url}${path}`, {
            headers: { authorization: 'Bearer s3cr3t-tokeN' },
          })
          assert.equal(wrong.status, 401, `${path}: a wrong token`)
          const basic = await fetch(`${http.url}${path}`, { headers: { authorization: `Basic ${token}` } })
          assert.equal(basic.status, 401, `${path}: not a bearer token`)
        }
        const ok = await fetch(`${http.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
        assert.equal(ok.status, 200)
        assert.equal(
          (await fetch(`${http.url}/metrics?access_token=${token}`)).status,
          401,
          'query token: stream only',
        )
        assert.equal((await fetch(`${http.url}/healthz`)).status, 200)
        assert.equal((await fetch(`${http.url}/readyz`)).status, 200)
      } finally {
        await http.close()
      }
    })
  })

  test('refuses an empty token, or one with white space, TLS with only one of certificate and key, and one that is not PEM', async () => {
    await withBroker(async (broker) => {
      await assert.rejects(startHttp(broker, { port: 0, token: '' }), ConfigError)
      await assert.rejects(startHttp(broker, { port: 0, token: 'two words' }), ConfigError)
      await assert.rejects(startHttp(broker, { port: 0, cert: 'x' }), ConfigError)
      await assert.rejects(
        startHttp(broker, { port: 0, cert: 'not PEM', key: 'not PEM' }),
        /PEM|certificate|key/i,
      )
    })
  })

  test('rejects when the port is taken', async () => {
    await withBroker(async (broker) => {
      const first = await startHttp(broker, { port: 0 })
      try {
        await assert.rejects(startHttp(broker, { port: first.port }), /EADDRINUSE/)
      } finally {
        await first.close()
      }
    })
  })

  test('refuses a state-changing request a browser sends for another site (CSRF), without a token too', async () => {
    await withBroker(async (broker) => {
      broker.publish({ topic: 'keep/me', payload: 'x', retain: true })
      const http = await startHttp(broker, { port: 0 })
      try {
        const host = `127.0.0.1:${http.port}`
        const del = (headers: string): Promise<string> =>
          raw(
            http.port,
            `DELETE /api/v1/retained?topic=keep/me HTTP/1.1\r\nHost: ${host}\r\n${headers}Connection: close\r\n\r\n`,
          )
        const kick = (headers: string): Promise<string> =>
          raw(
            http.port,
            `POST /api/v1/clients/c1/kick HTTP/1.1\r\nHost: ${host}\r\n${headers}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
          )
        // a form on evil.example posting to the endpoint: the browser says where it comes from
        const forged = await kick('Origin: http://evil.example\r\n')
        assert.match(forged, /^HTTP\/1\.1 403 /)
        assertResponse('POST', '/api/v1/clients/c1/kick', 403, bodyOf(forged))
        assert.match(await kick('Sec-Fetch-Site: cross-site\r\n'), /^HTTP\/1\.1 403 /)
        assert.match(await kick('Origin: null\r\n'), /^HTTP\/1\.1 403 /)
        assert.match(
          await del('Origin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\n'),
          /^HTTP\/1\.1 403 /,
        )
        assert.equal(broker.retainedCount, 1, 'the retained message is still there')
        // the dashboard itself (same origin) and tools that send no Origin (curl) are served
        assert.match(
          await kick(`Origin: http://${host}\r\nSec-Fetch-Site: same-origin\r\n`),
          /^HTTP\/1\.1 404 /,
        )
        // behind a proxy that rewrites Host, the browser's Sec-Fetch-Site is what counts
        assert.match(
          await kick('Origin: https://mqtt-ops.example\r\nSec-Fetch-Site: same-origin\r\n'),
          /^HTTP\/1\.1 404 /,
        )
        assert.match(await del(''), /^HTTP\/1\.1 200 /)
        assert.equal(broker.retainedCount, 0)
        // reading is not changed by it
        const r = await raw(
          http.port,
          `GET /api/v1/broker HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://evil.example\r\nConnection: close\r\n\r\n`,
        )
        assert.match(r, /^HTTP\/1\.1 200 /)
      } finally {
        await http.close()
      }
    })
  })

  test('no spelling of a path reaches data without the token, nor a file outside the dashboard', async () => {
    await withBroker(async (broker) => {
      const http = await startHttp(broker, { port: 0, token: 'sesame' })
      try {
        const get = async (path: string): Promise<string> =>
          raw(http.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
        const data = [
          '//metrics',
          '/./metrics',
          '/x/../metrics',
          '/metrics/',
          '/METRICS',
          '//api/v1/clients',
          '/api//v1/clients',
          '/api/v1/../v1/clients',
          '/%61pi/v1/clients',
          '/api/v1/clients/%2e%2e',
          '/api/v1/stream?token=sesame',
          'http://localhost/api/v1/broker',
        ]
        for (const path of data) {
          const r = await get(path)
          assert.match(r, /^HTTP\/1\.1 (401|404) /, `${path}: ${r.slice(0, 40)}`)
          assert.doesNotMatch(r, /petrel_|"items"|"version"/, path)
        }
        const files = [
          '/../package.json',
          '/%2e%2e/package.json',
          '/..%2fpackage.json',
          '/vendor/../../package.json',
          '/vendor/..%2f..%2fpackage.json',
          '/dashboard/index.html',
          '/app.js/../../package.json',
          '/vendor/uPlot.iife.min.js/..',
        ]
        for (const path of files) {
          const r = await get(path)
          assert.doesNotMatch(r, /"name": "petrel"|"dependencies"/, path)
          assert.doesNotMatch(r, /^HTTP\/1\.1 200 /, path)
        }
        // the page itself is open, and says it runs nothing from elsewhere
        const page = await get('/')
        assert.match(page, /^HTTP\/1\.1 200 /)
        assert.match(page, /content-security-policy: default-src 'self'/i)
        assert.match(page, /x-content-type-options: nosniff/i)
      } finally {
        await http.close()
      }
    })
  })

  test('without a token, on loopback, answers only requests that name this machine (DNS rebinding)', async () => {
    await withBroker(async (broker) => {
      const open = await startHttp(broker, { port: 0 })
      const withToken = await startHttp(broker, { port: 0, token: 'sesame' })
      try {
        const get = (port: number, host: string, auth = ''): Promise<string> =>
          raw(port, `GET /api/v1/broker HTTP/1.1\r\nHost: ${host}\r\n${auth}Connection: close\r\n\r\n`)
        // a page on evil.example whose name now resolves to 127.0.0.1 sends its own name
        const rebound = await get(open.port, `evil.example:${open.port}`)
        assert.match(rebound, /^HTTP\/1\.1 403 /)
        assert.doesNotMatch(rebound, /"version"/)
        assertResponse('GET', '/api/v1/broker', 403, bodyOf(rebound))
        // the probes hold nothing and stay open
        const probe = await raw(
          open.port,
          'GET /readyz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n',
        )
        assert.match(probe, /^HTTP\/1\.1 200 /)
        for (const host of [
          `127.0.0.1:${open.port}`,
          `localhost:${open.port}`,
          `[::1]:${open.port}`,
          '127.0.0.1',
        ]) {
          assert.match(await get(open.port, host), /^HTTP\/1\.1 200 /, host)
        }
        // with a token the token is the guard, whatever name the endpoint is reached by
        const named = await get(withToken.port, 'broker.internal', 'Authorization: Bearer sesame\r\n')
        assert.match(named, /^HTTP\/1\.1 200 /)
      } finally {
        await open.close()
        await withToken.close()
      }
    })
  })

  test('close() ends open connections, half-sent requests included, and may be called twice', async () => {
    await withBroker(async (broker) => {
      const http = await startHttp(broker, { port: 0 })
      // a keep-alive connection left open and a request half sent
      const idle = netConnect(http.port, LOOPBACK)
      const closed = new Promise<void>((resolve) => idle.on('close', () => resolve()))
      idle.on('error', () => {})
      idle.write('GET /healthz HTTP/1.1\r\nHost: x\r\n')
      await new Promise((r) => setTimeout(r, 50))
      await Promise.all([http.close(), http.close()])
      await closed
      await assert.rejects(fetch(`${http.url}/healthz`))
    })
  })
})

describe('the HTTP endpoint over TLS', { skip: opensslSkip() }, () => {
  let pki: Pki
  before(async () => {
    pki = await makePki()
  })
  after(async () => {
    await pki?.remove()
  })

  test('speaks HTTPS with the given certificate and key, and not plain HTTP', async () => {
    await withBroker(async (broker) => {
      const http = await startHttp(broker, { port: 0, cert: pki.serverCert, key: pki.serverKey })
      try {
        assert.equal(http.url, `https://127.0.0.1:${http.port}`)
        const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpsRequest(`${http.url}/healthz`, { ca: pki.ca }, (res) => {
            let body = ''
            res.setEncoding('utf8').on('data', (d: string) => (body += d))
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
          })
          req.on('error', reject).end()
        })
        assert.equal(status, 200)
        assert.deepEqual(JSON.parse(body), { status: 'ok' })
        const plain = await raw(http.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 1000)
        assert.doesNotMatch(plain, /^HTTP\/1\.1 200/)
      } finally {
        await http.close()
      }
    })
  })
})
