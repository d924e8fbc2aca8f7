/**
 * Where `petrel top` draws. On a terminal: the alternate screen, redrawn in place, the
 * cursor hidden, keys read one by one (q or Ctrl-C quits), and everything put back on
 * close (or on exit, whatever ends the process). Elsewhere (a pipe, a file): frames one
 * after another, a blank line between them.
 */
import type { Size } from './top-render.js'

const ESC = '\x1b['
const ENTER = `${ESC}?1049h${ESC}?25l`
const LEAVE = `${ESC}?25h${ESC}?1049l`
const HOME = `${ESC}H`
const CLEAR_LINE = `${ESC}K`
const CLEAR_BELOW = `${ESC}J`

/** Keys that end top on a terminal: q, Q, Ctrl-C (raw mode: no SIGINT), Ctrl-D. */
const QUIT_KEYS = new Set(['q', 'Q', '\x03', '\x04'])

/** Width of a frame written to a pipe: COLUMNS when set, else this. */
const PLAIN_WIDTH = 100

export interface Screen {
  readonly live: boolean
  size(): Size
  show(lines: readonly string[]): void
  close(): void
}

export interface ScreenEvents {
  quit(): void
  /** A key other than the quit keys (e.g. 's': next sort key). */
  key(k: string): void
  /** The terminal changed size: redraw. */
  resize(): void
}

/** Frames one after another, for pipes, files and --once. */
export function plainScreen(out: NodeJS.WritableStream): Screen {
  const cols = Number(process.env.COLUMNS)
  const width = Number.isInteger(cols) && cols > 0 ? cols : PLAIN_WIDTH
  let frames = 0
  return {
    live: false,
    size: () => ({ width, height: 1000 }),
    show(lines) {
      out.write(`${frames++ > 0 ? '\n' : ''}${lines.join('\n')}\n`)
    },
    close() {},
  }
}

/** The terminal, redrawn in place. */
export function terminalScreen(out: NodeJS.WriteStream, input: NodeJS.ReadStream, on: ScreenEvents): Screen {
  let open = true
  const raw = input.isTTY === true
  const onData = (chunk: Buffer | string): void => {
    for (const k of chunk.toString()) {
      if (QUIT_KEYS.has(k)) on.quit()
      else on.key(k)
    }
  }
  const onResize = (): void => on.resize()
  const restore = (): void => {
    if (!open) return
    open = false
    out.write(LEAVE)
    out.off('resize', onResize)
    if (raw) {
      input.off('data', onData)
      input.setRawMode(false)
      input.pause()
    }
    process.off('exit', restore)
  }
  // Whatever ends the process (an uncaught error included), the terminal gets its screen back.
  process.on('exit', restore)
  out.write(ENTER)
  out.on('resize', onResize)
  if (raw) {
    input.setRawMode(true)
    input.resume()
    input.on('data', onData)
  }
  return {
    live: true,
    size: () => ({ width: out.columns || 80, height: out.rows || 24 }),
    show(lines) {
      if (!open) return
      out.write(`${HOME}${lines.map((l) => `${l}${CLEAR_LINE}`).join('\n')}${CLEAR_BELOW}`)
    },
    close: restore,
  }
}
