import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { SqliteStore, type SqliteStoreOptions } from '../../../src/store/sqlite/sqlite-store.js'

// WAL checkpoints run in a worker thread (src/store/sqlite/checkpointer.ts), so that no commit
// stalls on one; the log must stay bounded and every commit must survive close and kill -9.

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-ckpt-'))
  dirs.push(dir)
  return dir
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

const PAYLOAD = 200
/** Rows per commit, like a busy broker's turn. */
const ROWS_PER_COMMIT = 100
/** ~56 MB of log written in all: more than the bound below, so a log never checkpointed fails. */
const COMMITS = 2000
const WAL_BOUND = 40 * 1024 * 1024

function payloadOf(seq: number): Buffer {
  return Buffer.alloc(PAYLOAD, seq % 251)
}

/** Writes `commits` turns of deliveries to client 'c', a turn per event-loop turn; returns the largest WAL file seen. */
async function writeLoad(
  store: SqliteStore,
  dir: string,
  commits: number,
  rows = ROWS_PER_COMMIT,
): Promise<number> {
  store.saveSession('c', 0)
  let seq = 0
  let maxWal = 0
  for (let t = 0; t < commits; t++) {
    for (let i = 0; i < rows; i++) {
      seq++
      store.addDelivery('c', {
        seq,
        topic: 't',
        payload: payloadOf(seq),
        qos: 1,
        retain: false,
        packetId: 0,
        released: false,
      })
    }
    store.commit()
    maxWal = Math.max(maxWal, fileBytes(join(dir, 'petrel.db-wal')))
    await new Promise((r) => setTimeout(r, 0))
  }
  return maxWal
}

async function open(dataDir: string, more: Partial<SqliteStoreOptions> = {}): Promise<SqliteStore> {
  return SqliteStore.open({ dataDir, ...more })
}

describe('SQLite store WAL checkpoints', () => {
  it('moves the log into the database from a worker thread, keeping the log bounded under sustained commits', async () => {
    const dir = tempDir()
    const store = await open(dir)
    const maxWal = await writeLoad(store, dir, COMMITS)
    const dbBytes = fileBytes(join(dir, 'petrel.db'))
    const stats = store.checkpointStats()
    store.close()
    assert.ok(maxWal < WAL_BOUND, `the log reached ${maxWal} bytes`)
    // pages only reach the database file through a checkpoint
    assert.ok(dbBytes > 30_000_000, `the database file is ${dbBytes} bytes before close`)
    assert.equal(stats.inWorker, true)
    assert.ok(stats.byWorker > 0, 'the worker checkpointed')
    assert.equal(stats.boundedOnMain, 0, 'no full checkpoint ran in a commit')
    // the main connection only moves what the worker's last pass left, about once per 16 MiB of
    // log: in far fewer than 1 % of commits, so not in a commit's p99
    assert.ok(stats.finishedOnMain * 100 < COMMITS, `${stats.finishedOnMain} checkpoints finished in commits`)
  })

  it('keeps every committed message across close and reopen', async () => {
    const dir = tempDir()
    const store = await open(dir)
    await writeLoad(store, dir, 300)
    store.close()
    const again = await open(dir)
    const deliveries = again.load().sessions.find((s) => s.clientId === 'c')?.deliveries ?? []
    again.close()
    assert.equal(deliveries.length, 300 * ROWS_PER_COMMIT)
    deliveries.forEach((d, i) => {
      assert.equal(d.seq, i + 1)
      assert.deepEqual(d.payload, payloadOf(d.seq))
    })
  })

  it('keeps every committed message when the process is killed without closing the store', async () => {
    const dir = tempDir()
    const storeUrl = new URL('../../../src/store/sqlite/sqlite-store.js', import.meta.url).href
    // the child writes at least 300 commits (~8 MB of log) and on until the worker has checkpointed,
    // then kill -9s itself
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `
        import { writeSync } from 'node:fs'
        import { SqliteStore } from ${JSON.stringify(storeUrl)}
        const store = await SqliteStore.open({ dataDir: ${JSON.stringify(dir)} })
        store.saveSession('c', 0)
        let seq = 0
        for (let t = 0; t < 300 || (store.checkpointStats().byWorker === 0 && t < 10000); t++) {
          for (let i = 0; i < ${ROWS_PER_COMMIT}; i++) {
            seq++
            store.addDelivery('c', { seq, topic: 't', payload: Buffer.alloc(${PAYLOAD}, seq % 251), qos: 1, retain: false, packetId: 0, released: false })
          }
          store.commit()
          await new Promise((r) => setTimeout(r, 0))
        }
        writeSync(1, JSON.stringify({ ...store.checkpointStats(), seq }))
        process.kill(process.pid, 'SIGKILL')
        `,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
    })
    const signal = await new Promise((r) => child.on('exit', (_code, sig) => r(sig)))
    assert.equal(signal, 'SIGKILL')
    const written = JSON.parse(out) as { byWorker: number; seq: number }
    assert.ok(written.byWorker > 0, 'the worker checkpointed before the kill')
    const again = await open(dir)
    const deliveries = again.load().sessions.find((s) => s.clientId === 'c')?.deliveries ?? []
    again.close()
    assert.ok(written.seq >= 300 * ROWS_PER_COMMIT)
    assert.equal(deliveries.length, written.seq)
    deliveries.forEach((d, i) => {
      assert.equal(d.seq, i + 1)
      assert.deepEqual(d.payload, payloadOf(d.seq))
    })
  })

  it('checkpoints in the commits, with one warning, when the worker cannot start', async () => {
    const dir = tempDir()
    const warnings: string[] = []
    const store = await open(dir, {
      checkpointWorker: new URL('./no-such-checkpoint-worker.js', import.meta.url),
      logger: { warn: (_obj, msg) => warnings.push(msg) },
    })
    const maxWal = await writeLoad(store, dir, COMMITS)
    const stats = store.checkpointStats()
    store.close()
    assert.ok(maxWal < WAL_BOUND, `the log reached ${maxWal} bytes`)
    assert.equal(stats.inWorker, false)
    assert.equal(stats.byWorker, 0)
    assert.equal(warnings.length, 1)
    assert.match(warnings[0]!, /WAL checkpoints run in the commits again/)
    const again = await open(dir)
    const deliveries = again.load().sessions.find((s) => s.clientId === 'c')?.deliveries ?? []
    again.close()
    assert.equal(deliveries.length, COMMITS * ROWS_PER_COMMIT)
  })

  it('checkpoints in a commit once the log passes 64 MiB, when the worker runs but does not checkpoint', async () => {
    const dir = tempDir()
    const store = await open(dir, {
      checkpointWorker: new URL('./idle-checkpoint-worker.js', import.meta.url),
    })
    // ~125 MB of log in 500 commits: twice the limit
    const maxWal = await writeLoad(store, dir, 500, 1000)
    const stats = store.checkpointStats()
    store.close()
    assert.equal(stats.inWorker, true)
    assert.equal(stats.byWorker, 0)
    assert.ok(stats.boundedOnMain >= 1, 'a commit checkpointed')
    assert.ok(maxWal < 96 * 1024 * 1024, `the log reached ${maxWal} bytes`)
  })
})
