import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

/**
 * The map of src/ as docs/architecture.md draws it, checked on the sources: every
 * import (type imports too) points down the layers, and no file reaches itself
 * through its imports.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src')

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) sources(p, out)
    else if (name.endsWith('.ts')) out.push(p)
  }
  return out
}

const graph = new Map<string, string[]>()
for (const file of sources(root)) {
  const text = readFileSync(file, 'utf8')
  const deps = [...text.matchAll(/(?:from|import)\s+'(\.{1,2}\/[^']+)'/g)].map((m) =>
    resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts')),
  )
  graph.set(relative(root, file), [...new Set(deps.map((d) => relative(root, d)))])
}

test('src/ has no import cycles', () => {
  const done = new Set<string>()
  const path: string[] = []
  const cycles: string[] = []
  const visit = (f: string): void => {
    const at = path.indexOf(f)
    if (at >= 0) {
      cycles.push([...path.slice(at), f].join(' -> '))
      return
    }
    if (done.has(f)) return
    path.push(f)
    for (const d of graph.get(f) ?? []) visit(d)
    path.pop()
    done.add(f)
  }
  for (const f of graph.keys()) visit(f)
  assert.deepEqual(cycles, [])
})

/** Top-level files every layer may use: errors, the version, reading a file a user named. */
const SHARED = ['errors', 'version', 'read-file']

test('imports point down the layers: cli -> http -> broker, client -> session, store, transport -> protocol', () => {
  const layer = (f: string): string => f.split('/')[0]!.replace(/\.ts$/, '')
  // what each layer may import, besides itself and the shared errors.ts / version.ts / read-file.ts
  const allowed: Record<string, string[]> = {
    protocol: [],
    session: ['protocol'],
    transport: [],
    store: ['protocol'],
    // the broker loads src/cluster/ by a dynamic import, only when a cluster is configured
    broker: ['protocol', 'session', 'store', 'transport'],
    // a node's membership of a cluster over NATS: it serves the broker through ClusterBridge/ClusterHost
    cluster: ['broker', 'protocol', 'session', 'store'],
    client: ['protocol', 'session', 'transport'],
    cli: ['auth', 'broker', 'client', 'http', 'protocol', 'session', 'store', 'transport'],
    // the operator's HTTP endpoint: reads the broker, never the other way round
    http: ['broker', 'protocol', 'store'],
    // SCRAM: a broker hook set and a client auth handler; it uses their types, they never import it
    auth: ['broker', 'client', 'protocol'],
  }
  const wrong: string[] = []
  for (const [file, deps] of graph) {
    const from = layer(file)
    const ok = allowed[from]
    if (ok === undefined) continue // index.ts, errors.ts, version.ts, read-file.ts
    for (const d of deps) {
      const to = layer(d)
      if (to !== from && !SHARED.includes(to) && !ok.includes(to)) wrong.push(`${file} -> ${d}`)
    }
  }
  assert.deepEqual(wrong, [])
  assert.ok(graph.size > 50, `read ${graph.size} files`)
})

test('broker connections know the protocol handlers only through the Peer seam', () => {
  for (const f of ['broker/connection.ts', 'broker/connection-state.ts', 'broker/session.ts']) {
    const deps = graph.get(f)!
    for (const d of deps) {
      assert.ok(
        !d.startsWith('broker/handlers/') && d !== 'broker/broker.ts' && d !== 'broker/protocol.ts',
        `${f} imports ${d}`,
      )
    }
  }
})

test('a single node loads nothing of NATS: only src/cluster/ imports @nats-io, and nothing outside it imports src/cluster/ but by a dynamic import', () => {
  const nats: string[] = []
  const into: string[] = []
  for (const file of sources(root)) {
    const rel = relative(root, file)
    if (rel.startsWith('cluster/')) continue
    const text = readFileSync(file, 'utf8')
    if (/from\s+'@nats-io\//.test(text)) nats.push(rel)
    for (const d of graph.get(rel) ?? []) if (d.startsWith('cluster/')) into.push(`${rel} -> ${d}`)
  }
  assert.deepEqual(nats, [])
  assert.deepEqual(into, [])
  // the one way in: broker.ts's `await import('../cluster/index.js')` when `cluster` is given
  assert.match(
    readFileSync(join(root, 'broker/broker.ts'), 'utf8'),
    /await import\('\.\.\/cluster\/index\.js'\)/,
  )
})
