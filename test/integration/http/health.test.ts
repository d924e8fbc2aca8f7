/**
 * /healthz and /readyz as Kubernetes probes read them: liveness while the process serves,
 * readiness only while the broker can take clients.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import type { Logger } from '../../../src/broker/options.js'
import { startHttp } from '../../../src/http/server.js'
import { LOOPBACK } from '../../helpers/net.js'

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} }

interface Ready {
  status: string
  checks: { store: boolean; listeners: boolean; closing: boolean }
}

async function readyz(url: string): Promise<{ status: number; body: Ready }> {
  const r = await fetch(`${url}/readyz`)
  return { status: r.status, body: (await r.json()) as Ready }
}

describe('health probes', () => {
  test('/healthz answers 200 {"status":"ok"} while the process serves', async () => {
    const broker = new Broker({ logger: quiet })
    const http = await startHttp(broker, { port: 0 })
    try {
      const r = await fetch(`${http.url}/healthz`)
      assert.equal(r.status, 200)
      assert.equal(r.headers.get('cache-control'), 'no-store')
      assert.deepEqual(await r.json(), { status: 'ok' })
    } finally {
      await http.close()
      await broker.close()
    }
  })

  test('/readyz is 503 "not-ready" until a listener is open, then 200 "ready" with every check', async () => {
    const broker = new Broker({ logger: quiet })
    const http = await startHttp(broker, { port: 0 })
    try {
      await broker.ready
      const before = await readyz(http.url)
      assert.equal(before.status, 503)
      assert.deepEqual(before.body, {
        status: 'not-ready',
        checks: { store: true, listeners: false, closing: false },
      })
      await broker.listen({ port: 0, host: LOOPBACK })
      const after = await readyz(http.url)
      assert.equal(after.status, 200)
      assert.deepEqual(after.body, {
        status: 'ready',
        checks: { store: true, listeners: true, closing: false },
      })
    } finally {
      await http.close()
      await broker.close()
    }
  })

  test('/readyz turns 503 with closing: true as soon as the broker starts shutting down; /healthz stays 200', async () => {
    const broker = new Broker({ logger: quiet })
    await broker.listen({ port: 0, host: LOOPBACK })
    const http = await startHttp(broker, { port: 0 })
    try {
      assert.equal((await readyz(http.url)).status, 200)
      const closing = broker.close()
      const r = await readyz(http.url)
      assert.equal(r.status, 503)
      assert.equal(r.body.status, 'not-ready')
      assert.equal(r.body.checks.closing, true)
      assert.equal((await fetch(`${http.url}/healthz`)).status, 200)
      await closing
    } finally {
      await http.close()
    }
  })

  test('answers HEAD without a body, and other methods 405 with Allow', async () => {
    const broker = new Broker({ logger: quiet })
    await broker.listen({ port: 0, host: LOOPBACK })
    const http = await startHttp(broker, { port: 0 })
    try {
      const head = await fetch(`${http.url}/readyz`, { method: 'HEAD' })
      assert.equal(head.status, 200)
      assert.equal(await head.text(), '')
      const post = await fetch(`${http.url}/healthz`, { method: 'POST' })
      assert.equal(post.status, 405)
      assert.equal(post.headers.get('allow'), 'GET, HEAD')
      assert.equal(((await post.json()) as { error: { code: string } }).error.code, 'method-not-allowed')
    } finally {
      await http.close()
      await broker.close()
    }
  })
})
