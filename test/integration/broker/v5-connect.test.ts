/**
 * MQTT 5 CONNECT and CONNACK on the broker: what the CONNACK grants and announces,
 * assigned client identifiers, Server Keep Alive (maxKeepalive), refusals with their
 * reason codes, and 3.1.1 clients next to v5 ones.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, ReasonCode } from '../../../src/protocol/index.js'
import { connectPacket, delay, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker({ maxKeepalive: 60, responseInformation: 'responses/' })

test('a v5 CONNACK says what the broker supports and grants [MQTT-3.2.2-9] [MQTT-3.2.2-22]', async () => {
  const c = await tb.connect({ protocolVersion: 5, keepalive: 30 })
  const p = c.connack!.properties ?? {}
  assert.equal(c.connack!.returnCode, ReasonCode.SUCCESS)
  assert.equal(c.connack!.sessionPresent, false)
  assert.equal(p.maximumQoS, undefined, 'Maximum QoS absent: QoS 2 is supported')
  assert.equal(p.retainAvailable, true)
  assert.equal(p.wildcardSubscriptionAvailable, true)
  assert.equal(p.subscriptionIdentifiersAvailable, true)
  assert.equal(p.sharedSubscriptionAvailable, true)
  assert.equal(p.receiveMaximum, 1024, "the broker's Receive Maximum")
  assert.equal(p.maximumPacketSize, 4 * 1024 * 1024, "the broker's Maximum Packet Size")
  assert.equal(p.topicAliasMaximum, 10, "the broker's Topic Alias Maximum")
  assert.equal(p.serverKeepAlive, 30, 'with maxKeepalive the broker always says the keep-alive it holds to')
  assert.equal(p.assignedClientIdentifier, undefined, 'the client named itself')
  assert.equal(p.responseInformation, undefined, 'not asked for [MQTT-3.1.2-28]')
  assert.equal(p.authenticationMethod, undefined, 'no enhanced authentication [MQTT-4.12.0-6]')
  assert.equal(p.sessionExpiryInterval, undefined, "the client's Session Expiry Interval is kept")
})

test('a v5 client with an empty client id is given one in CONNACK [MQTT-3.2.2-16] [MQTT-3.1.3-6] [MQTT-3.1.3-7]', async () => {
  const ids = new Set<string>()
  for (let i = 0; i < 2; i++) {
    // Clean Start 0 is allowed with an empty id in MQTT 5
    const c = await tb.connect({ protocolVersion: 5, clientId: '', clean: false })
    const id = c.connack!.properties?.assignedClientIdentifier
    assert.ok(id !== undefined && id.length > 0, 'Assigned Client Identifier')
    assert.ok(!ids.has(id), 'a new one each time')
    ids.add(id)
    assert.ok(tb.broker.sessionCount >= ids.size)
  }
})

test('sends Response Information only to a client that asks for it [MQTT-3.1.2-28]', async () => {
  const asked = await tb.connect({ protocolVersion: 5, properties: { requestResponseInformation: true } })
  assert.equal(asked.connack!.properties?.responseInformation, 'responses/')
  const not = await tb.connect({ protocolVersion: 5, properties: { requestResponseInformation: false } })
  assert.equal(not.connack!.properties?.responseInformation, undefined)
})

test('tells a v5 client asking for more keep-alive than maxKeepalive the lower value [MQTT-3.2.2-21]', async () => {
  for (const asked of [120, 0]) {
    const c = await tb.connect({ protocolVersion: 5, keepalive: asked })
    assert.equal(c.connack!.properties?.serverKeepAlive, 60, `asked for ${asked}`)
  }
})

test('refuses a 3.1.1 client asking for more keep-alive than maxKeepalive, or none, with CONNACK 2', async () => {
  for (const asked of [61, 0]) {
    const c = await tb.open()
    const ack = await c.connect({ keepalive: asked })
    assert.equal(ack.returnCode, 2, `keep-alive ${asked}: identifier rejected, as Mosquitto answers`)
    assert.equal(ack.sessionPresent, false)
    await c.closed()
  }
  const ok = await tb.connect({ keepalive: 60 })
  assert.equal(ok.connack!.returnCode, 0)
})

test('holds a v5 client to the Server Keep Alive: DISCONNECT 0x8D after 1.5 times it [MQTT-3.1.2-22]', async (t) => {
  const b = await startBroker({ maxKeepalive: 1 }, t)
  const c = await b.connect({ protocolVersion: 5, keepalive: 0 })
  assert.equal(c.connack!.properties?.serverKeepAlive, 1)
  const started = Date.now()
  const d = await c.next(PacketType.DISCONNECT, 3000)
  assert.equal(d.reasonCode, ReasonCode.KEEP_ALIVE_TIMEOUT)
  assert.ok(Date.now() - started >= 1200, 'not before 1.5 x 1 s')
  assert.equal(d.properties?.sessionExpiryInterval, undefined, 'never from the server [MQTT-3.14.2-2]')
  await c.closed()
})

test('answers an unsupported protocol level with a 3.1.1 CONNACK 1 and closes [MQTT-3.1.2-2]', async () => {
  const c = await tb.open()
  // CONNECT 'MQTT' level 6, clean start, keep-alive 0, client id 'x'
  c.sendRaw('10 0e 00 04 4d 51 54 54 06 02 00 00 00 01 78 00')
  const ack = await c.next(PacketType.CONNACK)
  assert.equal(ack.returnCode, 1)
  assert.deepEqual([...c.raw(ack)], [0x20, 0x02, 0x00, 0x01], 'the 3.1.1 form')
  await c.closed()
})

test('refuses v5 CONNECTs with MQTT 5 reason codes and session present 0, then closes [MQTT-3.2.2-6] [MQTT-3.2.2-7] [MQTT-3.2.2-8]', async (t) => {
  const answers: Record<string, boolean | number> = {
    'bad-password': false,
    'v3-not-authorized': 5,
    'v3-unavailable': 3,
    banned: ReasonCode.BANNED,
    'not-a-connack-code': 0x8e,
  }
  const b = await startBroker({ authenticate: (client) => answers[client.id.split('.')[0]!] ?? true }, t)
  const expected: Record<string, number> = {
    'bad-password': ReasonCode.BAD_USER_NAME_OR_PASSWORD,
    'v3-not-authorized': ReasonCode.NOT_AUTHORIZED,
    'v3-unavailable': ReasonCode.SERVER_UNAVAILABLE,
    banned: ReasonCode.BANNED,
    'not-a-connack-code': ReasonCode.NOT_AUTHORIZED,
  }
  for (const [name, code] of Object.entries(expected)) {
    const c = await b.open()
    const ack = await c.connect({ protocolVersion: 5, clientId: `${name}.${uniqueId()}`, clean: false })
    assert.equal(ack.returnCode, code, name)
    assert.equal(ack.sessionPresent, false, name)
    assert.ok(ack.properties?.reasonString, 'says why in a Reason String')
    await c.closed()
  }
  // a v5 reason code from the hook reaches a 3.1.1 client as its 3.1.1 equivalent
  const v3 = await b.open()
  const ack = await v3.connect({ clientId: `banned.${uniqueId()}` })
  assert.equal(ack.returnCode, 5)
})

test('refuses a v5 client past maxConnections with 0x89 (server busy)', async (t) => {
  const b = await startBroker({ maxConnections: 1 }, t)
  await b.connect({ protocolVersion: 5 })
  const c = await b.open()
  const ack = await c.connect({ protocolVersion: 5 })
  assert.equal(ack.returnCode, ReasonCode.SERVER_BUSY)
  await c.closed()
})

test('refuses a will that says it is UTF-8 and is not with 0x99', async () => {
  const c = await tb.open()
  const ack = await c.connect({
    protocolVersion: 5,
    will: {
      topic: 'w/utf8',
      payload: Buffer.from([0xff, 0xfe]),
      qos: 0,
      retain: false,
      properties: { payloadFormatIndicator: 1 },
    },
  })
  assert.equal(ack.returnCode, ReasonCode.PAYLOAD_FORMAT_INVALID)
  await c.closed()
})

test('answers 3.1.1 and v5 clients on one broker each in its own version', async () => {
  const v3 = await tb.connect({ keepalive: 30 })
  assert.deepEqual([...v3.raw(v3.connack!)], [0x20, 0x02, 0x00, 0x00])
  const v5 = await tb.connect({ protocolVersion: 5, keepalive: 30 })
  assert.ok(v5.raw(v5.connack!).length > 5, 'a v5 CONNACK carries properties')
  v3.send({ type: PacketType.PINGREQ })
  v5.send({ type: PacketType.PINGREQ })
  await v3.next(PacketType.PINGRESP)
  await v5.next(PacketType.PINGRESP)
})

test('without maxKeepalive a v5 client keeps its own keep-alive: no Server Keep Alive [MQTT-3.2.2-22]', async (t) => {
  const b = await startBroker({}, t)
  for (const asked of [0, 30, 65535]) {
    const c = await b.connect({ protocolVersion: 5, keepalive: asked })
    assert.equal(c.connack!.properties?.serverKeepAlive, undefined, `asked ${asked}`)
  }
})

test('holds packets sent right behind a v5 CONNECT until the CONNACK', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const b = await startBroker({ authenticate: () => gate.then(() => true) }, t)
  const c = await b.open()
  c.send(connectPacket({ protocolVersion: 5 }))
  c.send({ type: PacketType.PINGREQ })
  await delay(50)
  assert.equal(c.received.length, 0)
  release()
  await c.next(PacketType.CONNACK)
  await c.next(PacketType.PINGRESP)
})
