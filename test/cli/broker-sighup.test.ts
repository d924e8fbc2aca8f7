/**
 * `petrel broker` and SIGHUP during start-up: Node ends a process on SIGHUP unless it listens
 * for it, so the broker listens from the start (a reload then reloads what is loaded so far).
 * Made deterministic with a FIFO as the password file: the broker is in start-up, blocked
 * reading it, until the test writes it. Needs mkfifo (Linux, macOS).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { constants } from 'node:fs'
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { formatSecret } from '../../src/auth/password-file.js'
import { hashPassword } from '../../src/auth/password-hash.js'
import { findBinary } from '../helpers/mosquitto.js'
import { LOOPBACK } from '../helpers/net.js'
import { spawnPetrel } from './petrel-cli.js'

const skip =
  process.platform === 'win32' || findBinary('mkfifo') === null ? 'needs mkfifo (a POSIX system)' : false

/**
 * Opens the FIFO to write once a reader has it open (or is opening it): a non-blocking open
 * fails with ENXIO until then. Polled for up to `ms`; null if no reader came.
 */
async function writerOnceRead(path: string, ms = 5000): Promise<FileHandle | null> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    try {
      return await open(path, constants.O_WRONLY | constants.O_NONBLOCK)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return null
}

test('a SIGHUP while the broker starts does not end it; it starts and serves', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'petrel-sighup-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  const fifo = join(dir, 'passwd')
  execFileSync('mkfifo', ['-m', '600', fifo])
  const bg = spawnPetrel(['broker', '--memory', '--port', '0', '--host', LOOPBACK, '--password-file', fifo])
  t.after(() => bg.stop('SIGKILL'))
  // the broker is reading its password file, which ends when the test closes its end
  const w = await writerOnceRead(fifo)
  assert.ok(w !== null, 'the broker reads its password file')
  bg.child.kill('SIGHUP')
  await new Promise((r) => setTimeout(r, 300))
  assert.deepEqual([bg.child.exitCode, bg.child.signalCode], [null, null], 'still running')
  await w.writeFile(`alice:${formatSecret(await hashPassword('secret'))}\n`)
  await w.close()
  await bg.waitFor(/petrel broker listening on/)
  const r = await bg.stop('SIGTERM')
  assert.equal(r.code, 0)
})
