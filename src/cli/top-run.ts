/**
 * The two ways `petrel top` runs: polling the HTTP endpoint, or subscribing to $SYS/#.
 * Each makes Frames; showFrames() draws them until q, Ctrl-C or a signal.
 */
import type { Client } from '../client/client.js'
import { SUBACK_FAILURE } from '../protocol/constants.js'
import type { ParsedArgs } from './args.js'
import { connectFailure, connectionTarget, connectTo, ToolError, ToolExit } from './client-flags.js'
import { emptyFigures, SORT_KEYS, type SortKey } from './top-figures.js'
import { type HttpSource, readClients, readOverview } from './top-http.js'
import { type ClientTable, clientRowsFit, type Frame, renderFrame } from './top-render.js'
import { plainScreen, type Screen, terminalScreen } from './top-screen.js'
import { SysFigures } from './top-sys.js'

export interface TopSettings {
  once: boolean
  /** Between frames; null: as the source gives them ($SYS bursts). */
  intervalMs: number | null
  /** How long to wait for the first figures. */
  timeoutMs: number
}

export interface HttpSettings {
  source: HttpSource
  sort: SortKey
  /** --rows, or null: as many as fit. */
  rows: number | null
}

/** Rows of the clients table when not on a terminal and no --rows. */
const PLAIN_ROWS = 10
/** A $SYS burst is over when nothing more has come for this long. */
const BURST_QUIET_MS = 150

/** What a run gives showFrames(): the frame to draw now; it calls `redraw` when it has a new one. */
interface Source {
  frame(screen: Screen): Frame
  start(redraw: () => void): void
  stop(): void
  /** A key pressed (other than the quit keys). */
  key?(k: string): void
  /** Set when the source cannot go on: showFrames ends with it. */
  failure(): ToolError | null
}

/** A wake-up call that is kept until someone waits for it. */
class Wake {
  private resolve: (() => void) | null = null
  private pending = false
  wait(): Promise<void> {
    if (this.pending) {
      this.pending = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      this.resolve = resolve
    })
  }
  wake(): void {
    const r = this.resolve
    this.resolve = null
    if (r === null) this.pending = true
    else r()
  }
}

/** Draws the source's frames until q, Ctrl-C, SIGINT or SIGTERM, or the source fails. */
async function showFrames(source: Source): Promise<number> {
  let stopped = false
  const wake = new Wake()
  const quit = (): void => {
    stopped = true
    wake.wake()
  }
  const out = process.stdout
  const screen = out.isTTY
    ? terminalScreen(out, process.stdin, {
        quit,
        key: (k) => source.key?.(k),
        resize: () => wake.wake(),
      })
    : plainScreen(out)
  process.once('SIGINT', quit)
  process.once('SIGTERM', quit)
  source.start(() => wake.wake())
  try {
    for (;;) {
      const failed = source.failure()
      if (failed !== null) throw failed
      if (stopped) return ToolExit.OK
      screen.show(renderFrame(source.frame(screen), screen.size()))
      await wake.wait()
    }
  } finally {
    source.stop()
    process.off('SIGINT', quit)
    process.off('SIGTERM', quit)
    screen.close()
  }
}

/** Message of a ToolError without its 'Error: ' (for a status line). */
function reason(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err)
  return m.replace(/^Error: /, '').replace(/\.$/, '')
}

// --- HTTP ------------------------------------------------------------------------

async function httpFrame(
  h: HttpSettings,
  sort: SortKey,
  limit: number,
): Promise<Omit<Frame, 'now' | 'status'>> {
  const [figures, clients] = await Promise.allSettled([
    readOverview(h.source),
    readClients(h.source, sort, limit),
  ])
  if (figures.status === 'rejected') throw figures.reason
  const table: ClientTable =
    clients.status === 'fulfilled'
      ? { ...clients.value, sort, error: null }
      : { rows: [], total: null, sort, error: `cannot list clients: ${reason(clients.reason)}` }
  return { source: h.source.base, figures: figures.value, rateWindow: null, clients: table }
}

/** `petrel top --http-port`: polls /api/v1/overview and /api/v1/clients. */
export async function runHttp(h: HttpSettings, s: TopSettings): Promise<number> {
  let sort = h.sort
  const interval = s.intervalMs ?? 1000
  // On a terminal, until a frame has measured what fits, as many as it has rows (the frame cuts the rest).
  let limit =
    h.rows ?? (!s.once && process.stdout.isTTY ? Math.max(PLAIN_ROWS, process.stdout.rows || 0) : PLAIN_ROWS)
  // The first read decides: a wrong port, token or scheme ends top with its one line.
  let shown = await httpFrame(h, sort, limit)
  if (s.once) {
    const screen = plainScreen(process.stdout)
    screen.show(renderFrame({ ...shown, now: new Date(), status: null }, screen.size()))
    return ToolExit.OK
  }
  let status: string | null = null
  let timer: NodeJS.Timeout | undefined
  let polling = false
  let stopped = false
  let redraw = (): void => {}
  const poll = async (): Promise<void> => {
    if (polling || stopped) return
    polling = true
    clearTimeout(timer)
    try {
      shown = await httpFrame(h, sort, limit)
      status = null
    } catch (err) {
      status = `${reason(err)}; retrying every ${interval / 1000} s`
    } finally {
      polling = false
    }
    if (stopped) return
    redraw()
    timer = setTimeout(poll, interval)
  }
  return showFrames({
    frame(screen) {
      const frame: Frame = { ...shown, now: new Date(), status }
      if (h.rows === null && screen.live) limit = clientRowsFit(frame, screen.size())
      return frame
    },
    start(r) {
      redraw = r
      timer = setTimeout(poll, interval)
    },
    stop() {
      stopped = true
      clearTimeout(timer)
    },
    key(k) {
      if (k !== 's') return
      sort = SORT_KEYS[(SORT_KEYS.indexOf(sort) + 1) % SORT_KEYS.length]!
      void poll()
    },
    failure: () => null,
  })
}

// --- $SYS ------------------------------------------------------------------------

/** `petrel top -h/-p/-L`: subscribes to $SYS/# and derives the figures. */
export async function runSys(args: ParsedArgs, s: TopSettings): Promise<number> {
  const target = connectionTarget(args)
  if (target.topics.length > 0) {
    throw new ToolError(
      'Error: top subscribes to $SYS/# itself; give -L without a topic (nothing after the port).',
    )
  }
  // Like petrel sub: the first connection must succeed; later losses are retried.
  target.options.reconnect = !s.once
  const where = target.where
  const source = `${target.url} $SYS`
  const sys = new SysFigures()
  const firstBy = Date.now() + s.timeoutMs
  const waitHint = `no $SYS messages from ${where} within ${s.timeoutMs / 1000} s; is $SYS on (Mosquitto: sys_interval in mosquitto.conf; petrel broker: --sys-interval) and may this client read $SYS/#?`
  let redraw = (): void => {}
  let quiet: NodeJS.Timeout | undefined
  let status: string | null = null
  let failed: ToolError | null = null
  const client: Client = await connectTo(target)
  try {
    client.on('error', () => {}) // failed reconnect attempts: it keeps trying, as petrel sub does
    client.on('offline', () => {
      status = `connection to ${where} lost; reconnecting`
      redraw()
    })
    client.on('connect', () => {
      status = null
      redraw()
    })
    client.once('close', (err) => {
      if (err === undefined) return
      failed = connectFailure(err, where)
      redraw()
    })
    let burstEnded = (): void => {}
    client.on('message', (topic, payload, packet) => {
      sys.receive(topic, payload.toString('utf8'), packet.retain, Date.now())
      clearTimeout(quiet)
      quiet = setTimeout(() => {
        sys.endBurst()
        burstEnded()
      }, BURST_QUIET_MS)
    })
    const codes = await client.subscribe({ '$SYS/#': 0 })
    if (codes.every((c) => c >= SUBACK_FAILURE)) {
      throw new ToolError(
        `Error: ${where} refused the subscription to $SYS/#; may this client read $SYS (ACL)?`,
      )
    }
    if (s.once) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, s.timeoutMs)
        burstEnded = () => {
          clearTimeout(timer)
          resolve()
        }
        redraw = () => {
          if (failed === null) return
          clearTimeout(timer)
          resolve()
        }
      })
      if (failed !== null) throw failed
      if (sys.burstCount === 0) {
        throw new ToolError(`Error: ${waitHint[0]!.toUpperCase()}${waitHint.slice(1)}`, ToolExit.TIMEOUT)
      }
      const screen = plainScreen(process.stdout)
      screen.show(renderFrame(sysFrame(sys, source, null), screen.size()))
      return ToolExit.OK
    }
    let ticker: NodeJS.Timeout | undefined
    let hint: NodeJS.Timeout | undefined
    return await showFrames({
      frame() {
        let line = status
        if (line === null && sys.burstCount === 0) {
          line = Date.now() < firstBy ? `waiting for $SYS/# from ${where}` : waitHint
        }
        return sysFrame(sys, source, line)
      },
      start(r) {
        redraw = r
        // Each burst redraws, or with --interval the clock does; the hint shows when the wait is long.
        if (s.intervalMs === null) burstEnded = r
        else ticker = setInterval(r, s.intervalMs)
        hint = setTimeout(r, Math.max(0, firstBy - Date.now()) + 10)
      },
      stop() {
        clearInterval(ticker)
        clearTimeout(hint)
        burstEnded = () => {}
        redraw = () => {}
      },
      failure: () => failed,
    })
  } finally {
    clearTimeout(quiet)
    await client.end().catch(() => {})
  }
}

function sysFrame(sys: SysFigures, source: string, status: string | null): Frame {
  const now = Date.now()
  return {
    source,
    figures: sys.burstCount === 0 ? emptyFigures() : sys.figures(now),
    rateWindow: sys.rateWindow(),
    status,
    clients: null,
    now: new Date(now),
  }
}
