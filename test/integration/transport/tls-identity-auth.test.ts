/**
 * A TLS listener with useIdentityAsUsername on a broker that also has a password file and an
 * ACL file, as a Mosquitto user sets it up: the verified certificate is the authentication (the
 * password file is not asked for that client, as Mosquitto's use_identity_as_username), the
 * ACL applies with the certificate's CN as the user name, and password users on the plain
 * listener are checked as before. Also `petrel broker`'s `allowAnonymous: false` with no
 * password file: clients without a user name are refused.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { AclFile, aclHooks } from '../../../src/auth/acl.js'
import { formatSecret } from '../../../src/auth/password-file.js'
import { PasswordFile, passwordFileHooks } from '../../../src/auth/password-file-hooks.js'
import { hashPassword } from '../../../src/auth/password-hash.js'
import { Broker } from '../../../src/broker/broker.js'
import type { ClientInfo } from '../../../src/broker/options.js'
import { resolveSettings } from '../../../src/cli/config.js'
import { loadCredentials } from '../../../src/cli/credentials.js'
import { usersAuthenticator } from '../../../src/cli/users.js'
import { PacketType } from '../../../src/protocol/index.js'
import { makePki, opensslSkip, type Pki } from '../../helpers/certs.js'
import { LOOPBACK } from '../../helpers/net.js'
import { RawClient } from '../../helpers/raw-client.js'
import { tlsClient } from './helpers.js'

const ACL = `
user alice
topic readwrite alice/#

user bob
topic readwrite #
`

describe('useIdentityAsUsername with a password file and an ACL file', { skip: opensslSkip() }, () => {
  let pki: Pki
  let broker: Broker
  let mqtts: number
  let mqtt: number
  const seen: ClientInfo[] = []

  before(async () => {
    pki = await makePki()
    const passwords = PasswordFile.fromText(`bob:${formatSecret(await hashPassword('hunter2'))}\n`, 'passwd')
    broker = new Broker({
      sysInterval: 0,
      hooks: [
        { onConnect: (c) => void seen.push(c) },
        passwordFileHooks(passwords, { allowAnonymous: false }),
        aclHooks(AclFile.fromText(ACL)),
      ],
    })
    const common = { host: LOOPBACK, port: 0 }
    mqtts = (
      await broker.listen({
        ...common,
        protocol: 'mqtts',
        cert: pki.serverCert,
        key: pki.serverKey,
        ca: pki.ca,
        useIdentityAsUsername: true,
      })
    ).port
    mqtt = (await broker.listen(common)).port
  })
  after(async () => {
    await broker?.close()
    await pki?.remove()
  })

  test('a client with a verified certificate gets in without a password, 3.1.1 and MQTT 5; the hooks see certificateIdentity', async () => {
    for (const protocolVersion of [4, 5] as const) {
      const c = await tlsClient(mqtts, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey })
      const ack = await c.connect({ protocolVersion, clientId: `cert-${protocolVersion}` })
      assert.equal(ack.returnCode, 0, `MQTT ${protocolVersion}`)
      const info = seen.find((s) => s.id === `cert-${protocolVersion}`)!
      assert.equal(info.username, 'alice')
      assert.equal(info.certificateIdentity, 'alice')
      c.destroy()
    }
  })

  test("the certificate's CN is the ACL's user: alice reads and writes alice/# only; bob (password file) everything", async () => {
    const alice = await tlsClient(mqtts, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey })
    assert.equal((await alice.connect({ clientId: 'alice-acl', username: 'bob' })).returnCode, 0)
    await alice.subscribe('#', 0)
    const bob = await RawClient.open(mqtt, LOOPBACK)
    const ack = await bob.connect({ clientId: 'bob-acl', username: 'bob', password: Buffer.from('hunter2') })
    assert.equal(ack.returnCode, 0)
    await bob.subscribe('#', 0)

    bob.publish('secret/1', 'not for alice')
    bob.publish('alice/1', 'for alice')
    const got = await alice.next(PacketType.PUBLISH)
    assert.equal(got.topic, 'alice/1', 'alice reads only alice/#, though she gave user name bob in CONNECT')

    alice.publish('bob/1', 'denied: alice may write alice/# only')
    alice.publish('alice/2', 'allowed')
    const fromAlice = await bob.until(
      (p) => p.type === PacketType.PUBLISH && p.topic !== 'secret/1' && p.topic !== 'alice/1',
    )
    assert.equal(fromAlice.type === PacketType.PUBLISH && fromAlice.topic, 'alice/2')
    alice.destroy()
    bob.destroy()
  })

  test('on the plain listener the password file still decides: a user name without its password is refused (CONNACK 5)', async () => {
    for (const [username, password] of [
      ['alice', undefined],
      ['bob', 'wrong'],
      [undefined, undefined],
    ] as const) {
      const c = await RawClient.open(mqtt, LOOPBACK)
      const o = password === undefined ? {} : { password: Buffer.from(password) }
      const ack = await c.connect(username === undefined ? o : { ...o, username })
      assert.equal(ack.returnCode, 5, `${username}/${password}`)
      await c.closed()
    }
  })
})

describe('petrel broker: allowAnonymous false with no password file', () => {
  test('a client without a user name is refused (CONNACK 5); one with a user name gets in', async (t) => {
    const settings = resolveSettings({ allowAnonymous: false, memory: true }, 'petrel.yaml', new Map())
    const credentials = await loadCredentials(settings)
    assert.match(credentials.warnings.join('\n'), /allowAnonymous is false but there is no passwordFile/)
    const b = new Broker({ sysInterval: 0, hooks: credentials.hooks })
    t.after(() => b.close())
    const { port } = await b.listen({ host: LOOPBACK, port: 0 })
    const anonymous = await RawClient.open(port, LOOPBACK)
    assert.equal((await anonymous.connect()).returnCode, 5)
    await anonymous.closed()
    const v5 = await RawClient.open(port, LOOPBACK)
    assert.equal((await v5.connect({ protocolVersion: 5 })).returnCode, 0x87)
    await v5.closed()
    const named = await RawClient.open(port, LOOPBACK)
    assert.equal((await named.connect({ username: 'someone' })).returnCode, 0)
    named.destroy()
  })
})

test('the users: map, too, leaves a certificate-identified client to its certificate; others still need the password', () => {
  const auth = usersAuthenticator(new Map([['alice', 'pw']]), false)
  const base = { id: 'c', username: 'alice', remoteAddress: undefined, protocolVersion: 4 }
  assert.equal(auth({ ...base, certificateIdentity: 'alice' }, 'alice', undefined), undefined)
  assert.equal(auth(base, 'alice', undefined), 5)
  assert.equal(auth(base, 'alice', Buffer.from('pw')), true)
})
