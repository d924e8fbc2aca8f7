#!/usr/bin/env node
// Runs every compiled test file (build/test/**/*.test.js) with Node's built-in test runner.
// Node 20's --test takes no globs, so the files are listed here. Extra arguments are
// passed through; a path filter may be given with PETREL_TEST_FILTER=substring.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (name.endsWith('.test.js')) out.push(p)
  }
  return out
}

const filter = process.env.PETREL_TEST_FILTER ?? ''
const files = walk('build/test', [])
  .filter((f) => f.includes(filter))
  .sort()
if (files.length === 0) {
  console.error(`no test files found under build/test${filter ? ` matching '${filter}'` : ''}`)
  process.exit(1)
}
const r = spawnSync(
  process.execPath,
  ['--enable-source-maps', '--test', '--test-concurrency=2', ...process.argv.slice(2), ...files],
  { stdio: 'inherit' },
)
process.exit(r.status ?? 1)
