/**
 * SCRAM-SHA-256 over TCP: Petrel's client with scramClient against Petrel's broker with
 * scramServer, and the broker against a raw MQTT 5 client replaying the RFC 7677 exchange
 * byte for byte in AUTH packets [MQTT-4.12].
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import {
  AuthError,
  type AuthPacket,
  Broker,
  type Client,
  type ClientInfo,
  ConnackRefusedError,
  connect,
  PacketType,
  ReasonCode,
  type ScramCredentials,
  ScramErrorCode,
  scramClient,
  scramCredentials,
  scramServer,
} from '../../../src/index.js'
import { connectPacket, startBroker } from '../../helpers/raw-client.js'

const T = { timeout: 20_000 }
const METHOD = 'SCRAM-SHA-256'

// RFC 7677 section 3
const RFC = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
}

const users = new Map<string, ScramCredentials>([
  ['alice', await scramCredentials('wonderland')],
  ['bob', await scramCredentials('builder')],
  ['user', await scramCredentials('pencil', { salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64') })],
])
const lookup = (name: string) => users.get(name)

const connected: ClientInfo[] = []
const proved: (string | undefined)[] = []
const scram = scramServer({ lookup })
const broker = new Broker({
  sysInterval: 0,
  hooks: [
    scram,
    {
      onConnect: (c) => {
        connected.push(c)
        proved.push(scram.userOf(c))
      },
    },
  ],
})
const { port } = await broker.listen({ port: 0, host: '127.0.0.1' })
const url = `mqtt://127.0.0.1:${port}`
const clients: Client[] = []
after(async () => {
  await Promise.all(clients.map((c) => c.end({ force: true }).catch(() => {})))
  await broker.close()
})

function open(username: string, password: string, extra: { username?: string } = {}): Promise<Client> {
  return connect(url, {
    protocolVersion: 5,
    auth: scramClient(username, password),
    reconnect: false,
    connectTimeout: 5000,
    ...extra,
  }).then((c) => {
    clients.push(c)
    return c
  })
}

async function refusal(p: Promise<unknown>): Promise<number> {
  const err = await p.then(
    () => assert.fail('connect() should have been refused'),
    (e: unknown) => e,
  )
  assert.ok(err instanceof ConnackRefusedError, String(err))
  return err.reasonCode
}

function auth(reasonCode: number, data: string, method = METHOD): AuthPacket {
  return {
    type: PacketType.AUTH,
    reasonCode,
    properties: { authenticationMethod: method, authenticationData: Buffer.from(data) },
  }
}

describe('SCRAM-SHA-256 between Petrel client and Petrel broker', () => {
  test(
    'the right password connects, and the client has verified the broker; the broker knows who it is',
    T,
    async () => {
      const client = await open('alice', 'wonderland', { username: 'alice' })
      const got = new Promise<string | undefined>((resolve) =>
        broker.once('published', (m, from) => resolve(m.topic === 'scram/t' ? from?.username : 'other')),
      )
      await client.publish('scram/t', 'hello', { qos: 1 })
      assert.equal(await got, 'alice')
      assert.ok(connected.some((c) => c.username === 'alice'))
    },
  )

  test(
    'a wrong password and an unknown user are both refused with CONNACK 0x87 Not authorized [MQTT-4.12.0-4]',
    T,
    async () => {
      assert.equal(await refusal(open('alice', 'looking-glass')), ReasonCode.NOT_AUTHORIZED)
      assert.equal(await refusal(open('carol', 'wonderland')), ReasonCode.NOT_AUTHORIZED)
    },
  )

  test('a CONNECT User Name that is not the SCRAM user is refused', T, async () => {
    assert.equal(await refusal(open('alice', 'wonderland', { username: 'bob' })), ReasonCode.NOT_AUTHORIZED)
  })

  test('re-authentication (AUTH 0x19) succeeds on a live connection, twice [MQTT-4.12.1-1]', T, async () => {
    const client = await open('bob', 'builder')
    assert.ok(proved.includes('bob'), 'userOf tells hooks who a connection without a User Name proved to be')
    await client.reauthenticate()
    await client.reauthenticate()
    await client.publish('scram/after', 'still connected', { qos: 1 })
  })

  test('a client refuses a broker that cannot prove it holds the user’s keys', T, async () => {
    // An impostor that runs SCRAM with stolen StoredKey but not ServerKey: its signature is wrong
    const stolen = users.get('alice')!
    const forged = { ...stolen, serverKey: Buffer.alloc(32, 1) }
    const impostor = new Broker({ sysInterval: 0, hooks: [scramServer({ lookup: () => forged })] })
    const at = await impostor.listen({ port: 0, host: '127.0.0.1' })
    try {
      const err = await connect(`mqtt://127.0.0.1:${at.port}`, {
        protocolVersion: 5,
        auth: scramClient('alice', 'wonderland'),
        reconnect: false,
        connectTimeout: 5000,
      }).then(
        () => assert.fail('connect() should fail'),
        (e: unknown) => e,
      )
      assert.ok(err instanceof AuthError, String(err))
      assert.equal((err.cause as { code?: string }).code, ScramErrorCode.SERVER_SIGNATURE)
    } finally {
      await impostor.close()
    }
  })
})

describe('SCRAM-SHA-256 on the wire (RFC 7677 messages in AUTH packets)', () => {
  test(
    'CONNECT, AUTH 0x18 and CONNACK carry exactly the RFC 7677 messages [MQTT-4.12.0-2] [MQTT-4.12.0-3] [MQTT-4.12.0-5]',
    T,
    async (t) => {
      const tb = await startBroker({ hooks: [scramServer({ lookup, nonce: () => RFC.serverNonce })] }, t)
      const c = await tb.open()
      c.send(
        connectPacket({
          protocolVersion: 5,
          properties: { authenticationMethod: METHOD, authenticationData: Buffer.from(RFC.clientFirst) },
        }),
      )
      const challenge = await c.next(PacketType.AUTH)
      assert.equal(challenge.reasonCode, ReasonCode.CONTINUE_AUTHENTICATION)
      assert.equal(challenge.properties?.authenticationMethod, METHOD)
      assert.equal(challenge.properties?.authenticationData?.toString(), RFC.serverFirst)
      c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, RFC.clientFinal))
      const ack = await c.next(PacketType.CONNACK)
      assert.equal(ack.returnCode, ReasonCode.SUCCESS)
      assert.equal(ack.properties?.authenticationMethod, METHOD)
      assert.equal(ack.properties?.authenticationData?.toString(), RFC.serverFinal)
    },
  )

  test(
    'a replayed client-final fails: each exchange has its own server nonce; CONNACK 0x87 and close [MQTT-4.12.0-4]',
    T,
    async (t) => {
      const tb = await startBroker({ hooks: [scramServer({ lookup })] }, t)
      const c = await tb.open()
      c.send(
        connectPacket({
          protocolVersion: 5,
          properties: { authenticationMethod: METHOD, authenticationData: Buffer.from(RFC.clientFirst) },
        }),
      )
      await c.next(PacketType.AUTH)
      c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, RFC.clientFinal))
      const ack = await c.next(PacketType.CONNACK)
      assert.equal(ack.returnCode, ReasonCode.NOT_AUTHORIZED)
      await c.closed()
    },
  )

  test('malformed client-first data is refused with CONNACK 0x86', T, async (t) => {
    const tb = await startBroker({ hooks: [scramServer({ lookup })] }, t)
    const c = await tb.open()
    c.send(
      connectPacket({
        protocolVersion: 5,
        properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('n,,r=nouser') },
      }),
    )
    assert.equal((await c.next(PacketType.CONNACK)).returnCode, ReasonCode.BAD_USER_NAME_OR_PASSWORD)
    await c.closed()
  })

  test(
    're-authentication as another user ends the connection with DISCONNECT 0x87 [MQTT-4.12.1-2]',
    T,
    async (t) => {
      const serverNonces = ['s1', 's2']
      const tb = await startBroker(
        { hooks: [scramServer({ lookup, nonce: () => serverNonces.shift()! })] },
        t,
      )
      const c = await tb.open()
      // alice's exchange, with the client's side computed by scramClient
      const alice = scramClient('alice', 'wonderland')
      c.send(
        connectPacket({
          protocolVersion: 5,
          properties: { authenticationMethod: METHOD, authenticationData: alice.start() },
        }),
      )
      const first = await c.next(PacketType.AUTH)
      c.send(
        auth(
          ReasonCode.CONTINUE_AUTHENTICATION,
          (await alice.challenge(first.properties?.authenticationData)).toString(),
        ),
      )
      const ack = await c.next(PacketType.CONNACK)
      assert.equal(ack.returnCode, ReasonCode.SUCCESS)
      alice.done(ack.properties?.authenticationData)
      // then bob, on the same connection
      const bob = scramClient('bob', 'builder')
      c.send(auth(ReasonCode.RE_AUTHENTICATE, bob.start().toString()))
      const again = await c.next(PacketType.AUTH)
      assert.equal(again.reasonCode, ReasonCode.CONTINUE_AUTHENTICATION)
      c.send(
        auth(
          ReasonCode.CONTINUE_AUTHENTICATION,
          (await bob.challenge(again.properties?.authenticationData)).toString(),
        ),
      )
      const d = await c.next(PacketType.DISCONNECT)
      assert.equal(d.reasonCode, ReasonCode.NOT_AUTHORIZED)
      await c.closed()
    },
  )

  test(
    'another method is answered CONNACK 0x8C; a plain CONNECT, v5 or 3.1.1, is refused as not authorized',
    T,
    async (t) => {
      const tb = await startBroker({ hooks: [scramServer({ lookup })] }, t)
      const other = await tb.open()
      other.send(
        connectPacket({
          protocolVersion: 5,
          properties: {
            authenticationMethod: 'SCRAM-SHA-1',
            authenticationData: Buffer.from(RFC.clientFirst),
          },
        }),
      )
      assert.equal((await other.next(PacketType.CONNACK)).returnCode, ReasonCode.BAD_AUTHENTICATION_METHOD)
      const plain5 = await tb.open()
      plain5.send(
        connectPacket({ protocolVersion: 5, username: 'alice', password: Buffer.from('wonderland') }),
      )
      assert.equal((await plain5.next(PacketType.CONNACK)).returnCode, ReasonCode.NOT_AUTHORIZED)
      const plain4 = await tb.open()
      plain4.send(
        connectPacket({ protocolVersion: 4, username: 'alice', password: Buffer.from('wonderland') }),
      )
      assert.equal((await plain4.next(PacketType.CONNACK)).returnCode, 5) // 3.1.1: not authorised
    },
  )
})
