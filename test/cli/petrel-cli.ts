/**
 * The `petrel` command as a child process (`node dist/cli/main.js ...`), for
 * the CLI and README tests: run to completion with bounded time, or start in
 * the background (a broker, a subscriber) and stop by its pid.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type RunOptions, runTool, type ToolResult } from '../helpers/mosquitto.js'

/** The built command (npm test builds dist/ first). */
export const CLI = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url))

/** Runs `petrel ...args` to the end (exit code in the result; a non-zero one does not reject). */
export function petrel(args: readonly string[], options: RunOptions = {}): Promise<ToolResult> {
  return runTool(process.execPath, [CLI, ...args], { allowFailure: true, ...options })
}

export interface Background {
  readonly child: ChildProcess
  stdout(): string
  stderr(): string
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves once stdout (or stderr) contains `text`; rejects after `timeoutMs` or if the process exits. */
  waitFor(text: string | RegExp, timeoutMs?: number, stream?: 'stdout' | 'stderr'): Promise<string>
  /** Sends `signal` (default SIGTERM), then SIGKILL after 5 s; resolves with how it exited. Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL')
})

/** Starts `petrel ...args` in the background. */
export function spawnPetrel(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Background {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  running.add(child)
  let out = ''
  let err = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
  child.stdin!.on('error', () => {})
  if (options.input !== undefined) child.stdin!.end(options.input)
  // 'close', not 'exit': it comes once the output streams are drained too.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      running.delete(child)
      resolve({ code, signal })
    })
  })
  const bg: Background = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(text, timeoutMs = 10_000, stream = 'stdout') {
      const read = (): string => (stream === 'stdout' ? out : err)
      const hit = (): string | null => {
        const s = read()
        if (typeof text === 'string') return s.includes(text) ? s : null
        const m = text.exec(s)
        return m === null ? null : m[0]
      }
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const h = hit()
          if (h === null) return
          cleanup()
          resolve(h)
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`no ${String(text)} within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`))
        }, timeoutMs)
        const onExit = (): void => {
          // Output may still be in flight when 'exit' fires.
          setTimeout(() => {
            check()
            cleanup()
            reject(new Error(`exited before ${String(text)}\nstdout: ${out}\nstderr: ${err}`))
          }, 50)
        }
        const cleanup = (): void => {
          clearTimeout(timer)
          child.stdout!.off('data', check)
          child.stderr!.off('data', check)
          child.off('exit', onExit)
        }
        child.stdout!.on('data', check)
        child.stderr!.on('data', check)
        child.once('exit', onExit)
        check()
      })
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal)
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        const r = await exited
        clearTimeout(timer)
        return r
      }
      return exited
    },
  }
  return bg
}

/**
 * Starts `petrel broker --port 0 --host 127.0.0.1 ...args` and resolves with
 * the port it reports in its JSON start-up line.
 */
export async function startCliBroker(
  args: readonly string[] = ['--memory'],
  options: { cwd?: string } = {},
): Promise<Background & { port: number }> {
  const bg = spawnPetrel(['broker', '--port', '0', '--host', '127.0.0.1', ...args], options)
  try {
    const line = await bg.waitFor(/^\{.*"msg":"petrel broker listening on.*$/m)
    const port = (JSON.parse(line) as { port: number }).port
    return Object.assign(bg, { port })
  } catch (err) {
    await bg.stop('SIGKILL')
    throw err
  }
}

export type { ToolResult }
