/**
 * MQTT 5 enhanced authentication on the broker: the authenticate hook answers with a
 * challenge (AUTH 0x18) and goes on with the client's answer; CONNACK carries the method
 * and the final data; re-authentication (AUTH 0x19) after CONNACK; what hooks see.
 */
import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import type { AuthAnswer, ClientInfo } from '../../../src/broker/options.js'
import { type AuthPacket, PacketType, ReasonCode } from '../../../src/protocol/index.js'
import { connectPacket, type RawClient, startBroker } from '../../helpers/raw-client.js'

const METHOD = 'ECHO'

/**
 * A toy method: the server challenges with 'nonce'; the client must answer 'nonce:secret';
 * success data 'ok'. Other methods are left to other hooks (true).
 */
function echoHook(
  _client: ClientInfo,
  _user: string | undefined,
  _password: Buffer | undefined,
  auth?: { method: string; data: Buffer | undefined },
): AuthAnswer {
  if (auth === undefined || auth.method !== METHOD) return true
  if (auth.data?.toString() === 'direct') return { success: Buffer.from('ok-direct') }
  return {
    challenge: Buffer.from('nonce'),
    next: async (answer) => (answer?.toString() === 'nonce:secret' ? { success: Buffer.from('ok') } : false),
  }
}

const tb = await startBroker({ authenticate: echoHook, connectTimeout: 500 })

function auth(reasonCode: number, data?: string, method = METHOD): AuthPacket {
  return {
    type: PacketType.AUTH,
    reasonCode,
    properties: {
      authenticationMethod: method,
      ...(data === undefined ? {} : { authenticationData: Buffer.from(data) }),
    },
  }
}

async function startExchange(): Promise<RawClient> {
  const c = await tb.open()
  c.send(connectPacket({ protocolVersion: 5, properties: { authenticationMethod: METHOD } }))
  const challenge = await c.next(PacketType.AUTH)
  assert.equal(challenge.reasonCode, ReasonCode.CONTINUE_AUTHENTICATION, '[MQTT-4.12.0-2]')
  assert.equal(challenge.properties?.authenticationMethod, METHOD, '[MQTT-4.12.0-5]')
  assert.equal(challenge.properties?.authenticationData?.toString(), 'nonce')
  return c
}

test('challenges with AUTH 0x18 and accepts the right answer with CONNACK 0, method and data [MQTT-4.12.0-2] [MQTT-4.12.0-5]', async () => {
  const c = await startExchange()
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'nonce:secret'))
  const ack = await c.next(PacketType.CONNACK)
  assert.equal(ack.returnCode, ReasonCode.SUCCESS)
  assert.equal(ack.properties?.authenticationMethod, METHOD)
  assert.equal(ack.properties?.authenticationData?.toString(), 'ok')
  c.send({ type: PacketType.PINGREQ })
  await c.next(PacketType.PINGRESP)
})

test('accepts at once when the hook needs no challenge', async () => {
  const c = await tb.open()
  const ack = await c.connect({
    protocolVersion: 5,
    properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('direct') },
  })
  assert.equal(ack.returnCode, 0)
  assert.equal(ack.properties?.authenticationData?.toString(), 'ok-direct')
})

test('refuses a wrong answer with CONNACK 0x87 and closes [MQTT-4.12.0-4]', async () => {
  const c = await startExchange()
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'guess'))
  const ack = await c.next(PacketType.CONNACK)
  assert.equal(ack.returnCode, ReasonCode.NOT_AUTHORIZED)
  await c.closed()
})

test('refuses a method no hook takes with CONNACK 0x8C [MQTT-4.12.0-1]', async () => {
  const c = await tb.open()
  const ack = await c.connect({ protocolVersion: 5, properties: { authenticationMethod: 'SCRAM-SHA-1' } })
  assert.equal(ack.returnCode, ReasonCode.BAD_AUTHENTICATION_METHOD)
  await c.closed()
})

test('refuses enhanced authentication with 0x8C on a broker without an authenticate hook [MQTT-4.12.0-1]', async (t) => {
  const b = await startBroker({}, t)
  const c = await b.open()
  const ack = await c.connect({ protocolVersion: 5, properties: { authenticationMethod: METHOD } })
  assert.equal(ack.returnCode, ReasonCode.BAD_AUTHENTICATION_METHOD)
})

test('an AUTH with another method during the exchange: CONNACK 0x82, no DISCONNECT before CONNACK [MQTT-4.12.0-5] [MQTT-3.14.0-1]', async () => {
  const c = await startExchange()
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'nonce:secret', 'OTHER'))
  const ack = await c.next(PacketType.CONNACK)
  assert.equal(ack.returnCode, ReasonCode.PROTOCOL_ERROR)
  await c.closed(1000, false)
})

test('an exchange not finished within connectTimeout closes the connection', async () => {
  const c = await startExchange()
  await c.closed(1500)
})

test('holds other packets sent during the exchange until CONNACK [MQTT-3.1.2-30]', async () => {
  const c = await startExchange()
  c.send({ type: PacketType.PINGREQ })
  await c.nothingFor(100)
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'nonce:secret'))
  await c.next(PacketType.CONNACK)
  await c.next(PacketType.PINGRESP)
})

async function authenticated(): Promise<RawClient> {
  const c = await startExchange()
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'nonce:secret'))
  assert.equal((await c.next(PacketType.CONNACK)).returnCode, 0)
  return c
}

test('re-authenticates on AUTH 0x19: challenge, then AUTH 0x00 with the data [MQTT-4.12.1-1] [MQTT-3.15.2-1]', async () => {
  const c = await authenticated()
  c.send(auth(ReasonCode.RE_AUTHENTICATE))
  const challenge = await c.next(PacketType.AUTH)
  assert.equal(challenge.reasonCode, ReasonCode.CONTINUE_AUTHENTICATION)
  assert.equal(challenge.properties?.authenticationMethod, METHOD)
  c.send({ type: PacketType.PINGREQ }) // the connection goes on meanwhile
  await c.next(PacketType.PINGRESP)
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'nonce:secret'))
  const done = await c.next(PacketType.AUTH)
  assert.equal(done.reasonCode ?? 0, ReasonCode.SUCCESS)
  assert.equal(done.properties?.authenticationMethod, METHOD)
  assert.equal(done.properties?.authenticationData?.toString(), 'ok')
})

test('a failed re-authentication ends the connection with DISCONNECT 0x87 [MQTT-4.12.1-2]', async () => {
  const c = await authenticated()
  c.send(auth(ReasonCode.RE_AUTHENTICATE))
  await c.next(PacketType.AUTH)
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'wrong'))
  const d = await c.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.NOT_AUTHORIZED)
  await c.closed()
})

test('a re-authentication whose challenge is never answered ends within connectTimeout with DISCONNECT 0x87 [MQTT-4.12.1-2]', async () => {
  const c = await authenticated()
  c.send(auth(ReasonCode.RE_AUTHENTICATE))
  assert.equal((await c.next(PacketType.AUTH)).reasonCode, ReasonCode.CONTINUE_AUTHENTICATION)
  const started = Date.now()
  // the broker's connectTimeout is 500 ms: no answer, and the exchange does not stay open
  const d = await c.next(PacketType.DISCONNECT, 2000)
  const waited = Date.now() - started
  assert.equal(d.reasonCode, ReasonCode.NOT_AUTHORIZED)
  assert.ok(waited >= 400 && waited < 1500, `waited ${waited} ms`)
  await c.closed()
})

test('a re-authentication that succeeds in time is not cut short by the timeout', async () => {
  const c = await authenticated()
  c.send(auth(ReasonCode.RE_AUTHENTICATE))
  await c.next(PacketType.AUTH)
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'nonce:secret'))
  assert.equal((await c.next(PacketType.AUTH)).reasonCode ?? 0, ReasonCode.SUCCESS)
  await c.nothingFor(700)
  c.send({ type: PacketType.PINGREQ })
  await c.next(PacketType.PINGRESP)
})

test('re-authentication with another method is a Protocol Error [MQTT-4.12.1-1]', async () => {
  const c = await authenticated()
  c.send(auth(ReasonCode.RE_AUTHENTICATE, undefined, 'OTHER'))
  assert.equal((await c.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.PROTOCOL_ERROR)
})

test('AUTH 0x18 with no challenge outstanding is a Protocol Error', async () => {
  const c = await authenticated()
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'x'))
  assert.equal((await c.next(PacketType.DISCONNECT)).reasonCode, ReasonCode.PROTOCOL_ERROR)
})

test('hooks see the protocol version and the CONNECT properties', async (t) => {
  const seen: ClientInfo[] = []
  const b = await startBroker(
    {
      authenticate: (client) => {
        seen.push(client)
        return true
      },
    },
    t,
  )
  await b.connect({
    protocolVersion: 5,
    properties: { userProperties: [['tenant', 'blue']], receiveMaximum: 7 },
  })
  await b.connect({ protocolVersion: 4 })
  assert.equal(seen[0]!.protocolVersion, 5)
  assert.deepEqual(seen[0]!.connectProperties?.userProperties, [['tenant', 'blue']])
  assert.equal(seen[0]!.connectProperties?.receiveMaximum, 7)
  assert.equal(seen[1]!.protocolVersion, 4)
  assert.equal(seen[1]!.connectProperties, undefined)
})

test('a hook that challenges a client without an Authentication Method refuses it (no AUTH to it) [MQTT-4.12.0-6]', async (t) => {
  const b = await startBroker({ authenticate: () => ({ challenge: Buffer.from('x'), next: () => true }) }, t)
  const c = await b.open()
  const ack = await c.connect({ protocolVersion: 5 })
  assert.equal(ack.returnCode, ReasonCode.NOT_AUTHORIZED)
  await c.closed()
})

test('several hook sets: a password hook and an enhanced one both decide', async (t) => {
  const b = await startBroker(
    { authenticate: (_c, user) => user === 'alice', hooks: [{ authenticate: echoHook }] },
    t,
  )
  const bob = await b.open()
  const ack = await bob.connect({
    protocolVersion: 5,
    username: 'bob',
    properties: { authenticationMethod: METHOD },
  })
  assert.equal(
    ack.returnCode,
    ReasonCode.NOT_AUTHORIZED,
    'the password hook refuses first (false, with enhanced authentication: 0x87)',
  )
  const alice = await b.open()
  const direct = await alice.connect({
    protocolVersion: 5,
    username: 'alice',
    properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('direct') },
  })
  assert.equal(direct.returnCode, 0)
})

test('a hook set answering undefined has no opinion: the others decide', async (t) => {
  const b = await startBroker({ hooks: [{ authenticate: () => undefined }, { authenticate: echoHook }] }, t)
  const plain = await b.connect({ protocolVersion: 5 })
  assert.equal(plain.connack!.returnCode, 0)
  const c = await b.open()
  const ack = await c.connect({
    protocolVersion: 5,
    properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('direct') },
  })
  assert.equal(ack.returnCode, 0)
})

/**
 * Method BIG: the Authentication Data asks for what the broker answers with, so that an
 * AUTH or CONNACK is larger than a client's Maximum Packet Size of 100 bytes.
 */
function bigHook(
  _client: ClientInfo,
  _user: string | undefined,
  _password: Buffer | undefined,
  auth?: { method: string; data: Buffer | undefined },
): AuthAnswer {
  if (auth === undefined || auth.method !== 'BIG') return true
  const big = Buffer.alloc(200, 0x61)
  switch (auth.data?.toString()) {
    case 'big-challenge':
      return { challenge: big, next: async () => ({ success: Buffer.from('ok') }) }
    case 'big-success':
      return { success: big }
    case 'small-challenge':
      return { challenge: Buffer.from('nonce'), next: async () => ({ success: Buffer.from('ok') }) }
    default:
      return { success: Buffer.from('ok') }
  }
}

async function bigBroker(t: TestContext) {
  return startBroker({ authenticate: bigHook, connectTimeout: 1000 }, t)
}

function connectBig(data: string) {
  return connectPacket({
    protocolVersion: 5,
    properties: {
      maximumPacketSize: 100,
      authenticationMethod: 'BIG',
      authenticationData: Buffer.from(data),
    },
  })
}

test("an AUTH challenge larger than the client's Maximum Packet Size is not sent: CONNACK 0x95 instead [MQTT-3.1.2-24]", async (t) => {
  const big = await bigBroker(t)
  const c = await big.open()
  c.send(connectBig('big-challenge'))
  const ack = await c.next(PacketType.CONNACK)
  assert.equal(ack.returnCode, ReasonCode.PACKET_TOO_LARGE)
  await c.closed(1000, false)
})

test("re-authentication: an AUTH larger than the client's Maximum Packet Size is not sent: DISCONNECT 0x95 [MQTT-3.1.2-24]", async (t) => {
  const big = await bigBroker(t)
  for (const data of ['big-challenge', 'big-success']) {
    const c = await big.open()
    c.send(connectBig('direct'))
    assert.equal((await c.next(PacketType.CONNACK)).returnCode, 0)
    c.send(auth(ReasonCode.RE_AUTHENTICATE, data, 'BIG'))
    const d = await c.next(PacketType.DISCONNECT)
    assert.equal(d.reasonCode, ReasonCode.PACKET_TOO_LARGE, data)
    await c.closed(1000, false)
  }
})

test("AUTH within the client's Maximum Packet Size is sent as ever", async (t) => {
  const big = await bigBroker(t)
  const c = await big.open()
  c.send(connectBig('small-challenge'))
  assert.equal((await c.next(PacketType.AUTH)).properties?.authenticationData?.toString(), 'nonce')
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'x', 'BIG'))
  assert.equal((await c.next(PacketType.CONNACK)).returnCode, 0)
  c.send(auth(ReasonCode.RE_AUTHENTICATE, 'small-challenge', 'BIG'))
  assert.equal((await c.next(PacketType.AUTH)).reasonCode, ReasonCode.CONTINUE_AUTHENTICATION)
  c.send(auth(ReasonCode.CONTINUE_AUTHENTICATION, 'x', 'BIG'))
  const done = await c.next(PacketType.AUTH)
  assert.equal(done.reasonCode ?? 0, ReasonCode.SUCCESS)
  assert.equal(done.properties?.authenticationData?.toString(), 'ok')
})
