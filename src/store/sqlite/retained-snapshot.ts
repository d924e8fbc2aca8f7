import { randomBytes } from 'node:crypto'
import {
  closeSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import * as zlib from 'node:zlib'
import type BetterSqlite3 from 'better-sqlite3'
import { PetrelError } from '../../errors.js'
import type { QoS } from '../../protocol/constants.js'
import { asciiString, utf8String } from '../../protocol/utf8.js'
import { INLINE_PAYLOAD_MAX, type StoredRetained } from '../store.js'
import { propertiesFromJson, propertiesToJson } from './properties-json.js'

/**
 * The retained snapshot: every retained message in one file, written at a clean stop from the
 * broker's trie and read at the next start instead of the `retained` table, whose rows cost
 * about 3 µs each to read through SQLite (a million: 3 s). The table stays the truth: the
 * file is used only when the token in its header is the one the database holds, which the
 * store writes in its last transaction at close and clears as soon as it is read at start
 * (and a trigger clears whenever a retained row changes, whoever changes it), so a snapshot
 * can never be paired with rows written after it.
 *
 * Format (little endian): a header of HEADER_BYTES (magic, FORMAT_VERSION, token, entry
 * count, body length, CRC-32 of the body), then per entry: flags (QoS in bits 0-1, EXPIRES,
 * PROPERTIES), topic length (u16) and UTF-8 bytes, payload length (u32) and bytes, then, only
 * when flagged, expiresAt (f64) and the properties as JSON (u32 length, UTF-8).
 */

export const SNAPSHOT_FILE = 'retained.snap'
const MAGIC = Buffer.from('PTRLSNAP', 'latin1')
const FORMAT_VERSION = 1
const TOKEN_BYTES = 16
const HEADER_BYTES = 44 // magic 8, version 4, token 16, count 4, body length 8, crc 4
/** Written and read in pieces of this size: a million messages never need one buffer. */
const CHUNK = 4 * 1024 * 1024
const EXPIRES = 4
const PROPERTIES = 8
const MAX_TOPIC_BYTES = 0xffff
/** The meta row holding the token of the snapshot the database was closed with. */
const TOKEN_KEY = 'retained_snapshot'

/** CRC-32 of Node's zlib (20.15 and later); without it no snapshot is written or read. */
const crc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32

type Db = BetterSqlite3.Database

/** A snapshot that passed its checks yet cannot be read: the file changed under the store. */
export class SnapshotError extends PetrelError {
  constructor(message: string) {
    super('PETREL_RETAINED_SNAPSHOT', message)
  }
}

/**
 * Writes the snapshot of `entries` into `dir` (a temporary file, fsync, rename, fsync of the
 * folder) and its token into the open transaction of `db`, which the store's close commits.
 * False when this Node has no CRC-32 (nothing written).
 */
export function saveSnapshot(db: Db, dir: string, entries: Iterable<StoredRetained>): boolean {
  if (crc32 === undefined) return false
  const token = randomBytes(TOKEN_BYTES)
  const path = join(dir, SNAPSHOT_FILE)
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w')
  try {
    writeEntries(fd, token, entries)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    rmSync(tmp, { force: true })
    throw err
  }
  closeSync(fd)
  renameSync(tmp, path)
  const dirFd = openSync(dir, 'r')
  try {
    fsyncSync(dirFd)
  } finally {
    closeSync(dirFd)
  }
  db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(TOKEN_KEY, token.toString('hex'))
  return true
}

/**
 * The retained messages of the snapshot in `dir`, when it is the one `db` was closed with and
 * whole; null otherwise (read the table). Either way the token is cleared (committed at once:
 * call it outside a transaction) and the file removed, before anything else is written.
 */
export function takeSnapshot(db: Db, dir: string): Iterable<StoredRetained> | null {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(TOKEN_KEY) as
    | { value: string }
    | undefined
  if (row !== undefined) db.prepare('DELETE FROM meta WHERE key = ?').run(TOKEN_KEY)
  const path = join(dir, SNAPSHOT_FILE)
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return null // none: the last stop was not a clean one, or the first start
  }
  unlinkSync(path) // read once at most: still readable through fd
  const entries = row === undefined ? null : checked(fd, Buffer.from(row.value, 'hex'))
  if (entries === null) closeSync(fd)
  return entries
}

function writeEntries(fd: number, token: Buffer, entries: Iterable<StoredRetained>): void {
  let buf = Buffer.allocUnsafe(CHUNK)
  let pos = 0
  let filePos = HEADER_BYTES
  let crc = 0
  let count = 0
  const flush = (): void => {
    crc = crc32!(buf.subarray(0, pos), crc)
    writeAll(fd, buf, pos, filePos)
    filePos += pos
    pos = 0
  }
  for (const e of entries) {
    const { topic, payload } = e
    const props = propertiesToJson(e.properties)
    const expiresAt = e.expiresAt ?? 0
    // at most 3 bytes per UTF-16 unit; a latin1 string has a byte per character
    const most =
      7 +
      topic.length * 3 +
      payload.length +
      (expiresAt !== 0 ? 8 : 0) +
      (props !== null ? 4 + props.length * 3 : 0)
    if (pos + most > buf.length) {
      flush()
      if (most > buf.length) buf = Buffer.allocUnsafe(most)
    }
    const start = pos
    const topicBytes = buf.write(topic, start + 3, 'utf8')
    if (topicBytes > MAX_TOPIC_BYTES) throw new SnapshotError(`a topic of ${topicBytes} bytes: too long`)
    buf[start] = e.qos | (expiresAt !== 0 ? EXPIRES : 0) | (props !== null ? PROPERTIES : 0)
    buf.writeUInt16LE(topicBytes, start + 1)
    pos = start + 3 + topicBytes
    buf.writeUInt32LE(payload.length, pos)
    pos += 4
    if (typeof payload === 'string') pos += buf.write(payload, pos, 'latin1')
    else pos += payload.copy(buf, pos)
    if (expiresAt !== 0) pos = buf.writeDoubleLE(expiresAt, pos)
    if (props !== null) {
      const n = buf.write(props, pos + 4, 'utf8')
      buf.writeUInt32LE(n, pos)
      pos += 4 + n
    }
    count++
  }
  flush()
  const header = Buffer.alloc(HEADER_BYTES)
  MAGIC.copy(header, 0)
  header.writeUInt32LE(FORMAT_VERSION, 8)
  token.copy(header, 12)
  header.writeUInt32LE(count, 28)
  header.writeUIntLE(filePos - HEADER_BYTES, 32, 6)
  header.writeUInt32LE(crc, 40)
  writeAll(fd, header, HEADER_BYTES, 0)
}

function writeAll(fd: number, buf: Buffer, length: number, position: number): void {
  for (let done = 0; done < length; ) done += writeSync(fd, buf, done, length - done, position + done)
}

/**
 * The entries of the open snapshot `fd`, when its header says it is whole and made with
 * `token` and its body's CRC-32 is the header's (read once to check, then once to load:
 * no entry reaches the broker from a file found bad only later); null otherwise.
 */
function checked(fd: number, token: Buffer): Iterable<StoredRetained> | null {
  if (crc32 === undefined) return null
  const size = fstatSync(fd).size
  const header = Buffer.alloc(HEADER_BYTES)
  if (size < HEADER_BYTES || readSync(fd, header, 0, HEADER_BYTES, 0) !== HEADER_BYTES) return null
  const bodyBytes = header.readUIntLE(32, 6)
  if (
    !header.subarray(0, 8).equals(MAGIC) ||
    header.readUInt32LE(8) !== FORMAT_VERSION ||
    !header.subarray(12, 12 + TOKEN_BYTES).equals(token) ||
    size !== HEADER_BYTES + bodyBytes
  ) {
    return null
  }
  const buf = Buffer.allocUnsafe(CHUNK)
  let crc = 0
  for (let at = HEADER_BYTES; at < size; ) {
    const n = readSync(fd, buf, 0, Math.min(CHUNK, size - at), at)
    if (n === 0) return null
    crc = crc32(buf.subarray(0, n), crc)
    at += n
  }
  if (crc !== header.readUInt32LE(40)) return null
  return readEntries(fd, header.readUInt32LE(28), size)
}

/** The entries, read in pieces as they are consumed; the file is closed at the end. */
function* readEntries(fd: number, count: number, size: number): Generator<StoredRetained, void, undefined> {
  let buf = Buffer.allocUnsafe(CHUNK)
  let pos = 0
  let end = 0
  let filePos = HEADER_BYTES
  /** Makes `n` bytes from `pos` readable in `buf`, keeping those not yet read. */
  const need = (n: number): void => {
    if (end - pos >= n) return
    const into = n > buf.length ? Buffer.allocUnsafe(n) : buf
    end = buf.copy(into, 0, pos, end)
    buf = into
    pos = 0
    while (end < n) {
      const got = readSync(fd, buf, end, Math.min(buf.length - end, size - filePos), filePos)
      if (got === 0) throw new SnapshotError('the retained snapshot ended early')
      end += got
      filePos += got
    }
  }
  try {
    for (let i = 0; i < count; i++) {
      need(7)
      const flags = buf[pos]!
      const topicBytes = buf.readUInt16LE(pos + 1)
      need(7 + topicBytes)
      const topic = utf8String(buf, pos + 3, pos + 3 + topicBytes)
      pos += 3 + topicBytes
      const length = buf.readUInt32LE(pos)
      pos += 4
      need(length)
      const payload =
        length <= INLINE_PAYLOAD_MAX
          ? asciiString(buf, pos, pos + length)
          : Buffer.from(buf.subarray(pos, pos + length)) // a copy: the piece is read over
      pos += length
      const e: StoredRetained = { topic, payload, qos: (flags & 3) as QoS }
      if ((flags & EXPIRES) !== 0) {
        need(8)
        e.expiresAt = buf.readDoubleLE(pos)
        pos += 8
      }
      if ((flags & PROPERTIES) !== 0) {
        need(4)
        const n = buf.readUInt32LE(pos)
        need(4 + n)
        e.properties = propertiesFromJson(utf8String(buf, pos + 4, pos + 4 + n))
        pos += 4 + n
      }
      yield e
    }
    if (filePos !== size || pos !== end)
      throw new SnapshotError('the retained snapshot has bytes after its entries')
  } finally {
    closeSync(fd)
  }
}
