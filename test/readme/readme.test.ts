/**
 * Runs every code example of the user documentation (README.md, docs/mqtt5.md, docs/security.md), so the
 * documentation cannot drift from the code. One mechanism for every document: add a file to DOCS.
 *
 * Each fenced block must follow a marker comment, `<!-- readme-test: KIND [ARG] -->`
 * (invisible on GitHub), that says how it is tested:
 *
 *   quickstart-start  must be `npm ci && npm start`; package.json's start script is run (on a free port)
 *   quickstart-test   must be `npm ci && npm test`, the commands .ci/run runs
 *   run               TypeScript: type-checked, then run as an ES module against a Petrel broker
 *   standalone        TypeScript that starts its own broker on port 1883: type-checked, then run alone
 *   check             TypeScript that is type-checked only (it would run forever, or needs a network)
 *   server            TypeScript that starts a broker: run until an MQTT client can connect, then stopped
 *   shell             bash commands, run against a Petrel broker
 *   shell-server      a bash command that starts `petrel broker`: run until it listens, then stopped (SIGTERM);
 *                     with the `file` before it as config, its users log in with their passwords
 *                     (users given as SCRAM credentials are skipped: they have none in the file), and so do
 *                     the users of its passwordFile made by `npx petrel passwd -b` in a shell block before
 *                     (and not deleted by `npx petrel passwd -D`)
 *   file NAME         written to NAME in the working directory of the shell blocks that follow
 *   output            sample output of the shell block before it: its shape (text, with digits and
 *                     column widths ignored) must match what that block printed
 *
 * What the examples say and what runs differ only thus: TypeScript runs as tsc compiles it (all the
 * examples of a document in one tsc run, which is also the type check), port 1883 (and the TLS port 8883, and the
 * HTTP endpoint's 9090) is replaced by a free loopback port P (and others; the broker of `shell` blocks has its HTTP
 * endpoint there), a `shell` block using curl is skipped with the reason where curl is missing (not under CI), `npx petrel` runs the built dist/cli/main.js (pub, sub and bench with `-p P`),
 * `import ... from 'petrel'` resolves to the built package (dist/), and `// prints: X` and `# prints: X`
 * comments are checked against standard output.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, normalize } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { Broker } from '../../src/broker/broker.js'
import { FLAG_KEYS, kebab } from '../../src/cli/config-keys.js'
import { connect } from '../../src/client/client.js'
import { ConnackRefusedError } from '../../src/client/errors.js'
import { startHttp } from '../../src/http/server.js'
import { CLI, petrel } from '../cli/petrel-cli.js'
import { findBinary, inCI, runTool, type ToolResult } from '../helpers/mosquitto.js'
import { freePort, LOOPBACK } from '../helpers/net.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** The documents whose examples run, relative to the repository. */
const DOCS = ['README.md', 'docs/mqtt5.md', 'docs/security.md']

interface Block {
  kind: string
  arg: string
  lang: string
  code: string
  line: number
}

const MARKER = /^<!-- readme-test: ([\w-]+)(?: (\S+))? -->$/
const KINDS = new Set([
  'quickstart-start',
  'quickstart-test',
  'run',
  'standalone',
  'check',
  'server',
  'shell',
  'shell-server',
  'file',
  'output',
])

/** The fenced blocks of a document with their markers; refuses a block without one. */
function blocks(doc: string, text: string): Block[] {
  const lines = text.split('\n')
  const out: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)$/.exec(lines[i]!)
    if (open === null) continue
    const marker = MARKER.exec(lines[i - 1] ?? '')
    assert.ok(
      marker !== null,
      `${doc}:${i + 1}: a code block without a <!-- readme-test: ... --> marker above it`,
    )
    assert.ok(KINDS.has(marker[1]!), `${doc}:${i}: unknown readme-test kind '${marker[1]}'`)
    const start = i
    const body: string[] = []
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!)
    assert.ok(i < lines.length, `${doc}:${start + 1}: unclosed code block`)
    out.push({
      kind: marker[1]!,
      arg: marker[2] ?? '',
      lang: open[1]!,
      code: `${body.join('\n')}\n`,
      line: start + 1,
    })
  }
  return out
}

/** The `// prints: X` / `# prints: X` comments of a block. */
function expectedPrints(code: string): string[] {
  return [...code.matchAll(/(?:\/\/|#) prints: (.*)$/gm)].map((m) => m[1]!.trim())
}

/**
 * Port 1883 (and 8883, the TLS port, and 9090, the HTTP endpoint's) -> P (and two other free
 * ports found for P).
 */
function withPort(code: string, port: number): string {
  return code
    .replaceAll('1883', String(port))
    .replaceAll('8883', String(tlsPorts.get(port) ?? port + 1))
    .replaceAll('9090', String(httpPorts.get(port) ?? port + 2))
}
const tlsPorts = new Map<number, number>()
const httpPorts = new Map<number, number>()

/** `npx petrel CMD ...` -> the built CLI; pub/sub/bench get `-p P` first, which the example's own flags may override. */
function shellCommand(code: string, port: number): string {
  const cli = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)}`
  return withPort(code, port).replace(/npx petrel (\w+)\b/g, (_m, cmd: string) =>
    ['pub', 'sub', 'bench'].includes(cmd) ? `${cli} ${cmd} -p ${port}` : `${cli} ${cmd}`,
  )
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** A long-running child: resolves once its output matches, with a way to stop it. */
function startUntil(
  cmd: string,
  args: string[],
  cwd: string,
  ready: RegExp,
  timeoutMs = 20_000,
): Promise<{ output: () => string; stop: () => Promise<number | null> }> {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
    const code = await exited
    clearTimeout(timer)
    return code
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`no ${ready} within ${timeoutMs} ms:\n${out}`))
    }, timeoutMs)
    const check = (): void => {
      if (!ready.test(out)) return
      clearTimeout(timer)
      resolve({ output: () => out, stop })
    }
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s
      check()
    })
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      out += s
      check()
    })
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`exited (${code}) before ${ready}:\n${out}`))
    })
  })
}

/** Digits, thousands separators and column padding removed: what a sample output must share with a real one. */
function shape(text: string): string {
  return text
    .trim()
    .split('\n')
    .map((l) =>
      l
        .replace(/[\d,.]*\d/g, 'N')
        .replace(/-+:/g, '-:')
        .replace(/\s+/g, ' ')
        .trim(),
    )
    .join('\n')
}

for (const doc of DOCS) {
  const text = await readFile(join(ROOT, doc), 'utf8')
  describeDoc(doc, text, blocks(doc, text))
}

function describeDoc(doc: string, text: string, all: Block[]): void {
  describe(doc, () => {
    let port: number
    let work: string
    /** Where the `run` blocks are written: inside the package, so `import 'petrel'` resolves to it. */
    let scratch: string
    let lastShellOutput: string | null = null
    let lastFile: { name: string; content: string } | null = null
    /** Password file -> user -> password, from `npx petrel passwd [-c] -b FILE USER PASSWORD` lines. */
    const passwdUsers = new Map<string, Map<string, string>>()
    /** tsc over every TypeScript example at once: it type-checks them and emits the JavaScript that runs. */
    let compiled: Promise<ToolResult>
    /** The JavaScript tsc emitted for the example at `line`, with the README's port replaced. */
    const emitted = async (line: number): Promise<string> =>
      withPort(await readFile(join(scratch, 'ts', 'out', `line-${line}.js`), 'utf8'), port)

    before(async () => {
      port = await freePort()
      tlsPorts.set(port, await freePort())
      httpPorts.set(port, await freePort())
      work = await mkdtemp(join(tmpdir(), 'petrel-readme-'))
      scratch = join(ROOT, 'build', `readme-${process.pid}-${doc.replace(/\W/g, '-')}`)
      await mkdir(scratch, { recursive: true })
      compiled = compile(join(scratch, 'ts'), all)
      await compiled.catch(() => {})
    })
    after(async () => {
      await rm(work, { recursive: true, force: true })
      await rm(scratch, { recursive: true, force: true })
    })

    /**
     * An in-process broker on the README's port, with its HTTP endpoint on the README's 9090 (as
     * `petrel broker --http-port 9090` would be), for the duration of `fn`.
     */
    async function withBroker<T>(fn: () => Promise<T>): Promise<T> {
      const broker = new Broker({ sysInterval: 0 })
      await broker.listen({ port, host: LOOPBACK })
      const http = await startHttp(broker, { port: httpPorts.get(port)!, host: LOOPBACK })
      try {
        return await fn()
      } finally {
        await broker.close()
        await http.close()
      }
    }

    if (doc === 'README.md')
      test('has a marker on every code block, and the quick start has exactly two commands', () => {
        assert.ok(all.length >= 8)
        const quick = all.filter((b) => b.kind.startsWith('quickstart'))
        assert.deepEqual(
          quick.map((b) => b.code),
          ['npm ci && npm start\n', 'npm ci && npm test\n'],
        )
      })

    test('type-checks every TypeScript example', async () => {
      const r = await compiled
      assert.equal(r.code, 0, `${doc}'s TypeScript examples do not type-check:\n${r.stdout}${r.stderr}`)
    })

    if (doc === 'README.md')
      test('documents every flag of every command and every config key', async () => {
        for (const cmd of ['broker', 'pub', 'sub', 'bench']) {
          const help = await petrel([cmd, '--help'])
          assert.equal(help.code, 0)
          for (const m of help.stdout.matchAll(/--([\w-]+)/g)) {
            if (m[1] === 'help') continue
            assert.ok(text.includes(`--${m[1]}`), `petrel ${cmd} --${m[1]} is not in the README`)
          }
        }
        for (const key of [...FLAG_KEYS, 'users', 'allowAnonymous', 'allowPlaintextUsers']) {
          assert.ok(text.includes(`| \`${key}\` |`), `config key ${key} is not in the README's table`)
        }
        for (const key of FLAG_KEYS)
          assert.ok(text.includes(`--${kebab(key)}`), `--${kebab(key)} is not in the README`)
      })

    for (const b of all) {
      test(`example at ${doc}:${b.line} (${b.kind}${b.arg ? ` ${b.arg}` : ''})`, async (t) => {
        switch (b.kind) {
          case 'quickstart-start': {
            // What `npm start` runs, on the README's port instead of 1883, from another directory.
            const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
              scripts: Record<string, string>
            }
            const start = pkg.scripts.start!
            assert.match(start, /^node dist\/cli\/main\.js broker --port 1883$/)
            const cmd = withPort(start.replace('dist/', `${ROOT}dist/`), port)
            const s = await startUntil('bash', ['-c', `exec ${cmd}`], work, /listening on 127\.0\.0\.1:\d+/)
            assert.match(s.output(), new RegExp(`listening on 127\\.0\\.0\\.1:${port}, store: sqlite`))
            assert.equal(await s.stop(), 0)
            break
          }
          case 'quickstart-test': {
            const ci = await readFile(join(ROOT, '.ci', 'run'), 'utf8')
            assert.match(ci, /^npm ci\b/m)
            assert.match(ci, /^npm test$/m)
            break
          }
          case 'run':
          case 'standalone': {
            const file = join(scratch, `line-${b.line}.mjs`)
            await writeFile(file, await emitted(b.line))
            const node = (): Promise<ToolResult> =>
              runTool(process.execPath, [file], { timeoutMs: 20_000, allowFailure: true })
            const r = b.kind === 'run' ? await withBroker(node) : await node()
            assert.equal(r.code, 0, `${r.stdout}${r.stderr}`)
            for (const p of expectedPrints(b.code))
              assert.ok(r.stdout.includes(p), `no '${p}' in:\n${r.stdout}`)
            break
          }
          case 'server': {
            const file = join(scratch, `line-${b.line}.mjs`)
            await writeFile(file, `${await emitted(b.line)}\nconsole.log('readme: started')\n`)
            const s = await startUntil(process.execPath, [file], work, /readme: started/)
            try {
              const c = await connect(`mqtt://${LOOPBACK}:${port}`, { reconnect: false })
              await c.end()
            } finally {
              await s.stop()
            }
            break
          }
          case 'shell': {
            if (/^curl /m.test(b.code) && findBinary('curl') === null) {
              // curl is in .ci/run's packages; elsewhere the example is skipped, saying why
              if (inCI()) assert.fail('curl is not installed (apt-get install curl); CI=true, so it must be')
              t.skip('curl is not installed (apt-get install curl)')
              return
            }
            const script = `set -euo pipefail\n${shellCommand(b.code, port)}`
            const r = await withBroker(() => run('bash', ['-c', script], work, 60_000))
            assert.equal(r.code, 0, `${r.stdout}${r.stderr}`)
            for (const p of expectedPrints(b.code))
              assert.ok(r.stdout.includes(p), `no '${p}' in:\n${r.stdout}`)
            lastShellOutput = r.stdout
            for (const m of b.code.matchAll(
              /npx petrel passwd((?: -[bcD])+) (\S+) (\S+)(?: (\S+))?(?: +#.*)?$/gm,
            )) {
              const file = normalize(m[2]!)
              if (m[1]!.includes('-c') || !passwdUsers.has(file)) passwdUsers.set(file, new Map())
              if (m[1]!.includes('-D')) passwdUsers.get(file)!.delete(m[3]!)
              else if (m[4] !== undefined) passwdUsers.get(file)!.set(m[3]!, m[4])
            }
            break
          }
          case 'check':
            break // type-checked above
          case 'output': {
            assert.ok(lastShellOutput !== null, 'an output block must follow a shell block')
            assert.equal(shape(withPort(lastShellOutput, 1883)), shape(b.code))
            break
          }
          case 'file': {
            lastFile = { name: b.arg, content: b.code }
            await writeFile(join(work, b.arg), withPort(b.code, port))
            break
          }
          case 'shell-server': {
            const s = await startUntil(
              'bash',
              ['-c', `exec ${shellCommand(b.code.trim(), port)}`],
              work,
              /listening on/,
            )
            try {
              assert.match(s.output(), new RegExp(`listening on 127\\.0\\.0\\.1:${port}`))
              // A config file with users: they must log in, and only with their password.
              const users =
                lastFile !== null && b.code.includes(lastFile.name)
                  ? usersOf(lastFile.content, passwdUsers)
                  : []
              for (const [username, password] of users) {
                const c = await connect(`mqtt://${LOOPBACK}:${port}`, {
                  username,
                  password,
                  reconnect: false,
                })
                await c.end()
              }
              if (users.length > 0) {
                await assert.rejects(
                  connect(`mqtt://${LOOPBACK}:${port}`, { reconnect: false }),
                  (err: unknown) => err instanceof ConnackRefusedError && err.returnCode === 5,
                )
              }
            } finally {
              assert.equal(await s.stop(), 0, s.output())
            }
            break
          }
        }
      })
    }
  })
}

/** Writes the TypeScript examples to `dir` and compiles them to `dir/out` (emitting despite type errors). */
async function compile(dir: string, all: Block[]): Promise<ToolResult> {
  await mkdir(dir, { recursive: true })
  for (const b of all) {
    if (['run', 'standalone', 'check', 'server'].includes(b.kind))
      await writeFile(join(dir, `line-${b.line}.ts`), `${b.code}export {}\n`)
  }
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.base.json'),
      compilerOptions: {
        rootDir: '.',
        outDir: 'out',
        types: ['node'],
        declaration: false,
        sourceMap: false,
        noEmitOnError: false,
      },
      include: ['*.ts'],
    }),
  )
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  return run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], dir, 60_000)
}

/**
 * The config file's users with a password (not those given as SCRAM credentials), and those
 * of its passwordFile that a shell block made with `petrel passwd -b`.
 */
function usersOf(
  yaml: string,
  passwdUsers: ReadonlyMap<string, ReadonlyMap<string, string>>,
): [string, string][] {
  const doc = parseYaml(yaml) as { users?: Record<string, string>; passwordFile?: string }
  const fromFile =
    doc.passwordFile === undefined ? [] : [...(passwdUsers.get(normalize(doc.passwordFile)) ?? [])]
  return [
    ...Object.entries(doc.users ?? {}).filter(([, v]) => !String(v).startsWith('SCRAM-SHA-256$')),
    ...fromFile,
  ]
}
