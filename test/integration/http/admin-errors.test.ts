/**
 * The admin API's refusals: a query parameter that is not valid is a 400 naming it, a method a
 * path does not take a 405 with Allow, each with the error body openapi.yaml describes. And the
 * helper that checks bodies against openapi.yaml does refuse what does not conform.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { assertResponse, openApiDocument, responseValidator } from '../../helpers/openapi.js'
import { adminRig } from './admin-rig.js'

const BAD: [method: string, path: string, names: string][] = [
  ['GET', '/api/v1/clients?limit=1001', 'limit'],
  ['GET', '/api/v1/clients?limit=-1', 'limit'],
  ['GET', '/api/v1/clients?limit=ten', 'limit'],
  ['GET', '/api/v1/clients?offset=1.5', 'offset'],
  ['GET', '/api/v1/clients?offset=99999999999999999', 'offset'],
  ['GET', '/api/v1/clients?connected=yes', 'connected'],
  ['GET', '/api/v1/clients?sort=age', 'sort'],
  ['GET', '/api/v1/clients?order=up', 'order'],
  ['GET', '/api/v1/subscriptions?match=a%2F%2B', 'match'],
  ['GET', '/api/v1/subscriptions?limit=5000', 'limit'],
  ['GET', '/api/v1/retained?filter=a%2F%23%2Fb', 'filter'],
  ['GET', '/api/v1/retained?offset=x', 'offset'],
  ['DELETE', '/api/v1/retained', 'topic'],
  ['DELETE', '/api/v1/retained?topic=a%2F%23', 'topic'],
  ['GET', '/api/v1/clients/%E0%A4%A', 'client id'],
]

test('answers 400 bad-request, naming the parameter, for a query that is not valid', async (t) => {
  const rig = await adminRig(t)
  for (const [method, path, name] of BAD) {
    const r = await rig.call<{ error: { code: string; message: string } }>(method, path)
    assert.equal(r.status, 400, `${method} ${path}`)
    assert.equal(r.body.error.code, 'bad-request', `${method} ${path}`)
    assert.ok(r.body.error.message.includes(name), `${method} ${path}: ${r.body.error.message}`)
  }
})

test('answers 405 method-not-allowed with Allow for a method a path does not take', async (t) => {
  const rig = await adminRig(t)
  const cases: [string, string, string][] = [
    ['POST', '/api/v1/clients', 'GET, HEAD'],
    ['DELETE', '/api/v1/broker', 'GET, HEAD'],
    ['PUT', '/api/v1/retained', 'GET, HEAD, DELETE'],
    ['POST', '/api/v1/subscriptions', 'GET, HEAD'],
    ['DELETE', '/api/v1/clients/someone', 'GET, HEAD'],
  ]
  for (const [method, path, allow] of cases) {
    const r = await rig.call<{ error: { code: string } }>(method, path)
    assert.equal(r.status, 405, `${method} ${path}`)
    assert.equal(r.body.error.code, 'method-not-allowed')
    assert.equal(r.headers.get('allow'), allow, `${method} ${path}`)
  }
})

test('a client path with more parts is not the admin API: 404', async (t) => {
  const rig = await adminRig(t)
  const r = await fetch(`${rig.url}/api/v1/clients/a/b/c`)
  assert.equal(r.status, 404)
  assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'not-found')
})

test('the OpenAPI check refuses a body that does not conform: a field missing, one too many, a wrong type', () => {
  const summary = {
    clientId: 'c',
    username: null,
    address: null,
    protocolVersion: 4,
    connected: false,
    connectedSince: null,
    keepalive: 0,
    cleanSession: false,
    sessionExpiryInterval: 60,
    subscriptions: 0,
    inflight: 0,
    queued: 0,
    bytesIn: 0,
    bytesOut: 0,
    messagesIn: 0,
    messagesOut: 0,
  }
  const page = (items: unknown[]): unknown => ({ total: items.length, offset: 0, limit: 50, items })
  assertResponse('GET', '/api/v1/clients', 200, page([summary]))
  assertResponse('GET', '/api/v1/clients/c', 200, { ...summary, subscriptionList: [] })
  const { bytesIn: _, ...missing } = summary
  assert.throws(() => assertResponse('GET', '/api/v1/clients', 200, page([missing])), /bytesIn/)
  assert.throws(() => assertResponse('GET', '/api/v1/clients', 200, page([{ ...summary, extra: 1 }])))
  assert.throws(() => assertResponse('GET', '/api/v1/clients/c', 200, { ...summary, subscriptionList: 3 }))
  assert.throws(() =>
    assertResponse('GET', '/api/v1/clients/c', 200, { ...summary, connectedSince: 'yesterday' }),
  )
  assert.throws(() => assertResponse('GET', '/api/v1/broker', 418, {}), /not described/)
})

test('openapi.yaml: OpenAPI 3.1, every $ref resolves and every JSON response schema compiles (Ajv strict)', () => {
  const doc = openApiDocument() as unknown as {
    openapi: string
    paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>
  }
  assert.match(doc.openapi, /^3\.1\./)
  const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? []
  for (const r of refs) {
    const path = r.slice('"$ref":"#/'.length, -1).split('/')
    let at: unknown = doc
    for (const p of path) at = (at as Record<string, unknown> | undefined)?.[p]
    assert.ok(at !== undefined, `${r} resolves`)
  }
  let compiled = 0
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      for (const status of Object.keys(op.responses ?? {})) {
        try {
          responseValidator(method, path, Number(status))
          compiled++
        } catch (err) {
          // text/plain (/metrics) and text/event-stream (/api/v1/stream) have no JSON schema
          assert.match(String(err), /has no application\/json schema/, `${method} ${path} ${status}`)
        }
      }
    }
  }
  assert.ok(compiled > 40, `${compiled} response schemas compiled`)
})
