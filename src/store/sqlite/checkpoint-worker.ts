// The WAL checkpointer's thread (started by checkpointer.ts): its own connection to the store's
// database, which moves the write-ahead log's pages into the database file (PRAGMA
// wal_checkpoint(PASSIVE)) every poll. PASSIVE takes no lock the writer waits for, so the main
// thread's commits do not stall on it.
//
// It talks to the main thread through a shared Int32Array only, so that the store's synchronous
// close() can stop it and wait until its connection is closed.
import { workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { type CheckpointWorkerData, RUN, Slot, State } from './checkpointer.js'

/** Passes in a row while the writer adds to the log. */
const MAX_PASSES = 3
/** Bytes before each page in the log. */
const WAL_FRAME_HEADER = 24

const data = workerData as CheckpointWorkerData
const shared = new Int32Array(data.shared)
if (Atomics.load(shared, Slot.Run) !== RUN) process.exit(0) // the store closed while this thread started
const db = new Database(data.file)
// opening reads the WAL index, which a writer restarting the log holds for an instant
db.pragma(`busy_timeout = ${data.busyTimeoutMs}`)
db.pragma(`synchronous = ${data.synchronous}`) // a checkpoint syncs the log, then the database
db.pragma('wal_autocheckpoint = 0')
// a statement, not a transaction: no read transaction stays open between polls
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)')
Atomics.store(shared, Slot.State, State.Running)
const frameBytes = (db.pragma('page_size', { simple: true }) as number) + WAL_FRAME_HEADER
let moved = 0

for (;;) {
  Atomics.wait(shared, Slot.Run, RUN, data.pollMs)
  if (Atomics.load(shared, Slot.Run) !== RUN) break
  // The log restarts from its beginning (the writer does it) only once a checkpoint has moved
  // every frame. Under steady commits a pass rarely catches up: each is followed by a shorter
  // one, and past finishBytes, what the last left (a few milliseconds of commits) the main
  // connection moves after its next commit.
  let frames = -1
  let pass = 0
  for (; pass < MAX_PASSES; pass++) {
    const r = checkpoint.get() as { busy: number; log: number; checkpointed: number }
    if (r.busy !== 0 || r.log === frames) break // the main connection checkpoints, or nothing was committed since
    if (r.checkpointed !== moved) Atomics.add(shared, Slot.Checkpoints, 1)
    moved = r.checkpointed
    frames = r.log
  }
  if (pass === MAX_PASSES && frames * frameBytes > data.finishBytes) Atomics.store(shared, Slot.Finish, 1)
}
db.close()
Atomics.store(shared, Slot.State, State.Closed)
Atomics.notify(shared, Slot.State)
