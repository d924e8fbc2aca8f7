/**
 * `petrel broker --acl-file F` as a process: the rules apply, SIGHUP reloads them without
 * dropping connections, a bad file on reload is refused with one log line and the rules in
 * use stay, and a bad file at start is one error line with exit code 2.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { type Client, connect } from '../../src/client/client.js'
import { petrel, startCliBroker } from './petrel-cli.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'petrel-cli-acl-'))
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Whether a message published by `pub` on `topic` reaches `sub` (subscribed to '#'), within a moment. */
async function reaches(pub: Client, sub: Client, topic: string, payload: string): Promise<boolean> {
  let seen = false
  const on = (_t: string, p: Buffer): void => {
    if (p.toString() === payload) seen = true
  }
  sub.on('message', on)
  await pub.publish(topic, payload, { qos: 1 })
  const deadline = Date.now() + 300
  while (!seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  sub.off('message', on)
  return seen
}

describe('petrel broker --acl-file', () => {
  test('applies the rules, and SIGHUP reloads them without dropping the connections', async () => {
    const file = join(dir, 'reload.acl')
    await writeFile(file, 'user admin\ntopic readwrite #\nuser reader\ntopic read a/#\n')
    const b = await startCliBroker(['--memory', '--acl-file', file])
    const url = `mqtt://127.0.0.1:${b.port}`
    const admin = await connect(url, { username: 'admin', reconnect: false })
    const reader = await connect(url, { username: 'reader', reconnect: false })
    try {
      await reader.subscribe('#', { qos: 1 })
      assert.equal(await reaches(admin, reader, 'a/1', 'one'), true)
      assert.equal(await reaches(admin, reader, 'b/1', 'two'), false)

      await writeFile(file, 'user admin\ntopic readwrite #\nuser reader\ntopic read b/#\n')
      b.child.kill('SIGHUP')
      await b.waitFor(`reloaded ACL file ${file}`)
      assert.equal(await reaches(admin, reader, 'a/2', 'three'), false)
      assert.equal(await reaches(admin, reader, 'b/2', 'four'), true)

      // a bad file is refused with its line, and the rules in use stay
      await writeFile(file, 'user admin\ntopic readwrite #\ntopic sometimes b/#\n')
      b.child.kill('SIGHUP')
      await b.waitFor(/cannot reload ACL file .* line 3: unknown access 'sometimes'.*keeping the one in use/)
      assert.equal(await reaches(admin, reader, 'b/3', 'five'), true)
      assert.equal(reader.connected, true)
      assert.equal(admin.connected, true)
    } finally {
      await admin.end({ force: true })
      await reader.end({ force: true })
      await b.stop()
    }
  })

  test('takes aclFile from a config file', async () => {
    const file = join(dir, 'config.acl')
    await writeFile(file, 'user admin\ntopic readwrite #\nuser reader\ntopic read a/#\n')
    const config = join(dir, 'acl.yaml')
    await writeFile(config, `memory: true\naclFile: ${file}\n`)
    const b = await startCliBroker(['--config', config])
    const url = `mqtt://127.0.0.1:${b.port}`
    const admin = await connect(url, { username: 'admin', reconnect: false })
    const reader = await connect(url, { username: 'reader', reconnect: false })
    try {
      await reader.subscribe('#', { qos: 1 })
      assert.equal(await reaches(admin, reader, 'b/1', 'no'), false)
      assert.equal(await reaches(admin, reader, 'a/1', 'yes'), true)
    } finally {
      await admin.end({ force: true })
      await reader.end({ force: true })
      await b.stop()
    }
  })

  test('with only an ACL file, clients without a user name come in (as Mosquitto 2.0 with allow_anonymous true) and get the rules before the first user', async () => {
    const file = join(dir, 'anonymous.acl')
    await writeFile(file, 'topic read public/#\nuser admin\ntopic readwrite #\n')
    const b = await startCliBroker(['--memory', '--acl-file', file])
    const url = `mqtt://127.0.0.1:${b.port}`
    const admin = await connect(url, { username: 'admin', reconnect: false })
    const anonymous = await connect(url, { reconnect: false })
    try {
      await anonymous.subscribe('#', { qos: 1 })
      await admin.subscribe('#', { qos: 1 })
      assert.equal(await reaches(admin, anonymous, 'public/1', 'read'), true)
      assert.equal(await reaches(admin, anonymous, 'private/1', 'not read'), false)
      assert.equal(await reaches(anonymous, admin, 'public/2', 'not written'), false)
    } finally {
      await admin.end({ force: true })
      await anonymous.end({ force: true })
      await b.stop()
    }
  })

  test('a bad ACL file at start is one line naming the file and the line, and exit code 2', async () => {
    const file = join(dir, 'bad.acl')
    await writeFile(file, '# rules\nuser\n')
    const r = await petrel(['broker', '--memory', '--port', '0', '--acl-file', file])
    assert.equal(r.code, 2, r.stderr)
    assert.equal(r.stderr, `petrel broker: ${file} line 2: 'user' needs a name: 'user <name>'\n`)
  })

  test('a missing ACL file at start is one line, and exit code 2', async () => {
    const r = await petrel(['broker', '--memory', '--port', '0', '--acl-file', join(dir, 'none.acl')])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /^petrel broker: cannot read ACL file .*none\.acl: no such file\n$/)
  })
})
