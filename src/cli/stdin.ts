const NEWLINE = 0x0a

/** All of a stream, as bytes. */
export async function readAll(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c)
  return Buffer.concat(chunks)
}

/**
 * The lines of a stream as they arrive, without their '\n' (a '\r' before it
 * is kept, as mosquitto_pub keeps it). A last line without '\n' counts; the
 * empty string after a final '\n' does not. Bytes, not text: any encoding passes.
 */
export async function* readLines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0)
  for await (const c of stream) {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c
    let buf = rest.length === 0 ? chunk : Buffer.concat([rest, chunk])
    let nl = buf.indexOf(NEWLINE)
    while (nl !== -1) {
      yield Buffer.from(buf.subarray(0, nl))
      buf = buf.subarray(nl + 1)
      nl = buf.indexOf(NEWLINE)
    }
    rest = buf
  }
  if (rest.length > 0) yield Buffer.from(rest)
}
