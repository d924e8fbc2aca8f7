import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

/**
 * Every MQTT 5.0 normative statement that applies to Petrel (server, client or both) is
 * cited by its id, `[MQTT-x.y.z-n]`, in a test of MQTT 5 behaviour. The statements are
 * data: test/spec/mqtt5-statements-*.json, one file per part of the specification, each
 * an array of `{ id, text, applies: 'server' | 'client' | 'both' | 'none', why? }`.
 *
 * MQTT 3.1.1 numbers its statements differently (its 3.1.2-24 is the keep-alive rule,
 * MQTT 5's is Maximum Packet Size) and the 3.1.1 tests cite 3.1.1 ids, so a citation
 * counts only where it is about MQTT 5: in a file whose path names `v5`, or on a line
 * that says `MQTT 5` or `v5`.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const testDir = join(root, 'test')
const specDir = join(testDir, 'spec')

interface Statement {
  id: string
  text: string
  applies: 'server' | 'client' | 'both' | 'none'
  why?: string
}

function files(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) files(p, out)
    else if (!name.endsWith('.json')) out.push(p)
  }
  return out
}

function statements(): Statement[] {
  const lists = readdirSync(specDir).filter((n) => /^mqtt5-statements-.*\.json$/.test(n))
  assert.ok(lists.length > 0, 'no test/spec/mqtt5-statements-*.json')
  return lists.flatMap((n) => JSON.parse(readFileSync(join(specDir, n), 'utf8')) as Statement[])
}

/** The ids cited about MQTT 5 under test/, with the files that cite them. */
function citations(): Map<string, string[]> {
  const cited = new Map<string, string[]>()
  for (const file of files(testDir)) {
    const name = relative(testDir, file)
    const v5File = /v5/i.test(name)
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!v5File && !/MQTT 5|v5/.test(line)) continue
      for (const m of line.matchAll(/\[(MQTT-[^\]]+)\]/g)) {
        for (const id of m[1]!.matchAll(/MQTT-\d+(?:\.\d+)+-\d+/g)) {
          const at = cited.get(id[0]) ?? []
          at.push(name)
          cited.set(id[0], at)
        }
      }
    }
  }
  return cited
}

test('the statement lists are well formed: unique ids, a text, a known target, a reason when none', () => {
  const all = statements()
  const seen = new Set<string>()
  const bad: string[] = []
  for (const s of all) {
    if (!/^MQTT-\d+(\.\d+)+-\d+$/.test(s.id)) bad.push(`${s.id}: not an id`)
    if (seen.has(s.id)) bad.push(`${s.id}: listed twice`)
    seen.add(s.id)
    if (typeof s.text !== 'string' || s.text.length === 0) bad.push(`${s.id}: no text`)
    if (!['server', 'client', 'both', 'none'].includes(s.applies)) bad.push(`${s.id}: applies '${s.applies}'`)
    if (s.applies === 'none' && !s.why) bad.push(`${s.id}: applies none without a why`)
  }
  assert.deepEqual(bad, [])
})

test('every applicable MQTT 5 statement is cited by a test', () => {
  const cited = citations()
  const missing = statements()
    .filter((s) => s.applies !== 'none' && !cited.has(s.id))
    .map((s) => `${s.id} (${s.applies}): ${s.text}`)
  assert.deepEqual(missing, [], `${missing.length} applicable statements not cited:\n${missing.join('\n')}`)
})
