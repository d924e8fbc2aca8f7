/**
 * The SCRAM-SHA-256 example of docs/mqtt5.md runs as written: the fenced block after its
 * `scram-example` marker, with `from 'petrel'` pointing at this build and port 1883
 * replaced by a free loopback port; its `// prints:` comments are checked against stdout.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { freePort } from '../../helpers/net.js'

const DOC = fileURLToPath(new URL('../../../../docs/mqtt5.md', import.meta.url))
const INDEX = pathToFileURL(fileURLToPath(new URL('../../../src/index.js', import.meta.url))).href

test('the SCRAM-SHA-256 example of docs/mqtt5.md runs and prints what it says', {
  timeout: 20_000,
}, async () => {
  const doc = await readFile(DOC, 'utf8')
  const block = /<!-- scram-example[^>]*-->\n```ts\n([\s\S]*?)```/.exec(doc)
  assert.ok(block, 'the example and its marker are in docs/mqtt5.md')
  const port = await freePort()
  // The example is TypeScript written without type annotations, so it also runs as JavaScript
  const code = block[1]!.replaceAll("from 'petrel'", `from '${INDEX}'`).replaceAll('1883', String(port))
  const expected = [...code.matchAll(/\/\/ prints: (.*)$/gm)].map((m) => m[1]!)
  const dir = await mkdtemp(join(tmpdir(), 'petrel-scram-doc-'))
  try {
    const file = join(dir, 'example.mjs')
    await writeFile(file, code)
    const { code: exit, stdout, stderr } = await run(file)
    assert.equal(exit, 0, stderr)
    assert.deepEqual(stdout.trim().split('\n'), expected)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

function run(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
