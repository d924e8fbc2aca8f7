/**
 * Checks HTTP responses against docs/openapi.yaml, the one description of the operator
 * endpoint: each operation's response schema for a status and content type is compiled with
 * Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) and a body that does not conform fails
 * the test, naming what is wrong.
 *
 *   assertResponse('GET', '/api/v1/clients/abc', 200, body)   // a path, or a path template
 *   const r = await fetchChecked(endpoint.url, 'GET', '/api/v1/clients?limit=5')
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { AnySchema, ValidateFunction } from 'ajv'
import { parse } from 'yaml'

type Json = Record<string, unknown>

interface Document {
  paths: Record<string, Record<string, Json>>
  components: { schemas: Record<string, unknown>; responses: Record<string, Json> }
}

/** Where the components' schemas are registered with Ajv: `#/components/schemas/X` refs are rewritten to it. */
const SCHEMAS_ID = 'https://petrel.invalid/openapi/schemas'
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options']

/** Ajv's 2020-12 class (CommonJS: loaded with require, so the class itself whatever the interop). */
const Ajv2020 = createRequire(import.meta.url)(
  'ajv/dist/2020.js',
) as typeof import('ajv/dist/2020.js').default

let loaded: {
  doc: Document
  ajv: InstanceType<typeof Ajv2020>
  cache: Map<string, ValidateFunction>
} | null = null

/** docs/openapi.yaml of this repository, found above this file (test/helpers/ or build/test/helpers/). */
export function openApiPath(): string {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    const file = new URL('docs/openapi.yaml', dir)
    if (existsSync(file)) return file.pathname
    if (dir.pathname === '/') throw new Error('docs/openapi.yaml not found above test/helpers')
  }
}

/** The parsed OpenAPI document (read once). */
export function openApiDocument(): Document {
  return load().doc
}

function load(): NonNullable<typeof loaded> {
  if (loaded !== null) return loaded
  const doc = parse(readFileSync(openApiPath(), 'utf8')) as Document
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true })
  // OpenAPI's own annotation keywords, and the one format the document uses
  ajv.addKeyword('example')
  ajv.addFormat('date-time', {
    type: 'string',
    validate: (s: string) =>
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)),
  })
  ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewriteRefs(doc.components.schemas) } as AnySchema)
  loaded = { doc, ajv, cache: new Map() }
  return loaded
}

/** A copy of `value` whose `#/components/schemas/X` refs point at the schemas registered with Ajv. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs)
  if (typeof value !== 'object' || value === null) return value
  const out: Json = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')
        ? `${SCHEMAS_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`
        : rewriteRefs(v)
  }
  return out
}

/** The path template of the document that `path` (concrete or a template; query ignored) is. */
export function pathTemplate(path: string): string {
  const bare = path.split('?', 1)[0]!
  const { paths } = openApiDocument()
  if (bare in paths) return bare
  for (const template of Object.keys(paths)) {
    const re = new RegExp(`^${template.replace(/\{[^/}]+\}/g, '[^/]+').replace(/[.]/g, '\\.')}$`)
    if (re.test(bare)) return template
  }
  throw new assert.AssertionError({ message: `openapi.yaml describes no path like ${bare}` })
}

/** The operation of a method and path; fails when the document has none. */
export function operation(method: string, path: string): Json {
  const template = pathTemplate(path)
  const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase()
  const op = openApiDocument().paths[template]?.[m]
  if (op === undefined || !METHODS.includes(m))
    throw new assert.AssertionError({ message: `openapi.yaml has no ${method} ${template}` })
  return op
}

function hasOperation(method: string, template: string): boolean {
  const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase()
  return openApiDocument().paths[template]?.[m] !== undefined
}

/** The compiled schema of an operation's response (status, content type); fails when it is not described. */
export function responseValidator(
  method: string,
  path: string,
  status: number,
  contentType = 'application/json',
): ValidateFunction {
  const { ajv, cache, doc } = load()
  const template = pathTemplate(path)
  const key = `${method.toUpperCase()} ${template} ${status} ${contentType}`
  const cached = cache.get(key)
  if (cached !== undefined) return cached
  // a method a path does not take: every path answers it with the document's 405
  const undescribed = status === 405 && !hasOperation(method, template)
  const responses = undescribed
    ? { '405': { $ref: '#/components/responses/MethodNotAllowed' } }
    : (operation(method, template).responses as Record<string, Json> | undefined)
  let response = responses?.[String(status)]
  if (response === undefined)
    throw new assert.AssertionError({ message: `openapi.yaml: ${key} is not described` })
  const ref = response.$ref
  if (typeof ref === 'string') response = doc.components.responses[ref.split('/').pop()!]!
  const content = response.content as Record<string, { schema?: unknown }> | undefined
  const schema = content?.[contentType]?.schema
  if (schema === undefined)
    throw new assert.AssertionError({ message: `openapi.yaml: ${key} has no ${contentType} schema` })
  const validate = ajv.compile(rewriteRefs(schema) as AnySchema)
  cache.set(key, validate)
  return validate
}

/** Fails unless `body` is what the document says `method path` answers with `status`. */
export function assertResponse(
  method: string,
  path: string,
  status: number,
  body: unknown,
  contentType = 'application/json',
): void {
  const validate = responseValidator(method, path, status, contentType)
  if (validate(body)) return
  const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''}`)
  throw new assert.AssertionError({
    message: `${method} ${path} ${status}: the body does not conform to openapi.yaml:\n  ${errors.join('\n  ')}\nbody: ${JSON.stringify(body).slice(0, 2000)}`,
  })
}

export interface CheckedResponse<T = unknown> {
  status: number
  headers: Headers
  /** Parsed JSON (or the text, for other content types). */
  body: T
}

/**
 * Makes a request and checks its answer against the document (status described, body conforms
 * for JSON; for other content types only that the type is described).
 */
export async function fetchChecked<T = unknown>(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<CheckedResponse<T>> {
  const res = await fetch(`${base}${path}`, { method, headers })
  const type = (res.headers.get('content-type') ?? '').split(';', 1)[0]!.trim()
  const text = await res.text()
  if (type === 'application/json') {
    const body = JSON.parse(text) as T
    assertResponse(method, path, res.status, body)
    return { status: res.status, headers: res.headers, body }
  }
  responseValidator(method, path, res.status, type)
  return { status: res.status, headers: res.headers, body: text as T }
}
