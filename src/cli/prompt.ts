import type { ReadStream } from 'node:tty'
import { ConfigError } from '../errors.js'
import { readLines } from './stdin.js'

/** Characters of a terminal in raw mode. */
const ENTER = new Set(['\r', '\n'])
const BACKSPACE = new Set(['\x7f', '\b'])
const CTRL_C = '\x03'
const CTRL_D = '\x04'
/** The longest password a terminal line may hold before we stop reading it (an MQTT password's limit). */
const MAX_PASSWORD = 65_535

/** Thrown when the user presses Ctrl-C at a prompt. */
export class PromptAborted extends Error {}

/**
 * A new password, asked for twice as mosquitto_passwd asks: on a terminal the prompts
 * "Password:" and "Reenter password:" (on stderr, without echo); otherwise the first two
 * lines of standard input, with no prompts. The two must match and not be empty.
 */
export async function readNewPassword(stdin: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<string> {
  let first: string | undefined
  let second: string | undefined
  if (stdin.isTTY === true) {
    first = await readHidden(stdin as ReadStream, 'Password: ')
    second = await readHidden(stdin as ReadStream, 'Reenter password: ')
  } else {
    const lines: string[] = []
    for await (const line of readLines(stdin as AsyncIterable<Buffer>)) {
      lines.push(line.toString('utf8').replace(/\r$/, ''))
      if (lines.length === 2) break
    }
    ;[first, second] = lines
    if (second === undefined && first !== undefined && first !== '') {
      throw new ConfigError(
        'password',
        'standard input must hold the password twice, on two lines (or give -b)',
      )
    }
  }
  if (first === undefined || first === '') throw new ConfigError('password', 'empty password')
  if (first !== second) throw new ConfigError('password', 'passwords do not match')
  return first
}

/** One line from a terminal, not echoed. */
function readHidden(tty: ReadStream, prompt: string): Promise<string> {
  const wasRaw = tty.isRaw
  tty.setRawMode(true) // before the prompt: what is typed after it is never echoed
  process.stderr.write(prompt)
  tty.setEncoding('utf8')
  tty.resume()
  return new Promise((resolve, reject) => {
    let line = ''
    const done = (err?: Error): void => {
      tty.off('data', onData)
      tty.setRawMode(wasRaw)
      tty.pause()
      process.stderr.write('\n')
      if (err === undefined) resolve(line)
      else reject(err)
    }
    const onData = (chunk: string): void => {
      for (const c of chunk) {
        if (ENTER.has(c) || (c === CTRL_D && line === '')) {
          done()
          return
        }
        if (c === CTRL_C) {
          done(new PromptAborted('aborted'))
          return
        }
        if (BACKSPACE.has(c)) line = [...line].slice(0, -1).join('')
        else if (c !== CTRL_D && line.length < MAX_PASSWORD) line += c
      }
    }
    tty.on('data', onData)
  })
}
