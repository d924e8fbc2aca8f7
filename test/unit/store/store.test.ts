import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { MemoryStore } from '../../../src/store/memory/memory-store.js'
import { SqliteStore } from '../../../src/store/sqlite/sqlite-store.js'
import type { Store } from '../../../src/store/store.js'
import { storeSuite } from './store-suite.js'

storeSuite({
  name: 'memory',
  open: async () => new MemoryStore(),
  reopen: async (old) => old,
})

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
const paths = new WeakMap<Store, string>()

storeSuite({
  name: 'sqlite',
  open: async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-store-'))
    dirs.push(dir)
    const s = await SqliteStore.open({ dataDir: dir })
    paths.set(s, dir)
    return s
  },
  reopen: async (old) => {
    const dir = paths.get(old)!
    old.close()
    const s = await SqliteStore.open({ dataDir: dir })
    paths.set(s, dir)
    return s
  },
})
